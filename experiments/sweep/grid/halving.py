"""Synchronous successive halving over a grid (-m lr=0.05,0.1,0.5 hidden=32,64 hydra.sweeper.pruner.name=halving).

Every configuration of the grid trains to the first rung (`min_resource` epochs, 1 by
default) and pauses there. Once all of them have, they are judged together: the best
1/`reduction_factor` (3 by default, rounded up) go on, from their checkpoints, to the next
rung (min_resource x reduction_factor epochs), the others are pruned; and so on while at
least `reduction_factor` configurations are left and the next rung comes before the last
epoch. The survivors then train every epoch. It is scikit-learn's HalvingGridSearchCV
with epochs as the resource: the grid's 27 configurations x 9 epochs are judged at epochs
1 and 3, and 3 of them run all 9.

Asynchronous halving (Optuna's pruner, which searches use) judges a job against the jobs
that reached the same epoch before it, so on a grid the first jobs to finish decide which
are stopped; here no configuration is judged before every other has reached its epoch.

- A configuration is a job's overrides without its seed (nor the keys that do not change
  what is trained: experiments.results.runs.NOT_A_CONFIGURATION): its seeds are judged
  together, by the mean of their values.
- A run's value at a rung is its objective over the epochs up to the rung, as the grid
  ranks runs at the end (files.objective: the validation accuracy of its epoch of lowest
  validation loss); 0.0 for a run without one (it failed).
- Between rungs a run is paused (status paused, its checkpoint kept); the rung's losers
  are then marked pruned, with why (result.json's `pruned_by`), and the survivors resumed.
  What the halving decides is read from the run folders, so a sweep interrupted anywhere
  resumes (resume=true) to the same decisions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

from experiments.run.files import (
    RunFolder,
    Status,
    epoch_summary,
    objective,
    prune_stopped,
    read_result,
)
from experiments.run.reporting import Verdict
from experiments.sweep.search.study import SearchError

log = logging.getLogger(__name__)

SETTINGS = {"min_resource": 1, "reduction_factor": 3}  # the settings it takes, with their defaults
FINISHED = (Status.COMPLETED, Status.PRUNED, Status.DIVERGED)  # never trained further


def settings_of(pruner: dict, grid, epochs) -> dict:
    """The halving's settings from hydra.sweeper.pruner (name=halving and what it takes),
    checked against the grid they are to halve. Raises SearchError naming what is wrong."""
    given = {key: value for key, value in pruner.items() if key != "name"}
    unknown = sorted(set(given) - set(SETTINGS))
    if unknown:
        raise SearchError(
            f"hydra.sweeper.pruner.name=halving over a grid does not take {', '.join(unknown)}; "
            f"it takes {', '.join(SETTINGS)}"
        )
    settings = {**SETTINGS, **given}
    for key, least in (("min_resource", 1), ("reduction_factor", 2)):
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise SearchError(f"hydra.sweeper.pruner.{key}={value!r} must be an integer >= {least}")
    if len(grid.choices.get("epochs", ())) > 1:
        raise SearchError("successive halving spends epochs as its budget: epochs cannot be swept with it")
    count = len(configurations(grid))
    if not rungs(count, epochs, **settings):
        raise SearchError(
            f"nothing to halve: {count} configuration(s) of {epochs} epochs, "
            f"first rung at epoch {settings['min_resource']}, reduction_factor {settings['reduction_factor']}; "
            "halving needs at least reduction_factor configurations and a rung before the last epoch"
        )
    return settings


def schedule(count: int, epochs: int, min_resource: int, reduction_factor: int) -> list[tuple[int, int]]:
    """Each rung with how many of `count` configurations go on from it: rungs at min_resource x
    reduction_factor^i while at least reduction_factor configurations are left and the rung
    comes before `epochs`; the best ceil(left / reduction_factor) go on from each."""
    steps, left, rung = [], count, min_resource
    while left >= reduction_factor and rung < epochs:
        left = math.ceil(left / reduction_factor)
        steps.append((rung, left))
        rung *= reduction_factor
    return steps


def rungs(count: int, epochs: int, min_resource: int, reduction_factor: int) -> list[int]:
    """The epochs at which the configurations still in are judged (6 configurations, 10 epochs,
    1 and 3: [1]; 27, 9, 1 and 3: [1, 3])."""
    return [rung for rung, _ in schedule(count, epochs, min_resource, reduction_factor)]


def plan_in_words(count: int, epochs: int, settings: dict) -> str:
    """What halving `count` configurations of `epochs` will do, in a line: its rungs and how many go on at each."""
    steps = [f"judged at epoch {rung}, {left} go on" for rung, left in schedule(count, epochs, **settings)]
    return f"successive halving: {', '.join([f'{count} configurations', *steps])} to epoch {epochs}"


def configurations(grid) -> dict[tuple, list[int]]:
    """The grid's jobs by configuration (their positions in every key but the seed's), in job order."""
    from experiments.results.ranking import NOT_A_CONFIGURATION

    judged = [i for i, key in enumerate(grid.choices) if key.lstrip("+~") not in NOT_A_CONFIGURATION]
    grouped: dict[tuple, list[int]] = {}
    for number in range(len(grid)):
        positions = grid.positions(number)
        grouped.setdefault(tuple(positions[i] for i in judged), []).append(number)
    return grouped


class PauseAt:
    """The launcher's judge: every job pauses after the current rung's epoch (none at the last)."""

    def __init__(self):
        self.rung: int | None = None

    def __call__(self, number: int, epoch: int, row: dict, last: int | None = None) -> Verdict:
        return Verdict.PAUSE if self.rung is not None and epoch >= self.rung else Verdict.GO_ON


def value_at(run_dir: Path, rung: int) -> float:
    """A run's objective over its epochs up to `rung`; 0.0 without one."""
    try:
        return objective(epoch_summary(RunFolder(run_dir).epochs(rung)))
    except (OSError, ValueError, KeyError):
        return 0.0


def halve(launcher, grid, settings: dict, epochs: int, resumed: bool) -> Sequence:
    """Run `grid` with synchronous successive halving on `launcher` (its jobs()); the
    JobReturns of every job's last launch, in job order."""
    grouped = configurations(grid)
    judged_at = rungs(len(grouped), epochs, **settings)
    log.info("%s (%d jobs)", plan_in_words(len(grouped), epochs, settings), len(grid))
    alive = list(grouped)
    judge = PauseAt()
    ended: set[int] = set()  # jobs that ended for good in this launch (a failed one is not retried)
    with launcher.jobs(judge) as running:
        folder = {n: running.run_folder(grid[n], n) for n in range(len(grid))}
        for rung in [*judged_at, None]:
            judge.rung = rung
            for key in alive:
                for number in grouped[key]:
                    result = read_result(folder[number])
                    if number in ended or not to_train(result, rung):
                        continue
                    while not running.free:
                        ended |= collect(running, folder)
                    again = ["resume=true"] if (result or RunFolder(folder[number]).metrics_file.is_file()) else []
                    running.submit([*grid[number], *([] if resumed else again)], number)
            while running.pending:
                ended |= collect(running, folder)
            if rung is not None and not running.stopped:
                going_on = judge_rung(alive, grouped, folder, rung, settings["reduction_factor"])
                running.count_done(sum(len(grouped[key]) for key in alive if key not in going_on))
                alive = going_on
        return running.returns  # in job order, each job's last (experiments/sweep/launch/returns.py)


def to_train(result: dict | None, rung: int | None) -> bool:
    """Whether a run must train (on) to `rung` (None: to its last epoch)."""
    if result is None:
        return True
    if result.get("status") in FINISHED:
        return False
    return rung is None or (result.get("epochs_completed") or 0) < rung


def collect(running, folder: dict) -> set[int]:
    """Wait for the next job to end; {its number} if it ended for good (not paused), else {}."""
    number, _ = running.next_result()
    return set() if (read_result(folder[number]) or {}).get("status") == Status.PAUSED else {number}


def judge_rung(alive: list, grouped: dict, folder: dict, rung: int, reduction_factor: int) -> list:
    """Rank the configurations still in by their seeds' mean value at `rung`; prune the
    paused runs of all but the best 1/reduction_factor (rounded up), which are returned."""
    values = {key: sum(value_at(folder[n], rung) for n in grouped[key]) / len(grouped[key]) for key in alive}
    ranked = sorted(alive, key=lambda key: -values[key])  # ties: the grid's order
    keep = math.ceil(len(alive) / reduction_factor)
    for rank, key in enumerate(ranked[keep:], keep + 1):
        why = (
            f"successive halving at epoch {rung}: ranked {rank} of {len(alive)} configurations "
            f"(value {values[key]:.4f}, the mean of {len(grouped[key])} run(s)); the best {keep} went on"
        )
        for number in grouped[key]:
            prune_stopped(folder[number], why)
    best = values[ranked[0]]
    log.info(
        "successive halving at epoch %d: %d of %d configurations go on (values %.4f down to %.4f), %d pruned",
        rung, keep, len(alive), best, values[ranked[keep - 1]], len(alive) - keep,
    )  # fmt: skip
    going_on = set(ranked[:keep])
    return [key for key in alive if key in going_on]
