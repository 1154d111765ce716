"""A trial of a search: one configuration the search asked for, its seeds' jobs, their runs, and
its fate (completed with a value, pruned at an epoch, failed, or cut short and continued later).

Everything the search loop (loop.py), a pruned grid (grid/sweeper.py) and the readers need to know
about a trial is here, read and written in one place:

- the numbering: trial t's seed i is job t x seeds + i (`Numbering`), whose folder starts with
  that number;
- a trial in flight (`InFlight`): which of its seeds started, which ended, what each reported
  after each epoch, and whether a pruner stopped it;
- the judge (`SeedsJudge`): after each epoch a trial is judged on the mean of its seeds that
  reached the epoch, as soon as every seed still running has reached it (a seed not started
  yet does not hold the verdict back; one that started later goes on past epochs already
  judged). A seed waits at each epoch for its trial's verdict, so the running seeds go in
  step; once pruned, each stops there and the seeds not started never start;
- telling Optuna (`tell`) and recording the trial's fate in each of its runs' result.json
  (`TRIAL_KEY`), so that a reader of the run files ranks a trial as the search judged it:
  a seed that finished all its epochs in a pruned trial is a seed of a pruned trial.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.utils import JobStatus

from experiments.run.files import RunFolder, Status, read_result, result_json, write_aside
from experiments.run.record import TRIAL_KEY, TrialState
from experiments.run.reporting import Verdict
from experiments.sweep.search.objectives import OBJECTIVES, SEED_VALUES, aggregated, values_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Numbering:
    """Job numbers of a search whose trials run `seeds` jobs each: trial t's seed i is job t x seeds + i."""

    seeds: int = 1

    def job(self, trial: int, seed: int = 0) -> int:
        return trial * self.seeds + seed

    def trial_of(self, job: int) -> int:
        return job // self.seeds

    def seed_of(self, job: int) -> int:
        return job % self.seeds


@dataclass
class InFlight:
    """A trial being run: its Optuna trial, its jobs' overrides (one per seed, in seed order),
    and what is known of its seeds so far."""

    trial: object  # optuna.Trial
    jobs: list  # overrides per seed
    started: set = field(default_factory=set)  # seed indices whose jobs were submitted
    returns: dict = field(default_factory=dict)  # seed index -> its JobReturn, as each ended
    reported: dict = field(default_factory=dict)  # epoch -> {seed index: value}, not judged yet
    judged: set = field(default_factory=set)  # epochs Optuna was told of
    pruned_at: int | None = None  # the epoch at which the pruner stopped it
    last_epoch: int | None = None  # its runs' last epoch (as they report it): never pruned there

    @property
    def number(self) -> int:
        return self.trial.number

    def running(self) -> set:
        return self.started - set(self.returns)

    def next_seed(self) -> int | None:
        """The first seed not started, while the trial may still start seeds (not pruned)."""
        if self.pruned_at is not None:
            return None
        return next((i for i in range(len(self.jobs)) if i not in self.started), None)

    @property
    def ended(self) -> bool:
        """Every seed that will ever run has ended (a pruned trial's unstarted seeds never run)."""
        return not self.running() and self.next_seed() is None


class SeedsJudge:
    """The launcher's judge (jobs(judge)) of a search with a pruner: each job reports the
    `column` of every epoch (its metrics.csv row); its trial is told the mean over the seeds
    that reached an epoch once every seed still running has, and the pruner decides. A seed
    waits at each epoch for that verdict (the launcher holds its answer), so a trial's running
    seeds go in step and none trains past an epoch its trial was pruned at."""

    def __init__(self, in_flight: dict, numbering: Numbering, column: str = "val_acc"):
        self.in_flight = in_flight  # trial number -> InFlight, filled in by the search as it asks
        self.numbering, self.column = numbering, column
        self.waiting: dict[int, int] = {}  # job number -> the epoch whose verdict it waits for

    def __call__(self, number: int, epoch: int, row: dict, last: int | None = None) -> Verdict | None:
        """The verdict on job `number`'s `epoch` (of `last`), or None while its trial's other
        running seeds have not reached it."""
        trial = self.in_flight[self.numbering.trial_of(number)]
        trial.last_epoch = last
        if trial.pruned_at is None and epoch not in trial.judged:
            trial.reported.setdefault(epoch, {})[self.numbering.seed_of(number)] = row[self.column]
            self.judge(trial)
        verdict = self.verdict(trial, epoch)
        if verdict is None:
            self.waiting[number] = epoch
        return verdict

    def answers(self, waiting: set[int]):
        """(job number, Verdict) for each of the `waiting` jobs whose epoch is now judged: a seed
        of its trial ended, which may leave every running seed at the epoch."""
        for number in sorted(waiting):
            trial = self.in_flight.get(self.numbering.trial_of(number))
            if trial is None:
                continue
            self.judge(trial)
            verdict = self.verdict(trial, self.waiting[number])
            if verdict is not None:
                del self.waiting[number]
                yield number, verdict

    @staticmethod
    def verdict(trial: InFlight, epoch: int) -> Verdict | None:
        if trial.pruned_at is not None:
            return Verdict.PRUNE
        return Verdict.GO_ON if epoch in trial.judged else None

    def judge(self, trial: InFlight) -> None:
        """Tell the pruner each epoch, in order, that every running seed of `trial` has reported."""
        running = trial.running()
        for epoch in sorted(trial.reported):
            values = trial.reported[epoch]
            if not running <= set(values):
                return  # a seed still running has not reached it: later epochs wait too
            del trial.reported[epoch]
            trial.judged.add(epoch)
            trial.trial.report(sum(values.values()) / len(values), epoch)
            if epoch != trial.last_epoch and trial.trial.should_prune():  # at its last, stopping saves nothing
                trial.pruned_at = epoch
                trial.reported.clear()
                return


def tell(
    study, flight: InFlight, objectives: list, aggregate: str = "mean", record: bool = True, limits: list = ()
) -> str:
    """Tell Optuna how a trial's jobs ended, from its runs' files, and record its fate in each
    of its runs' result.json; what was told ('completed', 'pruned', 'failed'), or 'cut short'.

    PRUNED if the pruner stopped it (or a run says pruned); else its objectives' values, each the
    `aggregate` of its seeds' (objectives.py); FAIL if one of its jobs failed, died or recorded no
    finite number for an objective. A job killed by a signal while its launch went on (the
    out-of-memory killer's SIGKILL) failed, and its trial with it, in the study as in its
    result.json: run again, it would die again. A trial with a job interrupted (Ctrl-C or SIGTERM
    to the launch, a worker preempted or killed: its result.json says so), or that ended without
    a result.json at all (a full disk, where not even its death could be written), is not told:
    it stays RUNNING, and resuming the sweep, or another worker, continues it from its checkpoints.
    `limits` (hydra.sweeper.constraints: results.limits.Limit): each is told as the trial's
    constraint, its value the mean of its seeds'; a trial that breaks one is recorded
    infeasible, by how much. `record`: False for a grid's jobs judged as trials of a
    study in memory (grid.py), which are no search's trials."""
    import optuna

    seeds = sorted(flight.returns)
    run_dirs = [Path(flight.returns[i].hydra_cfg.hydra.runtime.output_dir) for i in seeds]
    results = [read_result(run_dir) for run_dir in run_dirs]
    if any(result is None or result.get("status") == Status.INTERRUPTED for result in results):
        return "cut short"  # a job whose end could not even be recorded (a full disk) too: a resume continues it
    pruned_runs = [r for r in results if (r or {}).get("status") == Status.PRUNED]
    fate = {"number": flight.number, "study": study.study_name}
    values = None
    if flight.pruned_at is not None or pruned_runs:
        at = flight.pruned_at if flight.pruned_at is not None else pruned_runs[0].get("epochs_completed")
        fate.update(state=TrialState.PRUNED, pruned_at_epoch=at)
    else:
        measured = [*objectives, *((OBJECTIVES[limit.name], "minimize") for limit in limits)]
        values = [
            values_of(run_dir, measured) if flight.returns[i].status == JobStatus.COMPLETED else None
            for i, run_dir in zip(seeds, run_dirs)
        ]
        fate.update(state=TrialState.FAILED if any(v is None for v in values) else TrialState.COMPLETED)
    try:
        if fate["state"] == TrialState.PRUNED:
            study.tell(flight.trial, state=optuna.trial.TrialState.PRUNED)
        elif fate["state"] == TrialState.FAILED:
            study.tell(flight.trial, state=optuna.trial.TrialState.FAIL)
        else:
            n = len(objectives)
            if len(values) > 1:
                flight.trial.set_user_attr(SEED_VALUES, [v[:n] for v in values])  # for the trials tied with the best
            if broken := constrain(flight.trial, limits, [v[n:] for v in values]):
                fate["infeasible"] = broken
            study.tell(flight.trial, aggregated([v[:n] for v in values], objectives, aggregate))
    except RuntimeError as error:
        # The grid sampler calls study.stop() once every point was tried, which Optuna allows
        # only inside study.optimize(); the trial is told all the same, and the search asks no more.
        if "Study.stop" not in str(error):
            raise
    if record:
        record_fate(run_dirs, results, fate)
    return fate["state"].value


def constrain(trial, limits: list, seeds: list[list[float]]) -> str | None:
    """Tell the trial's constraints (each limit's excess over the mean of its seeds' values:
    > 0 breaks it, Optuna's convention); the limits it breaks, in words, or None."""
    means = [sum(column) / len(column) for column in zip(*seeds)]
    for limit, value in zip(limits, means):
        trial.set_constraint(limit.name, limit.excess(value))
    broken = [limit.broken_by(value) for limit, value in zip(limits, means) if not limit.allows(value)]
    return "; ".join(broken) or None


def record_fate(run_dirs: list[Path], results: list, record: dict) -> None:
    """Write the trial's `record` into each of its runs' result.json (atomically; the sweep is
    the folder's one writer now that the run's job has ended). A run without a result.json (a
    full disk) is left as it is: its reader says so."""
    for run_dir, result in zip(run_dirs, results):
        if result is None:
            continue
        try:
            write_aside(RunFolder(run_dir).result_file, result_json({**result, TRIAL_KEY: record}))
        except OSError as error:
            log.warning("trial %d: could not record its fate in %s (%s)", record["number"], run_dir, error)


INFEASIBLE = "infeasible"  # a trial's user attribute: the limit its size broke, for which it was not trained
