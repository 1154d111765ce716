"""The line a sweep says as each job ends: how many of its jobs are done (a search: of its
folder's trials). Said by the pool as it collects a job (counting as they end), or by the
sweep's callback after each job on a launcher that runs jobs elsewhere (SLURM)."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from experiments.run.files import RESULT_FILE, RESUMABLE, read_result
from experiments.run.sweep_files import read_sweep_record
from experiments.sweep.kinds import is_search

log = logging.getLogger(__name__)


def progress(config: DictConfig, done: int | None = None) -> None:
    """A job of the sweep ended: say how many are done (a search: of this folder's trials).
    `done`: counted by the caller (the default launcher counts as its jobs end); else read here
    from the folder's results, which is one file per job at every job's end."""
    from experiments.results.ranking import amount  # pandas (0.3 s): not before the first job has ended

    sweep_dir = Path(config.hydra.sweep.dir)
    record = read_sweep_record(sweep_dir)
    if record is None:
        return
    done = jobs_done(sweep_dir) if done is None else done
    if is_search(config):  # its trials are the study's, which other launches may share: counted apart
        deadline = f", asked for {record.timeout_s:g} s" if record.timeout_s else ""
        log.info("job %s finished: %s of this folder done; the search stops once its study holds "
                 "n_trials=%d%s", config.hydra.job.num, amount(done, "run"), record.jobs, deadline)  # fmt: skip
    else:
        log.info("job %s finished: %d/%d jobs of the sweep done", config.hydra.job.num, done, record.jobs)


def jobs_done(sweep_dir: Path) -> int:
    """Jobs of the sweep whose result.json says they ended: not one interrupted, still to be resumed."""
    ended = (read_result(result.parent) for result in sweep_dir.glob(f"*/{RESULT_FILE}"))
    return sum(1 for result in ended if result and result.get("status") not in RESUMABLE)
