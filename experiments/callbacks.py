"""Hydra callbacks around a sweep (registered in conf/config.yaml)."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


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


def check_data(data: dict) -> None:
    """Make sure a data set is there (downloading it once for all jobs), or
    stop the sweep with one message before any job starts.

    data : a job's `data` config as a dict, e.g. {"name": "mnist", "root": None, ...}.
    """
    import nn_core
    from nn_core.datasets import DATASETS, DataNotFound

    options = dict(data)
    spec = DATASETS.get(options.pop("name"))
    if spec is None or spec.locate is None:
        return
    try:
        spec.locate(**options)
    except DataNotFound as error:
        if options.get("fallback"):
            log.warning("%s: every job will train on the bundled MNIST sample (data=mnist_sample) instead", error.reason)
            return
        log.error("%s", error)
        raise SystemExit(2) from None
    except nn_core.DataError as error:
        log.error("%s", error)
        raise SystemExit(2) from None


class SweepGuard(Callback):
    """Checks a sweep before its first job (its directory is new, every job's
    config is valid, the data is there) and ends every sweep with its
    leaderboard and the jobs that went wrong.

    Hydra turns a callback's exceptions into warnings; only an exit stops the sweep.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir() and any(sweep_dir.iterdir()):
            log.error(
                "hydra.sweep.dir=%s already holds a sweep; a second one would mix with it. "
                "Leave hydra.sweep.dir at its default (a new timestamped folder) or name an empty one.",
                sweep_dir,
            )
            raise SystemExit(2)
        configs, problems = check_grid(config)
        if problems:
            log.error("invalid sweep: %d job(s) would fail their config check; no job was started:\n  %s",
                      len(problems), "\n  ".join(problems))
            raise SystemExit(2)
        data_sets = {repr(d): d for d in (OmegaConf.to_container(c.data, resolve=True) for c in configs)}
        for data in data_sets.values():
            check_data(data)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from experiments.compare import leaderboard, load_runs, unsuccessful_runs
        from experiments.run_files import Status

        sweep_dir = Path(config.hydra.sweep.dir)
        runs = load_runs(sweep_dir)
        if runs.empty:
            return
        board = leaderboard(runs).drop(columns="run")
        log.info("sweep %s: %d runs, by status: %s\n%s", sweep_dir, len(runs),
                 runs["status"].value_counts().to_dict(), board.to_string(float_format=lambda v: f"{v:.4f}"))
        for _, r in unsuccessful_runs(runs).iterrows():
            log.warning("%s: %s: %s", Path(r["run"]).name, r["status"], r["reason"])
        if (runs["status"] == Status.FAILED).any():
            raise SystemExit(1)  # the sweep's results are all on disk; the exit code says not all succeeded
