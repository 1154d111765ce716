"""What a search optimises: one or several numbers a run records, each by name with its direction.

    hydra.sweeper.objective=best_val_loss hydra.sweeper.direction=minimize
    'hydra.sweeper.objective=[best_val_acc,parameters]' 'hydra.sweeper.direction=[maximize,minimize]'

A trial's value is read from its run's files once its job has ended: a number of result.json,
or the last epoch's value of a metrics.csv column. Several objectives make a multi-objective
study, whose answer is its Pareto front (the trials no other trial beats in every objective).
Pruning judges one number each epoch, so it needs one objective measured every epoch; Optuna
does not prune multi-objective studies, and neither do we (refused in one line). The test set
is never an objective: what is chosen on it is no longer a test.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from experiments.results.limits import Limit, parsed
from experiments.run.files import METRICS_COLUMNS, RunFolder, read_result
from experiments.run.record import RESULT_FIELDS
from experiments.sweep.search.study import SearchError, as_list

DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class Objective:
    """A number of a run a search can optimise.
    name : as the config names it.
    each_epoch : the metrics.csv column that follows it after every epoch (what pruning
        judges), or None when it is known only at the run's end.
    in_result : read from result.json (else: from metrics.csv, the last epoch's value).
    mean_of : the metrics.csv column whose mean over the run's epochs it is, if it is one."""

    name: str
    each_epoch: str | None
    in_result: bool = True
    mean_of: str | None = None


# What a search can optimise: the numbers result.json records that are objectives (run/record.py's
# RESULT_FIELDS say which, and the metrics.csv column that follows each), a metrics.csv column's last
# value, and the mean seconds of an epoch.
OBJECTIVES = {
    o.name: o
    for o in (
        *(Objective(f.name, f.each_epoch) for f in RESULT_FIELDS if f.objective),
        *(
            Objective(column, column, in_result=False)
            for column in METRICS_COLUMNS
            if column.endswith(("_acc", "_loss"))
        ),
        Objective("epoch_time_s", None, in_result=False, mean_of="epoch_time_s"),
    )
}
TEST_COLUMNS = ("test_acc", "test_loss")
# What a search optimises unless told otherwise, and what a grid's pruner judges.
VALIDATION_ACCURACY = [(OBJECTIVES["best_val_acc"], "maximize")]


def checked(objective, direction) -> list[tuple[Objective, str]]:
    """hydra.sweeper.objective and .direction, checked: each objective with its direction.
    Raises SearchError naming what is wrong and what is allowed."""
    names = as_list(objective) if objective is not None else []
    directions = as_list(direction) if direction is not None else []
    if not names:
        raise SearchError("hydra.sweeper.objective is empty: name what to optimise, e.g. best_val_acc")
    for name in names:
        if name in TEST_COLUMNS:
            raise SearchError(
                f"hydra.sweeper.objective={name} is a test-set number: a search that chooses on the test set leaves "
                "no test. Optimise a validation number (best_val_acc, best_val_loss, ...)"
            )
        if name not in OBJECTIVES:
            raise SearchError(f"hydra.sweeper.objective={name!r} is not one of {', '.join(OBJECTIVES)}")
    if len(set(names)) < len(names):
        raise SearchError(f"hydra.sweeper.objective={names} names an objective twice")
    if len(directions) == 1 and len(names) > 1:
        raise SearchError(
            f"hydra.sweeper.direction={directions[0]} is one direction for {len(names)} objectives: give one each, "
            f"e.g. hydra.sweeper.direction=[{','.join(['maximize'] * len(names))}]"
        )
    if len(directions) != len(names):
        raise SearchError(f"hydra.sweeper.direction has {len(directions)} directions for {len(names)} objectives")
    for d in directions:
        if d not in DIRECTIONS:
            raise SearchError(f"hydra.sweeper.direction={d!r} is not one of {', '.join(DIRECTIONS)}")
    return [(OBJECTIVES[name], d) for name, d in zip(names, directions)]


def checked_limits(constraints) -> list[Limit]:
    """hydra.sweeper.constraints ({name: "<=bound" or ">=bound"}), checked: the limits a trial
    must meet to count, each on a number an objective could be (a test number never: what is
    chosen on it is no longer a test). SearchError in one line for the first that is wrong."""
    if constraints is None:
        return []
    if not isinstance(constraints, Mapping):
        raise SearchError(
            f"hydra.sweeper.constraints={constraints!r} is not a mapping: write it as "
            "'hydra.sweeper.constraints={parameters: \"<=50000\"}'"
        )
    limits = []
    for name, bound in constraints.items():
        where = f"hydra.sweeper.constraints.{name}"
        if name in TEST_COLUMNS:
            raise SearchError(f"{where}: {name} is a test-set number: limit a validation number, the size or the time")
        if name not in OBJECTIVES:
            raise SearchError(f"{where}: {name!r} is not a number a run records; one of {', '.join(OBJECTIVES)}")
        try:
            limits.append(parsed(str(bound), name))
        except ValueError as error:
            raise SearchError(f"{where}={bound}: {error}") from None
    return limits


def judged_each_epoch(objectives: list[tuple[Objective, str]], pruner: str) -> str:
    """The metrics.csv column a pruner judges each epoch; SearchError when it cannot prune these objectives."""
    if len(objectives) > 1:
        raise SearchError(
            f"hydra.sweeper.pruner.name={pruner} with {len(objectives)} objectives: Optuna prunes single-objective "
            "studies only; search without a pruner, or optimise one objective"
        )
    objective, _ = objectives[0]
    if objective.each_epoch is None:
        raise SearchError(
            f"hydra.sweeper.pruner.name={pruner} judges every epoch, and hydra.sweeper.objective="
            f"{objective.name} is known only at a run's end: search without a pruner, or optimise "
            f"{', '.join(o.name for o in OBJECTIVES.values() if o.each_epoch)}"
        )
    return objective.each_epoch


def values_of(run_dir: Path, objectives: list[tuple[Objective, str]]) -> list[float] | None:
    """The objectives' values for the run in `run_dir`, from its files; None when one of them
    is missing or not a finite number (the trial is told as failed)."""
    result = read_result(run_dir) or {}
    epochs = None
    values = []
    for objective, _ in objectives:
        if objective.in_result:
            value = result.get(objective.name)
        else:
            if epochs is None:
                try:
                    epochs = RunFolder(run_dir).epochs()
                except (OSError, ValueError, KeyError):
                    epochs = []
            if objective.mean_of:
                column = [float(epoch[objective.mean_of]) for epoch in epochs if objective.mean_of in epoch]
                value = sum(column) / len(column) if column else None
            else:
                value = epochs[-1].get(objective.each_epoch) if epochs else None
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(value):
            return None
        values.append(value)
    return values


SEED_VALUES = "seed_values"  # a trial's user attribute: each seed's objective values, with seeds > 1
AGGREGATES = ("mean", "confidence_bound")


def combined(values, direction: str, aggregate: str) -> float:
    """A trial's value from its seeds': their mean, or (confidence_bound) the pessimistic end of
    the mean's 95% interval (Student's t, as compare's ci95): below it when maximising."""
    from experiments.results.ranking import ci95_half_width

    mean = statistics.fmean(values)
    if aggregate == "mean" or len(values) < 2:
        return mean
    half = float(ci95_half_width(statistics.stdev(values), len(values)))
    return mean - half if direction == "maximize" else mean + half


def aggregated(seeds: list[list[float]], objectives: list, aggregate: str) -> list[float]:
    """A trial's objectives' values from its seeds' (one list of values per seed): each objective's
    `aggregate` over the seeds, in its own direction."""
    return [combined(column, direction, aggregate) for column, (_, direction) in zip(zip(*seeds), objectives)]
