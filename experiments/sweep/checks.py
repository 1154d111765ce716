"""Checks before a sweep starts (a Hydra callback, registered in conf/config.yaml, which
also says each job's end and the sweep's: experiments/sweep/summary.py). Refusals are one
line and exit 2, before any job starts; the checks of one configuration are
experiments.run.checks'."""

from __future__ import annotations

import itertools
import json
import logging
import math
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from experiments.run import dry_run, exits, loggers, provenance, resume
from experiments.run.checks import check_data, check_room, claim, hold_or_refuse, refuse, task_config
from experiments.run.files import LAUNCHER_OVERRIDES, SWEEP_FILE, SWEEP_LOCK_FILE, saved_sweep_overrides
from experiments.run.signals import honour_interrupts
from experiments.sweep import summary
from experiments.sweep.grid import composed_per_value, sweep_grid
from experiments.sweep.kinds import forks_jobs, is_search
from experiments.sweep.workers import submitit_says_once, submits_workers

log = logging.getLogger(__name__)


def check_grid(config: DictConfig) -> tuple[list[DictConfig], list[str], int]:
    """Check a grid before its first job without composing each job: every value of every key
    against the config rules, in every combination of the keys composed per value (config
    groups like optimizer=sgd,adam, the names that choose other keys' rules, data.*), and the
    memory estimate on each combination's largest job. The rules are per key
    (experiments/run/config_rules.py), so a job fails its check exactly when one of its values
    does: a 10 x 10 x 10 grid of lr, hidden and batch_size is checked in one composition and
    30 values, not 1,000 jobs. Returns the configs composed (one per combination), one line
    per bad value with how many jobs it spoils and the first, and how many jobs would fail."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    grid = sweep_grid(config)
    loader = GlobalHydra.instance().config_loader()
    parsed = {key: OverridesParser.create().parse_overrides(values) for key, values in grid.choices.items()}
    per_value = [key for key, overrides in parsed.items() if composed_per_value(overrides[0], loader)]
    spoiled = Spoiled(grid)
    configs, failing = [], 0
    for combination in itertools.product(*(range(len(grid.choices[key])) for key in per_value)):
        at = dict(zip(per_value, combination))
        jobs = len(grid) // math.prod(len(grid.choices[key]) for key in per_value)  # jobs of this combination
        try:
            base = task_config(loader.load_sweep_config(config, grid[grid.number_at(at)]))
        except HydraException as error:  # an option a group does not have
            spoiled.add(str(error).splitlines()[0], jobs, at)
            failing += jobs
            continue
        configs.append(base)
        varied = {key: overrides for key, overrides in parsed.items() if key not in per_value and len(overrides) > 1}
        failing += check_combination(base, varied, at, jobs, spoiled)
    return configs, spoiled.lines(), failing


class Spoiled:
    """The refusal lines of a grid's check: each reason once, with how many jobs it spoils and the first."""

    def __init__(self, grid):
        self.grid, self.reasons = grid, {}  # reason -> [jobs, the first job's number]

    def add(self, reason: str, jobs: int, at: dict) -> None:
        """`jobs` more jobs spoilt by `reason`, the first of them at these positions (key -> value's position)."""
        first = self.grid.number_at(at)
        seen = self.reasons.setdefault(reason, [0, first])
        seen[0], seen[1] = seen[0] + jobs, min(seen[1], first)

    def lines(self) -> list[str]:
        return [
            f"{reason} ({f'{jobs} jobs; the first: ' if jobs > 1 else ''}job {first}: {','.join(self.grid[first])})"
            for reason, (jobs, first) in self.reasons.items()
        ]


def check_combination(base: DictConfig, varied: dict, at: dict, jobs: int, spoiled: Spoiled) -> int:
    """Check one combination of the keys composed per value (its config `base`, its `jobs`):
    each value of each other key set on `base` and checked, then its largest job's memory.
    Adds what is wrong to `spoiled`; returns how many of its jobs would fail."""
    from experiments.run.components import check_memory_ahead
    from experiments.run.config_rules import ConfigError

    candidates = {key: [with_value(base, o) for o in overrides] for key, overrides in varied.items()}
    reasons = {key: [config_problems(c) for c in cs] for key, cs in candidates.items()}
    bad, attributed = {}, set()  # key -> positions of its values that break a rule here; their reasons
    for key, found in reasons.items():
        always = set.intersection(*found)  # not this key's doing: the same whatever its value
        bad[key] = {position for position, r in enumerate(found) if r - always}
        for position in bad[key]:
            for reason in found[position] - always:
                spoiled.add(reason, jobs // len(found), {**at, key: position})
                attributed.add(reason)
    fixed = config_problems(base) - attributed
    for reason in fixed:  # a fixed value's, or one every value of a key has: every job here
        spoiled.add(reason, jobs, at)
    if fixed:
        return jobs
    failing = jobs - math.prod(len(varied[key]) - len(bad[key]) for key in varied)
    largest, positions = biggest_job(base, varied, candidates, bad)
    try:
        check_memory_ahead(largest)
    except ConfigError as error:
        spoiled.add("the grid's largest job: " + str(error).splitlines()[1].strip(), 1, {**at, **positions})
        failing += 1
    return failing


def with_value(base: DictConfig, override) -> DictConfig:
    """A copy of `base` with the override's key set to its value, as composing it would."""
    candidate = base.copy()
    OmegaConf.update(candidate, override.key_or_group, override.value(), force_add=True)
    return candidate


def config_problems(config: DictConfig) -> set[str]:
    """Every line check_config would refuse this config with (none: an empty set)."""
    from experiments.run.config_rules import ConfigError, check_config

    try:
        check_config(config)
    except ConfigError as error:
        return {line.strip() for line in str(error).splitlines()[1:]}
    return set()


def biggest_job(base: DictConfig, parsed: dict, candidates: dict, bad: dict) -> tuple[DictConfig, dict]:
    """The job of this combination the memory estimate puts highest, from each key's value that
    alone takes the most (the estimate grows with each of hidden, batch_size, dtype...), and
    the positions of those values."""
    from experiments.run.components import memory_needed_ahead

    largest, positions = base, {}
    for key, configs in candidates.items():
        needs = {p: memory_needed_ahead(c) for p, c in enumerate(configs) if p not in bad[key]}
        if len(set(needs.values())) > 1:
            positions[key] = max(needs, key=needs.get)
            largest = with_value(largest, parsed[key][positions[key]])
    return largest, positions


def check_grid_pruner(config: DictConfig) -> None:
    from experiments.sweep.by_name import check_pruning
    from experiments.sweep.study import SearchError

    pruner = config.hydra.sweeper.get("pruner")
    if pruner is not None:
        pruner = OmegaConf.to_container(pruner, resolve=True)
        try:
            if pruner.get("name") == "halving":  # ours, synchronous: its own settings (experiments/sweep/halving.py)
                from experiments.sweep.halving import settings_of

                settings_of(pruner, sweep_grid(config), config.epochs)
                pruner = {"name": "halving"}  # what is left to check: the launcher
            check_pruning(pruner, config.hydra.launcher)
        except SearchError as error:
            refuse("invalid sweep: %s", error)


def check_search(config: DictConfig, open_storage: bool = True) -> tuple[list[DictConfig], list[str]]:
    """Check an Optuna search before its first trial: its settings and search space
    (refused at once when they cannot run), then every value at the edges of the
    space against the config rules, then (open_storage) its study. Returns the configs
    checked and one line per bad value."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from experiments.run.components import check_memory_ahead
    from experiments.run.config_rules import ConfigError, check_config
    from experiments.sweep.space import edge_assignments
    from experiments.sweep.study import SearchError, open_study

    try:
        search = configured_search(config)
        fixed, space, _, _ = search.check(list(config.hydra.overrides.task))
        search.check_launcher(config.hydra.launcher)
    except (SearchError, TypeError) as error:
        refuse("invalid search: %s", error)
    loader = GlobalHydra.instance().config_loader()
    composed = {}  # the config groups' overrides -> the config they compose with the fixed ones

    def compose(groups: tuple) -> DictConfig:
        if groups not in composed:
            composed[groups] = task_config(loader.load_sweep_config(config, [*fixed, *groups]))
        return composed[groups]

    base = compose(())
    configs, problems = [base], []
    for assignment in edge_assignments(space):
        overrides = space.overrides(assignment)
        given = " ".join(overrides)
        # A config group (optimizer=adam) is composed with the fixed overrides; any other value is set
        # as a trial's override gives it ("[512,256]" is a list).
        lines = OverridesParser.create().parse_overrides(overrides)
        groups = tuple(o.input_line for o in lines if OmegaConf.is_dict(OmegaConf.select(base, o.key_or_group)))
        try:
            candidate = compose(groups)
        except HydraException as error:  # an option the group does not have
            problems.append(f"{given}: {str(error).splitlines()[0]}")
            continue
        for override in lines:
            if override.input_line not in groups:
                candidate = with_value(candidate, override)
        try:
            check_config(candidate)
            check_memory_ahead(candidate)
        except ConfigError as error:
            reasons = "; ".join(r.strip() for r in str(error).splitlines()[1:])
            problems.append(f"{given}: {reasons}{condition_hint(space, reasons)}")
        configs.append(candidate)
    if open_storage and not problems:  # last: opening a storage may create it
        try:
            open_study(search.study_name, search.storage, search.definition(space))
        except SearchError as error:
            refuse("invalid search: %s", error)
    return configs, problems


def condition_hint(space, reasons: str) -> str:
    """For a searched setting of a searched config group refused as one its option does not take
    ("optimizer.momentum does not apply to optimizer=sgd"): how to search it only with the options that do."""
    for key in space.distributions:
        group = key.split(".")[0]
        if f"{key} does not apply to {group}=" in reasons and group in space.distributions:
            return (
                f" (to search {key} only with the {group}s that take it, give it a condition: "
                f"""'hydra.sweeper.conditions={{{key}: "{group}=..."}}')"""
            )
    return ""


def when(space, key: str) -> str:
    """A conditional key's condition, in words: ', when optimizer is momentum or nesterov'."""
    if key not in space.conditions:
        return ""
    parent, values = space.conditions[key]
    return f", when {parent} is {' or '.join(map(str, values))}"


def configured_search(config: DictConfig):
    """The OptunaSearch that hydra.sweeper's settings make (TypeError for a setting it does not take)."""
    from experiments.sweep.search import OptunaSearch

    settings = OmegaConf.to_container(config.hydra.sweeper, resolve=True)
    settings.pop("_target_", None)
    return OptunaSearch(**settings)


def sweep_plan(config: DictConfig, sweep_dir: Path) -> list[str]:
    """What a dry run says a sweep would run: a grid's jobs (the first and last, each with its
    folder), or a search's trials, space and study."""
    if is_search(config):
        from experiments.sweep.space import parse_space

        search = configured_search(config)
        fixed, space = parse_space(search.params, list(config.hydra.overrides.task), search.conditions)
        storage = f"study {search.study_name!r} in {search.storage} (not opened)" if search.storage else "no storage"
        from experiments.sweep.warm_start import folders_of

        search.check(list(config.hydra.overrides.task))  # checked already (check_search): the objectives
        search.check_launcher(config.hydra.launcher)  # and the pruner this launcher gets
        goals = ", ".join(f"{direction} {objective.name}" for objective, direction in search.objectives)
        return [
            f"a search of n_trials={search.n_trials} into {sweep_dir} to {goals}, sampler "
            f"{search.sampler.get('name', 'tpe')}, pruner {search.pruner_said}; {storage}",
            *(
                f"{key}: {dry_run.distribution_in_words(dist)}{when(space, key)}"
                for key, dist in space.distributions.items()
            ),
            f"every trial: {dry_run.shown(fixed)}",
            *(f"queued first: {configuration}" for configuration in search.enqueue),
            *(f"warm start: the runs of {folder} that fit, as it starts" for folder in folders_of(search.warm_start)),
            "every value at the edges of the space passes its checks",
        ]
    from hydra.core.global_hydra import GlobalHydra

    jobs = sweep_grid(config)
    launcher = config.hydra.runtime.choices.get("hydra/launcher")
    lines = [f"{len(jobs)} job(s) into {sweep_dir}, on hydra/launcher={launcher}"]
    for number in sorted({0, len(jobs) - 1}):
        job = GlobalHydra.instance().config_loader().load_sweep_config(config, jobs[number])
        with open_dict(job):
            job.hydra.job.num = number
        lines.append(f"job {number}: {dry_run.shown(jobs[number])} -> {job.hydra.sweep.dir}/{job.hydra.sweep.subdir}")
    pruner = OmegaConf.to_container(config.hydra.sweeper.get("pruner") or {}, resolve=True)
    if pruner.get("name") == "halving":
        from experiments.sweep.halving import configurations, plan_in_words, settings_of

        settings = settings_of(pruner, jobs, config.epochs)
        lines.append(plan_in_words(len(configurations(jobs)), config.epochs, settings))
    return [*lines, "every job's config passes its checks"]


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
        if is_search(config):
            configs, problems = check_search(config, open_storage=not config.get("dry_run"))
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
            dry_run.say_and_stop([*sweep_plan(config, sweep_dir), *map(dry_run.data_whereabouts, data_sets.values())])
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
            n_jobs = config.hydra.sweeper.get("n_trials") or len(sweep_grid(config))
            launcher_overrides = [o for o in config.hydra.overrides.hydra if o.startswith(LAUNCHER_OVERRIDES)]
            about = {"jobs": n_jobs, "command": sys.argv, "overrides": task_overrides,
                     "sweeper_overrides": sweeper_overrides, "launcher_overrides": launcher_overrides}  # fmt: skip
            if config.hydra.sweeper.get("timeout"):  # a search that stops asking after this many seconds
                about["timeout_s"] = config.hydra.sweeper.timeout
            about = json.dumps(about, indent=2)
            claim(sweep_dir, SWEEP_FILE, about, "hydra.sweep.dir", SWEEP_TAKEN)
            hold_or_refuse(sweep_dir, "hydra.sweep.dir", SWEEP_LOCK_FILE)
        loggers.start_sweep(config, sweep_dir)  # logger=mlflow: the parent of the jobs' runs

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        # The default launcher says it as it collects the job, counting as it goes (not a file per job per job)
        if config.hydra.mode == RunMode.MULTIRUN and not forks_jobs(OmegaConf.select(config, "hydra.launcher")):
            summary.progress(config)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        summary.end_of_sweep(config)
