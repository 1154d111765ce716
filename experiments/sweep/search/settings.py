"""A search's settings (hydra.sweeper.*, hydra/sweeper=optuna_search), checked once and made
what they are on the launch's launcher: the one value (SearchSettings) that the sweep's checks,
the dry run's plan, the sweeper and its SLURM workers all read.

The sweep's callback (experiments/sweep/checks.py) builds it before any work, refusing bad
settings in one line; Hydra then builds the sweeper, handing it the callbacks it made
(HydraContext.callbacks), and the sweeper takes the value from the callback (`from_callbacks`)
instead of checking again. Its workers receive it pickled with the sweeper."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.sweep.kinds import forks_jobs
from experiments.sweep.search import warm_start
from experiments.sweep.search.by_name import (
    DEFAULT_PRUNER,
    built,
    check_pruning,
    check_settings,
    pruner_maker,
    sampler_class,
)
from experiments.sweep.search.objectives import AGGREGATES, Objective, checked, checked_limits, judged_each_epoch
from experiments.sweep.search.space import Space, inside, parse_space
from experiments.sweep.search.study import SearchError, definition
from experiments.sweep.search.trials import Numbering
from experiments.sweep.search.workers import submits_workers

log = logging.getLogger(__name__)


@dataclass
class OptunaSearchConf:
    """hydra/sweeper=optuna_search (registered by hydra_plugins/mnist_from_scratch/optuna_search.py)."""

    _target_: str = "hydra_plugins.mnist_from_scratch.optuna_search.OptunaSearch"
    # What to optimise: a number each run records (experiments/sweep/search/objectives.py), or a list of them for
    # a multi-objective study ([best_val_acc, parameters]); and its direction (a list: one per objective).
    objective: Any = "best_val_acc"
    direction: Any = "maximize"
    study_name: str = "search"
    # sqlite:///search.db (one machine), journal:///path/search.log (shared disk), postgresql://... or grpc://host:port
    storage: str | None = None
    n_trials: int = 20  # finished trials the study should hold, counting those of earlier launches
    timeout: float | None = None  # seconds after which no trial is asked (those running finish), as in Optuna
    n_jobs: int | None = None  # trials in flight at once; None = as many as the launcher runs
    # Ask n_jobs trials, wait for all of them, ask again (as hydra-optuna-sweeper does): slower, but the
    # sampler sees the results in the same order on every launch, so the same seed asks the same trials.
    batches: bool = False
    # On SLURM (hydra/launcher=slurm): wait for the workers, saying the study's progress; false: submit them
    # and return at once, saying how to follow the study.
    wait: bool = True
    sampler: dict = field(default_factory=lambda: {"name": "tpe", "seed": 0})
    # Stops losing trials after an epoch, judged on the objective's per-epoch metric: default | none | median |
    # halving | hyperband, with the Optuna pruner's own settings. default: hyperband where a search can prune
    # (one objective measured every epoch, jobs that report epochs), else none; the search's first line says which.
    pruner: dict = field(default_factory=lambda: {"name": DEFAULT_PRUNER})
    params: dict | None = None  # the search space: key -> an override value, e.g. "tag(log, interval(0.01, 1))"
    # Keys searched only under a condition on another searched key (experiments/sweep/search/space.py):
    # {optimizer.momentum: "optimizer=momentum,nesterov"}. Layer sizes hidden.0, hidden.1... need none.
    conditions: Any = None
    # Configurations to run first, each a dict of the space's keys ([{lr: 0.1, hidden: 128}]; a key left out
    # is drawn by the sampler); queued once per study: a launch again does not queue them again.
    enqueue: list | None = None
    # Folders of runs already on disk (earlier sweeps, searches, single runs) whose completed runs that fit this
    # search are added to its study as finished trials before the first ask (experiments/sweep/search/warm_start.py).
    warm_start: Any = None
    # Runs per trial, with seeds seed, seed+1, ... as parallel jobs; the trial's value is their `aggregate`:
    # mean, or confidence_bound (the pessimistic end of the mean's 95% interval, as compare computes it).
    seeds: int = 1
    aggregate: str = "mean"
    # Limits a trial must meet to count, on numbers a run records: {parameters: "<=50000", wall_time_s: "<=60"}
    # (experiments/results/limits.py). Told to Optuna as the trial's constraints (its samplers model them); an
    # infeasible trial is never the best, on the front or tied; one whose size alone breaks a limit is not trained.
    constraints: Any = None


SETTINGS = [f.name for f in dataclasses.fields(OptunaSearchConf) if f.name != "_target_"]


@dataclass(frozen=True)
class SearchSettings:
    """hydra.sweeper.* checked, with what they mean on this launcher."""

    study_name: str
    storage: str | None
    n_trials: int  # a grid sampler's: at most its number of points
    timeout: float | None  # seconds
    n_jobs: int | None
    batches: bool
    wait: bool
    objectives: list[tuple[Objective, str]]  # (objective, direction), one or more
    limits: list  # experiments/results/limits.Limit, the constraints
    sampler_name: str  # hydra.sweeper.sampler.name
    sampler_class: type
    sampler_settings: dict  # what the sampler class is built with (a grid's search_space included)
    pruner: dict  # the pruner this launcher gets: "default" made hyperband or none
    pruner_said: str  # which pruner runs, and why
    judged_column: str | None  # the metrics.csv column a pruner judges each epoch on (None: no pruning)
    fixed: list[str]  # the overrides every trial's jobs get (with several seeds, not `seed`)
    space: Space
    first_seed: int  # a trial's seeds are first_seed, first_seed + 1, ...
    seeds: int
    aggregate: str
    enqueue: list[dict]
    warm_folders: list[Path]
    workers: bool  # trials run by worker jobs on SLURM (workers.py), sharing the study through its storage

    @property
    def numbering(self) -> Numbering:
        return Numbering(self.seeds)

    @property
    def prunes(self) -> bool:
        return self.pruner.get("name", "none") != "none"

    def make_pruner(self):
        return pruner_maker(self.pruner)()

    def definition(self) -> dict:
        """What makes this search's study one search (experiments/sweep/search/study.py)."""
        return definition(self.objectives, self.sampler_name, self.space, self.limits)

    def seed_jobs(self, overrides: list[str]) -> list[list[str]]:
        """A trial's jobs: its overrides once per seed (itself alone with seeds=1)."""
        if self.seeds == 1:
            return [overrides]
        return [[*overrides, f"seed={self.first_seed + i}"] for i in range(self.seeds)]

    def with_storage(self, storage: str | None) -> SearchSettings:
        """These settings with another storage (a relative path anchored: study.anchored)."""
        return dataclasses.replace(self, storage=storage)

    @classmethod
    def from_callbacks(cls, hydra_context) -> SearchSettings | None:
        """The settings the sweep's callback built and checked before Hydra built the sweeper
        (its attribute `search`), or None without that callback (a sweeper in another app)."""
        callbacks = getattr(getattr(hydra_context, "callbacks", None), "callbacks", [])
        return next((c.search for c in callbacks if isinstance(getattr(c, "search", None), cls)), None)


def search_settings(given: Mapping, arguments: Sequence[str], config, launcher) -> SearchSettings:
    """hydra.sweeper's settings `given` checked, with the launch's overrides (`arguments`), its
    composed `config` (the seed) and its `launcher` (its config, or the instance Hydra made).
    Raises SearchError, in one line, for the first that cannot run."""
    given = {key: value for key, value in dict(given).items() if key != "_target_"}
    unknown = sorted(set(given) - set(SETTINGS))
    if unknown:
        raise SearchError(f"hydra.sweeper does not take {', '.join(unknown)}; it takes {', '.join(SETTINGS)}")
    s = {**{f.name: f.default for f in dataclasses.fields(OptunaSearchConf) if f.default is not dataclasses.MISSING},
         "sampler": {"name": "tpe"}, "pruner": {"name": DEFAULT_PRUNER}}  # fmt: skip
    s.update({key: value for key, value in given.items() if value is not None})  # null: the default
    check_numbers(s)
    objectives, limits = checked(s["objective"], s["direction"]), checked_limits(s["constraints"])
    sampler = dict(s["sampler"] or {"name": "tpe"})
    sampler_name = sampler.get("name", "tpe")
    sampler_settings = {key: value for key, value in sampler.items() if key != "name"}
    cls = sampler_class(sampler_name)
    check_settings(f"hydra.sweeper.sampler.name={sampler_name}", cls, sampler_settings)
    pruner = dict(s["pruner"] or {"name": DEFAULT_PRUNER})
    if pruner.get("name", DEFAULT_PRUNER) != DEFAULT_PRUNER:  # the default is chosen with the launcher
        pruner_maker(pruner)
    if len(objectives) > 1 and cls.__name__ == "CmaEsSampler":
        raise SearchError("hydra.sweeper.sampler.name=cmaes searches one objective: use tpe, nsga2, random or grid")
    fixed, space = parse_space(s["params"], arguments, s["conditions"])
    if not space:
        raise SearchError("nothing to search: give hydra.sweeper.params or a swept override (interval, choice)")
    fixed, first_seed = checked_seeds(s["seeds"], s["aggregate"], fixed, space, config)
    n_trials = s["n_trials"]
    if cls.__name__ == "GridSampler":
        n_trials = grid_points(space, sampler_settings, n_trials)
    built("hydra.sweeper.sampler", cls, sampler_settings)
    enqueue = [dict(configuration) for configuration in s["enqueue"] or []]
    check_queued(enqueue, space)
    workers = submits_workers(launcher) and not s["batches"]
    pruner, pruner_said = chosen_pruner(pruner, objectives, reports_epochs=forks_jobs(launcher) or workers)
    check_pruning(pruner, launcher, workers)
    if workers and s["storage"] is None:
        raise SearchError(
            "a search on SLURM runs its trials in worker jobs, which share the study through its storage: "
            "give hydra.sweeper.storage=journal:///path/on/the/shared/disk/search.log (or a database URL), "
            "or hydra.sweeper.batches=true to run batches of jobs from this process"
        )
    judged = judged_each_epoch(objectives, pruner["name"]) if pruner["name"] != "none" else None
    return SearchSettings(
        study_name=s["study_name"], storage=s["storage"], n_trials=n_trials, timeout=s["timeout"],
        n_jobs=s["n_jobs"], batches=s["batches"], wait=s["wait"], objectives=objectives, limits=limits,
        sampler_name=sampler_name, sampler_class=cls, sampler_settings=sampler_settings, pruner=pruner,
        pruner_said=pruner_said, judged_column=judged, fixed=fixed, space=space, first_seed=first_seed,
        seeds=s["seeds"], aggregate=s["aggregate"], enqueue=enqueue,
        warm_folders=warm_start.folders_of(s["warm_start"]), workers=workers,
    )  # fmt: skip


def check_numbers(s: dict) -> None:
    """n_trials, timeout and n_jobs, each of the kind and range it must be."""
    if isinstance(s["n_trials"], bool) or not (isinstance(s["n_trials"], int) and s["n_trials"] >= 1):
        raise SearchError(f"hydra.sweeper.n_trials={s['n_trials']!r} must be an integer >= 1")
    timeout = s["timeout"]
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise SearchError(f"hydra.sweeper.timeout={timeout!r} must be a number of seconds > 0, or null")
    if s["n_jobs"] is not None and not (isinstance(s["n_jobs"], int) and s["n_jobs"] >= 1):
        raise SearchError(f"hydra.sweeper.n_jobs={s['n_jobs']!r} must be an integer >= 1, or null")


def grid_points(space: Space, sampler_settings: dict, n_trials: int) -> int:
    """sampler grid: its points (sampler_settings' search_space, set here), and n_trials at most that many."""
    if any(not hasattr(dist, "choices") for dist in space.distributions.values()):
        raise SearchError("sampler grid searches choices and ranges only, not intervals")
    if space.conditions:
        raise SearchError("sampler grid searches every combination: a conditional space needs another sampler")
    sampler_settings["search_space"] = {key: list(dist.choices) for key, dist in space.distributions.items()}
    points = math.prod(len(dist.choices) for dist in space.distributions.values())
    if n_trials > points:
        log.info("the grid has %d points: n_trials=%d becomes %d", points, n_trials, points)
    return min(n_trials, points)


def checked_seeds(seeds, aggregate, fixed: list[str], space: Space, config) -> tuple[list[str], int]:
    """hydra.sweeper.seeds and .aggregate, checked; the fixed overrides without `seed` (with
    several seeds), and the first of a trial's seeds (the `seed` given, else the config's)."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise SearchError(f"hydra.sweeper.seeds={seeds!r} must be an integer >= 1 (runs per trial)")
    if aggregate not in AGGREGATES:
        raise SearchError(f"hydra.sweeper.aggregate={aggregate!r} is not one of {', '.join(AGGREGATES)}")
    if aggregate == "confidence_bound" and seeds < 2:
        raise SearchError("hydra.sweeper.aggregate=confidence_bound needs hydra.sweeper.seeds >= 2 (one has no spread)")
    if seeds > 1 and "seed" in space.distributions:
        raise SearchError("seed is searched, and hydra.sweeper.seeds gives each trial its own seeds: choose one")
    given = [line for line in fixed if line.startswith("seed=")]
    first_seed = int(given[-1].split("=", 1)[1]) if given else int((config or {}).get("seed") or 0)
    return (fixed if seeds == 1 else [line for line in fixed if not line.startswith("seed=")]), first_seed


def chosen_pruner(pruner: dict, objectives: list, reports_epochs: bool) -> tuple[dict, str]:
    """hydra.sweeper.pruner.name=default made what it is here, and why in words: hyperband
    (with any settings given) for one objective measured every epoch on jobs that report
    epochs, the fastest to the unpruned best in docs/performance.md; else none."""
    settings = dict(pruner)
    name = settings.pop("name", DEFAULT_PRUNER)
    if name != DEFAULT_PRUNER:
        return pruner, f"{name} (hydra.sweeper.pruner.name={name})"
    objective = objectives[0][0]
    if len(objectives) > 1:
        why_not = f"{len(objectives)} objectives cannot be pruned"
    elif objective.each_epoch is None:
        why_not = f"{objective.name} is known only at a run's end"
    elif not reports_epochs:
        why_not = "the launcher's jobs report no epochs (SLURM with hydra.sweeper.batches=true)"
    else:
        return {"name": "hyperband", **settings}, "hyperband (default; hydra.sweeper.pruner.name=none turns it off)"
    return {"name": "none"}, f"none ({why_not})"


def check_queued(queued: list[dict], space: Space) -> None:
    """Each configuration to run first (hydra.sweeper.enqueue) names keys of the space, with
    values inside it, and a conditional key only with a value of its condition that searches it;
    SearchError, in one line, for the first that does not."""
    for i, configuration in enumerate(queued):
        for key, value in configuration.items():
            where = f"hydra.sweeper.enqueue[{i}]: {key}={value}"
            if key not in space.distributions:
                raise SearchError(f"{where}: {key} is not searched (the space has {', '.join(space)})")
            dist = space.distributions[key]
            if not inside(dist, value):
                allowed = list(dist.choices) if hasattr(dist, "choices") else f"from {dist.low} to {dist.high}"
                raise SearchError(f"{where} is outside the search space: {key} is {allowed}")
            parent = space.conditions.get(key, (None,))[0]
            if parent in configuration and not space.active(key, configuration):
                values = ",".join(map(str, space.conditions[key][1]))
                given = f"{parent}={configuration[parent]}"
                raise SearchError(f"{where}: {key} is searched only when {parent}={values}, not {given}")
