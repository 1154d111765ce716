"""The default launcher of sweeps (-m, hydra/launcher=parallel): up to one job
per core, each in a process of its own, forked from the launching process the
moment a core frees up.

Why this shape. Forked from the process that composed the sweep, a job starts
with every module already imported (Hydra, NumPy, scikit-learn, the task) and
its config already composed: it pays only the fork and its own files. A job
whose process dies (the kernel's out-of-memory killer, `kill -9`) takes nothing
else with it: the launcher writes its result.json (`failed`, with the signal),
hands Hydra a FAILED JobReturn, and starts the next job. There are no pool
workers whose death could end the sweep. If the launcher itself dies, each job
gets SIGTERM from the kernel (PR_SET_PDEATHSIG), records `interrupted` and its
checkpoint, and `resume=true` continues the sweep.

SIGTERM or Ctrl-C to the launcher reaches each running job exactly once (jobs
are in process groups of their own, so a terminal's Ctrl-C comes through the
launcher): each records `interrupted`, no further job starts, no process is
left behind, and the launcher exits 143 or 130.

Two interfaces:
- `launch(job_overrides, initial_job_idx)`, Hydra's Launcher API: every job of a
  batch, the next one started as soon as one ends, JobReturns in job order, as
  Hydra's own launchers make them (the task's config without `hydra`, status
  FAILED with the error for a job that failed or died).
- `jobs(judge)`, for a sweeper that decides as results arrive (ask-and-tell):
  `submit()` queues a job, `free` says how many more would start at once,
  `next_result()` waits for the next job to end and returns its JobReturn.
  With `judge(number, epoch, row, last) -> Verdict`, each job reports its metrics
  (metrics.csv's row) and its last epoch after every epoch (experiments/run/reporting.py) and waits for the verdict:
  go on, prune (it stops there, as pruned) or pause (it stops there, resumable).
  A judge may also answer None (not decided yet: the job waits); then its
  `answers(waiting job numbers)` gives (number, Verdict) for those it has decided since,
  asked after every report and before waiting for the next job's end
  (experiments/sweep/search/trials.py: a trial's seeds judged together).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.utils import JobReturn, configure_log, setup_globals
from hydra.plugins.launcher import Launcher

from experiments.sweep.launch.pool import RunningJobs, import_modules

log = logging.getLogger(__name__)


@dataclass
class ParallelLauncherConf:
    """hydra/launcher=parallel (registered by hydra_plugins/mnist_from_scratch/parallel_launcher.py)."""

    _target_: str = "hydra_plugins.mnist_from_scratch.parallel_launcher.ParallelLauncher"
    # Jobs at once; -1 = one per core (each run uses one BLAS thread: docs/performance.md).
    n_jobs: int = -1
    # Modules every job imports as it starts, imported once by the launcher before the first job
    # is forked. (Not scikit-learn: the validation split is read from the cache, nn_core/remembered.py.)
    preload: list = field(default_factory=lambda: ["threadpoolctl"])
    # Modules the sweep's summary needs (experiments/sweep/summary.py), imported once the last
    # job has started, while the launcher waits for them, instead of after the last one (0.9 s).
    parent_preload: list = field(default_factory=lambda: ["experiments.results.runs", "scipy.stats"])


class ParallelLauncher(Launcher):
    def __init__(self, n_jobs: int = -1, preload: Sequence[str] = (), parent_preload: Sequence[str] = ()) -> None:
        self.n_jobs = n_jobs  # jobs at once; -1: one per core
        self.preload = list(preload)  # modules every job needs: imported once, before the first job is forked
        self.parent_preload = list(parent_preload)  # what the sweep's end needs, imported once the last job started
        self.config = self.hydra_context = self.task_function = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    @property
    def n_workers(self) -> int:
        return self.n_jobs if self.n_jobs > 0 else os.cpu_count()

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        with self.jobs() as jobs:
            kept = jobs.done if self.config.get("resume") else 0  # each job's result.json, read once
            log.info(
                "launching %d job(s), %d at a time, into %s%s",
                len(job_overrides),
                min(self.n_workers, len(job_overrides)),
                self.config.hydra.sweep.dir,
                f"; {kept} of them finished before: kept, not run again" if kept else "",
            )
            jobs.submit_all(job_overrides, initial_job_idx)  # each worked out and composed as it starts
            while jobs.pending:
                jobs.next_result()
        return jobs.returns  # each read back from disk when asked for (experiments/sweep/launch/returns.py)

    def jobs(self, judge=None) -> RunningJobs:
        setup_globals()
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        import_modules(self.preload)
        # What is here now stays put: a forked job's garbage collections do not touch it, so
        # copy-on-write does not copy it into every job.
        gc.freeze()
        return RunningJobs(self, self.n_workers, judge)
