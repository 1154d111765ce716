"""Hydra callbacks around a sweep (registered in conf/config.yaml)."""

from __future__ import annotations

import itertools
import json
import logging
import sys
from pathlib import Path
from typing import NoReturn

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from experiments.run_files import Status, read_result
from experiments.signals import sigterm_as_interrupt

log = logging.getLogger(__name__)
SUMMARY_ROWS = 5  # runs of the leaderboard logged at a sweep's end


def grid_jobs(task_overrides: list[str]) -> list[list[str]]:
    """Every job of a grid sweep as its list of overrides, in Hydra's order.

    Discrete sweeps (`lr=0.1,1`, `choice(...)`, `range(...)`) are expanded;
    a sweeper's own search spaces (`interval(...)`) are left to the sweeper.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    choices = []
    for override in OverridesParser.create().parse_overrides(task_overrides):
        key = override.get_key_element()
        if not override.is_sweep_override():
            choices.append([f"{key}={override.get_value_element_as_str()}"])
        elif override.is_discrete_sweep():
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
    return [list(job) for job in itertools.product(*choices)]


def check_grid(config: DictConfig) -> tuple[list[DictConfig], list[str]]:
    """Compose every job of the sweep and check it against the config rules.
    Returns the jobs' configs and one line per bad job, naming it by number and overrides."""
    from hydra import compose

    from experiments.config_rules import ConfigError, check_config

    configs, problems = [], []
    for number, overrides in enumerate(grid_jobs(list(config.hydra.overrides.task))):
        configs.append(compose(config.hydra.job.config_name, overrides=overrides))
        try:
            check_config(configs[-1])
        except ConfigError as error:
            reasons = str(error).splitlines()[1:]
            problems.append(f"job {number} ({','.join(overrides)}): " + "; ".join(r.strip() for r in reasons))
    return configs, problems


def refuse(message: str, *args) -> NoReturn:
    """A mistake in what was asked: one line and exit 2, before anything starts.
    (Hydra turns a callback's exceptions into warnings; only an exit stops it.)"""
    log.error(message, *args)
    raise SystemExit(2)


def check_data(data: dict, sweep: bool) -> None:
    """Make sure a data set is there (downloading it once for all jobs), or
    stop the run or sweep with one message before anything starts.

    data : a job's `data` config as a dict, e.g. {"name": "mnist", "root": None, ...}.
    sweep : say here that the jobs will fall back to the sample (a single run says it as it loads).
    """
    import nn_core
    from nn_core.datasets import DATASETS, DataNotFound

    options = dict(data)
    spec = DATASETS.get(options.pop("name"))
    if spec is None or spec.locate is None or (options.get("fallback") and not sweep):
        return  # nothing to fetch, or a single run that cannot fail for want of data: it looks once, as it loads
    try:
        spec.locate(**options)
    except DataNotFound as error:
        if not options.get("fallback"):
            refuse("%s", error)
        log.warning("%s: every job will train on the bundled MNIST sample (data=mnist_sample) instead", error.reason)
    except nn_core.DataError as error:
        refuse("%s", error)


# Set once Hydra has composed the config and handed over to a run or sweep: an
# exit before that is Hydra refusing the command line (see experiments.train.cli).
hydra_accepted_the_command = False

SWEEP_FILE = "sweep.json"  # a sweep's claim on its directory: how many jobs, and the command
RUN_FILE = ".run.lock"  # a run's claim on its directory
SWEEP_TAKEN = ("already holds a sweep; a second one would mix with it. Leave hydra.sweep.dir at its "
               "default (a new timestamped folder) or name an empty one.")
RUN_TAKEN = ("already holds a run; nothing in it was changed. Leave hydra.run.dir at its "
             "default (a new timestamped folder) or name a new one.")


def claim(folder: Path, marker: str, content: str, key: str, taken: str) -> None:
    """Take `folder` by creating folder/marker exclusively, before anything else
    is written there: of two processes racing for one folder exactly one wins,
    and the other is refused with `taken`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / marker, "x") as f:
            f.write(content)
    except FileExistsError:
        refuse("%s=%s %s", key, folder, taken)
    except OSError as error:
        refuse("%s=%s cannot be written: %s", key, folder, error.strerror or error)


def check_sweep_resumable(sweep_dir: Path, overrides: list[str]) -> None:
    """A sweep resumes only with the overrides it was launched with (so its jobs keep their numbers and folders)."""
    try:
        launched = json.loads((sweep_dir / SWEEP_FILE).read_text())["overrides"]
    except (OSError, ValueError, KeyError):
        refuse("hydra.sweep.dir=%s holds no sweep to resume (no readable %s)", sweep_dir, SWEEP_FILE)
    if launched != overrides:
        refuse("cannot resume %s with other overrides: it was launched with\n  %s\nthis resume has\n  %s",
               sweep_dir, " ".join(launched), " ".join(overrides))


def job_config(config: DictConfig) -> DictConfig:
    """The task's config as the train function sees it: everything but `hydra`."""
    return OmegaConf.masked_copy(config, [key for key in config if key != "hydra"])


class SweepGuard(Callback):
    """Checks a run or a sweep before anything is written (the config is valid,
    for a sweep every job's; the data is there; the directory is new), and ends
    every sweep with its leaderboard and the jobs that went wrong.

    Hydra turns a callback's exceptions into warnings; only an exit stops the run.
    """

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        from experiments.config_rules import ConfigError, check_config

        global hydra_accepted_the_command
        hydra_accepted_the_command = True
        try:
            check_config(job_config(config))
        except ConfigError as error:
            refuse("%s", error)
        with sigterm_as_interrupt():  # a download stopped by SIGTERM cleans up after itself
            check_data(OmegaConf.to_container(config.data, resolve=True), sweep=False)
        run_dir = Path(config.hydra.run.dir)
        if not config.resume:
            claim(run_dir, RUN_FILE, "", "hydra.run.dir", RUN_TAKEN)
            return
        if not (run_dir / RUN_FILE).is_file():
            refuse("hydra.run.dir=%s holds no run to resume; name the folder of an earlier run", run_dir)
        if (read_result(run_dir) or {}).get("status") == Status.COMPLETED:
            log.info("%s: the run has already completed; nothing to resume, nothing changed", run_dir)
            raise SystemExit(0)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        global hydra_accepted_the_command
        hydra_accepted_the_command = True
        if "optuna" in str(config.hydra.sweeper.get("_target_", "")):
            import optuna  # its logger prints each study's creation in raw colour codes; the sweeper says it plainly

            optuna.logging.set_verbosity(optuna.logging.WARNING)
        sweep_dir = Path(config.hydra.sweep.dir)
        overrides = [o for o in config.hydra.overrides.task if not o.startswith("resume=")]
        if config.resume:
            check_sweep_resumable(sweep_dir, overrides)
        elif sweep_dir.is_dir() and any(sweep_dir.iterdir()):
            refuse("hydra.sweep.dir=%s %s", sweep_dir, SWEEP_TAKEN)
        configs, problems = check_grid(config)
        if problems:
            refuse("invalid sweep: %d job(s) would fail their config check; no job was started:\n  %s",
                   len(problems), "\n  ".join(problems))
        data_sets = {repr(d): d for d in (OmegaConf.to_container(c.data, resolve=True) for c in configs)}
        for data in data_sets.values():
            check_data(data, sweep=True)
        if not config.resume:
            n_jobs = config.hydra.sweeper.get("n_trials") or len(configs)
            about = json.dumps({"jobs": n_jobs, "command": sys.argv, "overrides": overrides}, indent=2)
            claim(sweep_dir, SWEEP_FILE, about, "hydra.sweep.dir", SWEEP_TAKEN)

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            total = json.loads((sweep_dir / SWEEP_FILE).read_text())["jobs"]
        except (OSError, ValueError, KeyError):
            return
        done = sum(1 for _ in sweep_dir.glob("*/result.json"))
        log.info("job %s finished: %d/%d jobs of the sweep done", config.hydra.job.num, done, total)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from experiments.compare import load_runs, ranking, unsuccessful_runs

        sweep_dir = Path(config.hydra.sweep.dir)
        runs = load_runs(sweep_dir)
        if runs.empty:
            log.warning("sweep %s: no job wrote a run", sweep_dir)
            return
        board = ranking(runs).drop(columns="run", errors="ignore")
        log.info("sweep %s: %d runs, by status: %s; the best %d:\n%s\nthe full table: python -m experiments.compare %s",
                 sweep_dir, len(runs), runs["status"].value_counts().to_dict(), min(SUMMARY_ROWS, len(board)),
                 board.head(SUMMARY_ROWS).to_string(float_format=lambda v: f"{v:.4f}"), sweep_dir)
        for _, r in unsuccessful_runs(runs).iterrows():
            log.warning("%s: %s: %s", Path(r["run"]).name, r["status"], r["reason"].splitlines()[0])
        if (runs["status"] == Status.FAILED).any():
            raise SystemExit(1)  # the sweep's results are all on disk; the exit code says not all succeeded
