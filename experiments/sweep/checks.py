"""The sweep's Hydra callback (registered in conf/config.yaml): checks before a sweep starts
(its folder, or the sweep it resumes; a grid's values: grid/checks.py; a search's settings,
built once, and its space: search/settings.py, search/checks.py; the data), the dry run's
plan (plan.py), each job's end (launch/progress.py) and the sweep's (summary.py). Refusals
are one line and exit 2, before any job starts; the checks of one configuration are
experiments.run.checks'."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from experiments.run import dry_run, exits, loggers, provenance, resume
from experiments.run.checks import check_data, check_room, claim, hold_or_refuse, refuse
from experiments.run.files import SWEEP_LOCK_FILE
from experiments.run.signals import honour_interrupts
from experiments.run.sweep_files import LAUNCHER_OVERRIDES, SWEEP_FILE, SweepRecord, saved_sweep_overrides
from experiments.run.task import data_warnings_said
from experiments.sweep import summary
from experiments.sweep.grid.checks import check_grid, check_grid_pruner
from experiments.sweep.grid.sweeper import sweep_grid
from experiments.sweep.kinds import forks_jobs, is_search
from experiments.sweep.launch.progress import progress
from experiments.sweep.plan import sweep_plan
from experiments.sweep.search.checks import check_search, checked_settings
from experiments.sweep.search.settings import SearchSettings
from experiments.sweep.search.workers import submitit_says_once, submits_workers

log = logging.getLogger(__name__)


SWEEP_TAKEN = (
    "already holds a sweep; a second one would mix with it. Leave hydra.sweep.dir at its "
    "default (a new timestamped folder) or name an empty one."
)


SWEEPER = ("hydra.sweeper.", "+hydra.sweeper.", "hydra/sweeper=")  # the overrides that say how a sweep searches


def sweep_overrides(config: DictConfig) -> tuple[list[str], list[str]]:
    """A sweep's overrides as sweep.json keeps them: the jobs' (resume=true aside) and the
    sweeper's (n_trials, storage, sampler, pruner...), without which a resumed search is another one."""
    task = [o for o in config.hydra.overrides.task if not o.startswith("resume=")]
    return task, [o for o in config.hydra.overrides.hydra if o.startswith(SWEEPER)]


def check_sweep_resumable(sweep_dir: Path, overrides: list[str]) -> None:
    """A sweep resumes only with the overrides it was launched with (so its jobs keep their numbers and folders)."""
    launched = saved_sweep_overrides(sweep_dir)
    if launched is None:
        refuse("hydra.sweep.dir=%s holds no sweep to resume (no readable %s)", sweep_dir, SWEEP_FILE)
    if launched != overrides:
        searched = any(o == "hparams_search=optuna" or o.startswith(SWEEPER) for o in launched)
        extend = (
            "; to extend a search (more trials, other settings), launch it again, without resume=true, on the "
            "same hydra.sweeper.storage: it continues its study in a new sweep folder"
            if searched
            else ""
        )
        refuse(
            "cannot resume %s with other overrides than it was launched with: %s (with no overrides, resume=true "
            "continues the sweep as it was launched%s)",
            sweep_dir,
            "; ".join(override_differences(launched, overrides)),
            extend,
        )


def override_differences(launched: list[str], given: list[str]) -> list[str]:
    """What differs between two lists of overrides, one key each: 'lr: 0.1 at launch, 0.2 now'."""

    def by_key(overrides):
        return {o.split("=", 1)[0].lstrip("+~"): o.split("=", 1)[1] if "=" in o else "(deleted)" for o in overrides}

    before, now = by_key(launched), by_key(given)
    said = []
    for key in dict.fromkeys([*before, *now]):
        if key not in now:
            said.append(f"{key}={before[key]} at launch, not given now")
        elif key not in before:
            said.append(f"{key}={now[key]} now, not at launch")
        elif before[key] != now[key]:
            said.append(f"{key}: {before[key]} at launch, {now[key]} now")
    return said or ["the same overrides in another order"]


def keep_for_the_jobs(data: dict) -> None:
    """Load the one data set every job trains on, here, before the jobs are forked: they
    share it (copy-on-write) instead of each loading and splitting it again."""
    import nn_core.datasets

    options = dict(data)
    try:
        with data_warnings_said():
            nn_core.datasets.keep_loaded(options.pop("name"), **options)
    except Exception as error:  # each job loads it itself then, and says what is wrong
        log.debug("the jobs' data set was not loaded ahead: %s", error)


class SweepChecks(Callback):
    """Checks a sweep before any job starts (every job's config is valid, the
    data is there, the folder is new or, for resume=true, the same sweep's),
    logs each job's end, and ends the sweep with its leaderboard and the jobs
    that went wrong.

    Hydra turns a callback's exceptions into warnings; only an exit stops the sweep.
    """

    def __init__(self) -> None:
        # A search's settings, checked before any work; Hydra hands this callback to the sweeper
        # it builds next (HydraContext.callbacks), which takes them from here (search/settings.py)
        self.search: SearchSettings | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        honour_interrupts()  # one that came while the process started is raised here
        exits.command.accepted = exits.command.sweep = True
        if is_search(config):
            import optuna  # its logger prints each study's creation in raw colour codes; the sweeper says it plainly

            optuna.logging.set_verbosity(optuna.logging.WARNING)
        if submits_workers(config.hydra.launcher):
            submitit_says_once()
        sweep_dir = Path(config.hydra.sweep.dir)
        check_room(sweep_dir, "hydra.sweep.dir")
        task_overrides, sweeper_overrides = sweep_overrides(config)
        if config.resume:
            check_sweep_resumable(sweep_dir, [*task_overrides, *sweeper_overrides])
            hold_or_refuse(sweep_dir, "hydra.sweep.dir", SWEEP_LOCK_FILE)
        elif sweep_dir.is_dir() and any(sweep_dir.iterdir()):
            refuse("hydra.sweep.dir=%s %s", sweep_dir, SWEEP_TAKEN)
        if is_search(config):  # its settings checked once, here: the sweeper takes them (search/settings.py)
            self.search = checked_settings(config)
            configs, problems = check_search(config, self.search, open_storage=not config.get("dry_run"))
        else:
            check_grid_pruner(config)
            configs, problems, failing = check_grid(config)
        if problems:
            what = "values of the search space" if is_search(config) else "job(s)"
            refuse(
                "invalid sweep: %d %s would fail their config check; no job was started:\n  %s",
                len(problems) if is_search(config) else failing,
                what,
                "\n  ".join(problems),
            )
        data_sets = {repr(d): d for d in (OmegaConf.to_container(c.data, resolve=True) for c in configs)}
        if config.get("dry_run"):
            plan = sweep_plan(config, sweep_dir, self.search)
            dry_run.say_and_stop([*plan, *map(dry_run.data_whereabouts, data_sets.values())])
        for data in data_sets.values():
            check_data(data, sweep=True)
        if forks_jobs(config.hydra.launcher):  # what every job would otherwise work out for itself
            try:
                provenance.ask_once()
            except Exception as error:  # then each job asks, and records what it finds
                log.debug("provenance not asked ahead: %s", error)
            if len(data_sets) == 1:
                keep_for_the_jobs(*data_sets.values())
        exits.command.kept_nowhere = is_search(config) and not config.hydra.sweeper.get("storage")  # in memory
        if not exits.command.kept_nowhere:  # a search whose study was kept nowhere cannot go on
            exits.command.continue_with = resume.continue_command(sweep_dir, sweep=True)
        if not config.resume:
            launcher_overrides = [o for o in config.hydra.overrides.hydra if o.startswith(LAUNCHER_OVERRIDES)]
            record = SweepRecord(
                jobs=config.hydra.sweeper.get("n_trials") or len(sweep_grid(config)),
                command=sys.argv,
                overrides=task_overrides,
                sweeper_overrides=sweeper_overrides,
                launcher_overrides=launcher_overrides,
                timeout_s=config.hydra.sweeper.get("timeout"),
            )
            claim(sweep_dir, SWEEP_FILE, record.to_json(), "hydra.sweep.dir", SWEEP_TAKEN)
            hold_or_refuse(sweep_dir, "hydra.sweep.dir", SWEEP_LOCK_FILE)
        loggers.start_sweep(config, sweep_dir)  # logger=mlflow: the parent of the jobs' runs

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        # The default launcher says it as it collects the job, counting as it goes (not a file per job per job)
        if config.hydra.mode == RunMode.MULTIRUN and not forks_jobs(OmegaConf.select(config, "hydra.launcher")):
            progress(config)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        summary.end_of_sweep(config)
