"""The search's one loop: ask a trial the moment a worker of the launcher is free, start its
seeds, judge it after each epoch (trials.SeedsJudge), tell it the moment its jobs end
(trials.tell), until the study holds n_trials; or, on a launcher without jobs() (SLURM with
batches), a batch at a time. Trials cut short in this folder go first."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from experiments.run import exits
from experiments.run.components import architecture, published_shape
from experiments.sweep.kinds import forks_jobs
from experiments.sweep.search import warm_start
from experiments.sweep.search.holders import HOLDER, SWEEP_DIR, cut_short_trials, held_trials, orphaned_trials
from experiments.sweep.search.settings import SearchSettings
from experiments.sweep.search.study import asking_alone, launch_number
from experiments.sweep.search.trials import INFEASIBLE, InFlight, SeedsJudge, tell

log = logging.getLogger(__name__)


class SearchLoop:
    """One launch's trials (or one SLURM worker's): asked, run on `launcher` and told until the
    study holds n_trials or the deadline passes. `compose(overrides)` is a trial's whole config
    as Hydra composes it; `holder` the lock file whose holder runs the trials (the launch's,
    or the worker's); `resumed` whether the launch resumes every job already (resume=true)."""

    def __init__(self, settings: SearchSettings, launcher, compose, sweep_dir: Path, holder: str,
                 deadline: float, resumed: bool):  # fmt: skip
        self.settings, self.launcher, self.compose = settings, launcher, compose
        self.sweep_dir, self.holder, self.deadline, self.resumed = sweep_dir, holder, deadline, resumed
        self.told = 0  # trials this loop told the study

    def run(self, study) -> int:
        """Ask, run and tell trials in this process (on its launcher) until the study holds
        n_trials; how many this loop told."""
        s = self.settings
        study.pruner = s.make_pruner()
        cut = cut_short_trials(study, self.sweep_dir, self.holder, continues=forks_jobs(self.launcher))
        if study.trials:
            warm = sum(warm_start.FROM_RUN in trial.user_attrs for trial in study.get_trials(deepcopy=False))
            log.info("study %s in %s holds %d trials of n_trials=%d%s%s",
                     s.study_name, s.storage, held_trials(study), s.n_trials,
                     f" (besides the {warm} a warm start added)" if warm else "",
                     f"; first the {len(cut)} this sweep's last launch cut short" if cut else "")  # fmt: skip
        sampler_settings = dict(s.sampler_settings)
        if (
            s.sampler_class.__name__ != "GridSampler"
        ):  # the grid's seed is the order of its points, which every launch shares
            sampler_settings["seed"] = launch_seed(sampler_settings.get("seed"), launch_number(study, s.storage))
        study.sampler = s.sampler_class(**sampler_settings)
        if forks_jobs(self.launcher):
            self.ask_and_tell(study, cut)
        else:
            self.in_batches(study)
        return self.told

    def to_ask(self, study) -> int:
        """How many more trials to ask: n_trials less those the study holds (finished, or running
        in a launch that is alive, this one's included: several launches share one n_trials),
        and none once the timeout has passed (said once)."""
        wanted = max(0, self.settings.n_trials - held_trials(study))
        if not wanted or time.monotonic() < self.deadline:
            return wanted
        if self.deadline != -math.inf:
            log.info("hydra.sweeper.timeout=%s s passed: no further trial is asked", self.settings.timeout)
            self.deadline = -math.inf
        return 0

    def overrides(self, trial, continued: bool = False) -> list[str]:
        """A trial's job's overrides; one that continues a trial cut short resumes its run (a launch
        with resume=true resumes every job already)."""
        resume = ["resume=true"] if continued and not self.resumed else []
        return [*self.settings.fixed, *self.settings.space.overrides(trial.params), *resume]

    def ask_and_tell(self, study, cut: list) -> None:
        """Each trial asked as a worker frees up and told as its jobs end (one per seed,
        numbered by trials.Numbering). A trial's seeds start before any new trial does, each
        as a worker frees; with a pruner, a trial is judged after each epoch on its seeds' mean
        (trials.SeedsJudge), and a pruned trial's seeds not started never start. With
        `batches`, the next trials are asked only once every trial in flight has ended. The
        trials in `cut` (this sweep's, cut short) go first, and then any of this sweep's whose
        worker is gone (workers.py): each continues in its own folders, from its checkpoints,
        with its own parameters and number, and is told as any other."""
        s = self.settings
        in_flight: dict[int, InFlight] = {}  # trial number -> what is known of it so far
        judge = SeedsJudge(in_flight, s.numbering, s.judged_column) if s.prunes else None
        with self.launcher.jobs(judge) as jobs:
            at_once = s.n_jobs or math.inf
            unstarted = lambda: any(flight.next_seed() is not None for flight in in_flight.values())  # noqa: E731
            while cut or jobs.pending or unstarted() or self.to_ask(study):
                self.start_seeds(jobs, in_flight)  # the seeds of the trials in flight first
                filling = not (s.batches and in_flight)  # with batches, only once the last batch has ended
                while filling and jobs.free and len(in_flight) < at_once:
                    with asking_alone(s.storage):  # counted and asked before another launch counts
                        trial, continued = self.next_trial(study, cut, in_flight)
                    if trial is None:
                        break
                    if not continued and self.set_aside(study, trial):
                        continue
                    in_flight[trial.number] = InFlight(trial, s.seed_jobs(self.overrides(trial, continued)))
                    self.start_seeds(jobs, in_flight)
                if not jobs.pending:
                    break
                number, returned = jobs.next_result()
                flight = in_flight[s.numbering.trial_of(number)]
                flight.returns[s.numbering.seed_of(number)] = returned
                if flight.ended:
                    tell(study, in_flight.pop(flight.number), s.objectives, s.aggregate, limits=s.limits)
                    self.told += 1

    def start_seeds(self, jobs, in_flight: dict) -> None:
        """Submit the seeds not started of the trials in flight, oldest trial first, while a
        worker is free for each (so each starts at once: none waits in the launcher's queue,
        where a verdict could no longer keep it from starting)."""
        for flight in in_flight.values():
            while jobs.free and (seed := flight.next_seed()) is not None:
                flight.started.add(seed)
                jobs.submit(flight.jobs[seed], self.settings.numbering.job(flight.number, seed))

    def set_aside(self, study, trial) -> bool:
        """A new trial whose network's size alone breaks a limit on `parameters` is not trained:
        told PRUNED (so the sampler learns the region is no good) with the limit it breaks
        (user attribute INFEASIBLE), said, and counted toward n_trials. False for any other."""
        import optuna

        limit = next((limit for limit in self.settings.limits if limit.name == "parameters"), None)
        if limit is None:
            return False
        overrides = self.settings.space.overrides(trial.params)
        size = parameters_of(self.compose([*self.settings.fixed, *overrides]))
        if size is None or limit.allows(size):
            return False
        why = limit.broken_by(size)
        trial.set_user_attr(INFEASIBLE, why)
        trial.set_constraint(limit.name, limit.excess(size))
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        exits.command.set_aside += 1
        log.info("trial %d not trained, its size breaks the limit: %s (%s)", trial.number, why, " ".join(overrides))
        return True

    def next_trial(self, study, cut: list, in_flight: dict):
        """The next trial to run, and whether it continues one cut short: the first of `cut`,
        else one of this sweep's whose holder is gone (a worker's: workers.py), else a new one
        while the study wants more; (None, False) when none. Called under asking_alone."""
        import optuna

        if not cut:
            cut = orphaned_trials(study, self.sweep_dir, in_flight)[:1]
        if cut:  # FrozenTrial has no public id; Trial(study, id) is how Optuna itself reopens one
            trial = optuna.trial.Trial(study, cut.pop(0)._trial_id)
            trial.set_user_attr(HOLDER, self.holder)
            return trial, True
        if not self.to_ask(study):
            return None, False
        trial = self.settings.space.ask(study)
        trial.set_user_attr(SWEEP_DIR, str(self.sweep_dir))
        trial.set_user_attr(HOLDER, self.holder)
        return trial, False

    def in_batches(self, study) -> None:
        """For a launcher without jobs() (SLURM through submitit): n_jobs trials at a time."""
        s = self.settings
        while wanted := self.to_ask(study):
            with asking_alone(s.storage):
                trials = [s.space.ask(study) for _ in range(min(s.n_jobs or 1, wanted))]
                for trial in trials:
                    trial.set_user_attr(SWEEP_DIR, str(self.sweep_dir))
            trials = [trial for trial in trials if not self.set_aside(study, trial)]
            if not trials:
                continue
            flights = [InFlight(trial, s.seed_jobs(self.overrides(trial))) for trial in trials]
            batch = [jobs for flight in flights for jobs in flight.jobs]
            first = s.numbering.job(trials[0].number)
            returns = list(self.launcher.launch(batch, initial_job_idx=first))
            for flight in flights:
                for seed in range(s.seeds):
                    flight.returns[seed] = returns[s.numbering.job(flight.number, seed) - first]
                tell(study, flight, s.objectives, s.aggregate, limits=s.limits)
                self.told += 1


def launch_seed(seed: int | None, launch: int) -> int | None:
    """The sampler's seed in the study's launch number `launch` (0 for the first): a seed of its
    own for each launch after the first, so as never to ask the trials already asked, or asked at
    this moment by a launch beside it, again. None (unseeded) stays None."""
    if seed is None or launch == 0:
        return seed
    return seed * 1_000_003 + 500_009 * launch


def parameters_of(config) -> int | None:
    """The trainable numbers of the network a composed config describes, before any data is
    read (None for a data set whose shape only its files know)."""
    shape = published_shape(config)
    return None if shape is None else architecture(config, shape).n_parameters()
