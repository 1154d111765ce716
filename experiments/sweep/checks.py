"""Checks before a sweep starts and its summary at the end (a Hydra callback,
registered in conf/config.yaml). Refusals are one line and exit 2, before any job
starts; the checks of one configuration are experiments.run.checks'."""

from __future__ import annotations

import itertools
import json
import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from experiments.run import exits, loggers, provenance, resume
from experiments.run.checks import check_data, check_room, claim, hold_or_refuse, refuse, task_config
from experiments.run.files import RESULT_FILE, SWEEP_FILE, SWEEP_LOCK_FILE, Status, read_result, saved_sweep_overrides
from experiments.sweep.launcher import forks_jobs

log = logging.getLogger(__name__)
SUMMARY_ROWS = 5  # runs of the leaderboard logged at a sweep's end


def grid_jobs(overrides: list[str]) -> list[list[str]]:
    """Every job of a grid sweep as its list of overrides, in Hydra's order (that
    of its basic sweeper: the product of each key's values, a key given twice
    taking its last values in its first place).

    Discrete sweeps (`lr=0.1,1`, `choice(...)`, `range(...)`) are expanded;
    a sweeper's own search spaces (`interval(...)`) are left to the sweeper.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    choices = {}
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.get_key_element()
        if not override.is_sweep_override():
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
    return [list(job) for job in itertools.product(*choices.values())]


def check_grid(config: DictConfig) -> tuple[list[DictConfig], list[str]]:
    """Compose every job of the sweep, as the launcher will run it, and check it
    against the config rules. Returns the jobs' task configs and one line per bad
    job, naming it by number and overrides. The composed configs are handed to the
    launcher (jobs.composed_jobs), which would otherwise compose each again."""
    from hydra.core.global_hydra import GlobalHydra

    from experiments.run.config_rules import ConfigError, check_config
    from experiments.run.task import check_memory_ahead
    from experiments.sweep.jobs import composed_jobs

    loader = GlobalHydra.instance().config_loader()
    configs, problems = [], []
    for number, overrides in enumerate(grid_jobs(list(config.hydra.overrides.task))):
        composed = loader.load_sweep_config(config, overrides)
        composed_jobs[tuple(overrides)] = composed
        configs.append(task_config(composed))
        try:
            check_config(configs[-1])
            check_memory_ahead(configs[-1])
        except ConfigError as error:
            reasons = str(error).splitlines()[1:]
            problems.append(f"job {number} ({','.join(overrides)}): " + "; ".join(r.strip() for r in reasons))
    return configs, problems


def check_grid_pruner(config: DictConfig) -> None:
    from experiments.sweep.by_name import check_pruning
    from experiments.sweep.study import SearchError

    pruner = config.hydra.sweeper.get("pruner")
    if pruner is not None:
        try:
            check_pruning(OmegaConf.to_container(pruner, resolve=True), config.hydra.launcher)
        except SearchError as error:
            refuse("invalid sweep: %s", error)


def is_search(config: DictConfig) -> bool:
    """True for a search by our Optuna sweeper (hparams_search=optuna), whose jobs are not a grid."""
    return str(OmegaConf.select(config, "hydra.sweeper._target_", default="")).endswith("OptunaSearch")


def check_search(config: DictConfig) -> tuple[list[DictConfig], list[str]]:
    """Check an Optuna search before its first trial: its settings and search space
    (refused at once when they cannot run), then every value at the edges of the
    space against the config rules. Returns the configs checked and one line per bad value."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from experiments.run.config_rules import ConfigError, check_config
    from experiments.run.task import check_memory_ahead
    from experiments.sweep.by_name import check_pruning
    from experiments.sweep.search import OptunaSearch
    from experiments.sweep.space import edge_values, override_value
    from experiments.sweep.study import SearchError, open_study

    settings = OmegaConf.to_container(config.hydra.sweeper, resolve=True)
    settings.pop("_target_", None)
    try:
        search = OptunaSearch(**settings)
        fixed, space, _, _ = search.check(list(config.hydra.overrides.task))
        check_pruning(settings.get("pruner") or {}, config.hydra.launcher)
    except (SearchError, TypeError) as error:
        refuse("invalid search: %s", error)
    loader = GlobalHydra.instance().config_loader()
    base = task_config(loader.load_sweep_config(config, fixed))
    configs, problems = [base], []
    for key, values in edge_values(space).items():
        for value in values:
            if OmegaConf.is_dict(OmegaConf.select(base, key)):  # a config group (optimizer=adam): compose it
                try:
                    candidate = task_config(loader.load_sweep_config(config, [*fixed, f"{key}={value}"]))
                except HydraException as error:  # an option the group does not have
                    problems.append(f"{key}={value}: {str(error).splitlines()[0]}")
                    continue
            else:  # the value as a trial's override gives it: "[512,256]" is a list
                (given,) = OverridesParser.create().parse_overrides([f"{key}={override_value(value)}"])
                candidate = base.copy()
                OmegaConf.update(candidate, key, given.value(), force_add=True)
            try:
                check_config(candidate)
                check_memory_ahead(candidate)
            except ConfigError as error:
                reasons = "; ".join(r.strip() for r in str(error).splitlines()[1:])
                problems.append(f"{key}={value}: {reasons}")
            configs.append(candidate)
    if not problems:  # last: opening a storage may create it
        try:
            open_study(search.study_name, search.storage, search.definition(space))
        except SearchError as error:
            refuse("invalid search: %s", error)
    return configs, problems


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
        refuse(
            "cannot resume %s with other overrides: it was launched with\n  %s\nthis resume has\n  %s\n"
            "(with no overrides, resume=true continues the sweep as it was launched)",
            sweep_dir,
            " ".join(launched) or "(none)",
            " ".join(overrides) or "(none)",
        )


def keep_for_the_jobs(data: dict) -> None:
    """Load the one data set every job trains on, here, before the jobs are forked: they
    share it (copy-on-write) instead of each loading and splitting it again."""
    import nn_core.datasets
    from experiments.run.task import data_warnings_said

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

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        exits.command.accepted = exits.command.sweep = True
        if is_search(config):
            import optuna  # its logger prints each study's creation in raw colour codes; the sweeper says it plainly

            optuna.logging.set_verbosity(optuna.logging.WARNING)
        sweep_dir = Path(config.hydra.sweep.dir)
        check_room(sweep_dir, "hydra.sweep.dir")
        task_overrides, sweeper_overrides = sweep_overrides(config)
        if config.resume:
            check_sweep_resumable(sweep_dir, [*task_overrides, *sweeper_overrides])
            hold_or_refuse(sweep_dir, "hydra.sweep.dir", SWEEP_LOCK_FILE)
        elif sweep_dir.is_dir() and any(sweep_dir.iterdir()):
            refuse("hydra.sweep.dir=%s %s", sweep_dir, SWEEP_TAKEN)
        if is_search(config):
            configs, problems = check_search(config)
        else:
            check_grid_pruner(config)
            configs, problems = check_grid(config)
        if problems:
            what = "values of the search space" if is_search(config) else "job(s)"
            refuse(
                "invalid sweep: %d %s would fail their config check; no job was started:\n  %s",
                len(problems),
                what,
                "\n  ".join(problems),
            )
        data_sets = {repr(d): d for d in (OmegaConf.to_container(c.data, resolve=True) for c in configs)}
        for data in data_sets.values():
            check_data(data, sweep=True)
        if forks_jobs(config.hydra.launcher):  # what every job would otherwise work out for itself
            try:
                provenance.ask_once()
            except Exception as error:  # then each job asks, and records what it finds
                log.debug("provenance not asked ahead: %s", error)
            if len(data_sets) == 1:
                keep_for_the_jobs(*data_sets.values())
        kept_nowhere = is_search(config) and not config.hydra.sweeper.get("storage")  # a study in memory
        if not kept_nowhere:  # a search whose study was kept nowhere cannot go on
            exits.command.continue_with = resume.continue_command(sweep_dir, sweep=True)
        if not config.resume:
            n_jobs = config.hydra.sweeper.get("n_trials") or len(configs)
            about = {"jobs": n_jobs, "command": sys.argv, "overrides": task_overrides,
                     "sweeper_overrides": sweeper_overrides}  # fmt: skip
            if config.hydra.sweeper.get("timeout"):  # a search that stops asking after this many seconds
                about["timeout_s"] = config.hydra.sweeper.timeout
            about = json.dumps(about, indent=2)
            claim(sweep_dir, SWEEP_FILE, about, "hydra.sweep.dir", SWEEP_TAKEN)
            hold_or_refuse(sweep_dir, "hydra.sweep.dir", SWEEP_LOCK_FILE)
        loggers.start_sweep(config, sweep_dir)  # logger=mlflow: the parent of the jobs' runs

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            about = json.loads((sweep_dir / SWEEP_FILE).read_text())
            total = about["jobs"]
        except (OSError, ValueError, KeyError):
            return
        # Over: every job whose result.json says it ended, not one still to be resumed
        ended = (read_result(result.parent) for result in sweep_dir.glob(f"*/{RESULT_FILE}"))
        done = sum(1 for result in ended if result and result.get("status") != Status.INTERRUPTED)
        if is_search(config):  # its trials are the study's, which other launches may share: counted apart
            deadline = f", asked for {about['timeout_s']:g} s" if about.get("timeout_s") else ""
            log.info("job %s finished: %d trials of this folder done; the search stops once its study holds "
                     "n_trials=%d%s", config.hydra.job.num, done, total, deadline)  # fmt: skip
        else:
            log.info("job %s finished: %d/%d jobs of the sweep done", config.hydra.job.num, done, total)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from experiments.results.runs import load_runs, ranking, unsuccessful_runs

        sweep_dir = Path(config.hydra.sweep.dir)
        runs = load_runs(sweep_dir)
        # A job that failed, or ended without a readable result.json (a full disk): not all succeeded.
        failed = runs.empty or runs["status"].isin([Status.FAILED, Status.INCOMPLETE, Status.BROKEN]).any()
        loggers.end_sweep(config, sweep_dir, failed=failed)
        if runs.empty and is_search(config):  # another launch on the study had asked the trials left
            log.info("sweep %s: this launch ran no trial (the study already held its n_trials)", sweep_dir)
            return
        if runs.empty:
            log.error("sweep %s: no job wrote a run", sweep_dir)
            raise SystemExit(exits.ExitCode.FAILED)
        board = ranking(runs).drop(columns="run", errors="ignore")
        log.info(
            "sweep %s: %d runs, by status: %s; the best %d:\n%s\nthe full table: python -m experiments.compare %s",
            sweep_dir,
            len(runs),
            runs["status"].value_counts().to_dict(),
            min(SUMMARY_ROWS, len(board)),
            board.head(SUMMARY_ROWS).to_string(float_format=lambda v: f"{v:.4f}"),
            sweep_dir,
        )
        from experiments.results.learned import importance

        learned = importance(runs)
        if learned is not None:
            log.info("how much each hyperparameter mattered (fANOVA importance, mean and range):\n%s",
                     learned.to_string(float_format=lambda v: f"{v:.3f}"))  # fmt: skip
        unsuccessful = unsuccessful_runs(runs)
        pruned = unsuccessful["status"] == Status.PRUNED  # the search's own decision, not a fault: counted
        if pruned.any():
            after = unsuccessful.loc[pruned, "epochs_completed"].astype(int).value_counts().sort_index()
            when = ", ".join(f"{epoch} ({count} run{'s' if count > 1 else ''})" for epoch, count in after.items())
            log.info("%d runs pruned by the search, after epoch %s: each listed by compare", pruned.sum(), when)
        for _, r in unsuccessful[~pruned].iterrows():
            log.warning("%s: %s: %s", Path(r["run"]).name, r["status"], (r["reason"].splitlines() or [""])[0])
        unfinished = unsuccessful["status"].isin([Status.INTERRUPTED, Status.FAILED, Status.INCOMPLETE])
        if unfinished.any() and exits.command.continue_with:  # killed, stopped or failed jobs: resume goes on
            log.warning("%d job(s) did not finish; to go on from where each stopped: %s", unfinished.sum(),
                        exits.command.continue_with)  # fmt: skip
        if failed:
            raise SystemExit(
                exits.ExitCode.FAILED
            )  # the sweep's results are all on disk; the exit code says not all succeeded
