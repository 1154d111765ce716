"""Searches with Optuna (hparams_search=optuna; hydra/sweeper=optuna_search).

    python -m experiments.train hparams_search=optuna data=digits
    python -m experiments.train hparams_search=optuna 'lr=tag(log, interval(0.01, 1))' hidden=choice(64,128)

The search space is written in Hydra's override grammar, in the sweeper's
`params` or on the command line: `interval(a, b)` (a float, or an int when both
ends are ints), `tag(log, interval(a, b))` (on a log scale), `choice(a, b, c)`
or `a,b,c` (one of them), `range(start, stop, step)` (ints). Plain overrides
are passed to every trial.

Ask and tell: each trial is asked from the study the moment a worker of the
launcher is free and told the moment its job ends (on the default launcher,
through its jobs(); on SLURM, by worker jobs that each ask, run and tell trials in
turn: experiments/sweep/workers.py), so no trial waits for a batch and the sampler
sees every result as it arrives. A job that failed or died is told as FAIL; its
result.json says why.

With a storage (a SQLite file, `sqlite:///search.db`, on one machine; Optuna's
journal file, `journal:///shared/search.log`, on a cluster's shared disk) every
finished trial is kept: launched again, a search continues toward its
n_trials, counting the trials already finished and numbering its jobs after
the study's trials, and its sampler is seeded anew (from `seed` and the launch's
number, counted in the study) so that it never repeats the trials it had already
asked. Two launches with one storage share the study, each with a seed of its own.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf

from experiments.run import exits
from experiments.run.exits import ExitCode
from experiments.run.files import SWEEP_LOCK_FILE, folder_in_use, save_sweep_config
from experiments.run.resume import continue_command
from experiments.sweep import warm_start
from experiments.sweep.by_name import (
    DEFAULT_PRUNER,
    built,
    check_pruning,
    check_settings,
    pruner_maker,
    sampler_class,
)
from experiments.sweep.kinds import forks_jobs
from experiments.sweep.objectives import AGGREGATES, SEED_VALUES, checked, checked_limits, judged_each_epoch
from experiments.sweep.space import Space, flat, inside, parse_space
from experiments.sweep.study import (
    SearchError,
    anchored,
    asking_alone,
    definition,
    in_words,
    launch_number,
    open_study,
)
from experiments.sweep.trials import InFlight, Numbering, SeedsJudge, tell
from experiments.sweep.workers import WORKER_LOCK, submits_workers

log = logging.getLogger(__name__)


@dataclass
class OptunaSearchConf:
    """hydra/sweeper=optuna_search (registered by hydra_plugins/mnist_from_scratch/optuna_search.py)."""

    _target_: str = "hydra_plugins.mnist_from_scratch.optuna_search.OptunaSearch"
    # What to optimise: a number each run records (experiments/sweep/objectives.py), or a list of them for
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
    # Keys searched only under a condition on another searched key (experiments/sweep/space.py):
    # {optimizer.momentum: "optimizer=momentum,nesterov"}. Layer sizes hidden.0, hidden.1... need none.
    conditions: Any = None
    # Configurations to run first, each a dict of the space's keys ([{lr: 0.1, hidden: 128}]; a key left out
    # is drawn by the sampler); queued once per study: a launch again does not queue them again.
    enqueue: list | None = None
    # Folders of runs already on disk (earlier sweeps, searches, single runs) whose completed runs that fit this
    # search are added to its study as finished trials before the first ask (experiments/sweep/warm_start.py).
    warm_start: Any = None
    # Runs per trial, with seeds seed, seed+1, ... as parallel jobs; the trial's value is their `aggregate`:
    # mean, or confidence_bound (the pessimistic end of the mean's 95% interval, as compare computes it).
    seeds: int = 1
    aggregate: str = "mean"
    # Limits a trial must meet to count, on numbers a run records: {parameters: "<=50000", wall_time_s: "<=60"}
    # (experiments/results/limits.py). Told to Optuna as the trial's constraints (its samplers model them); an
    # infeasible trial is never the best, on the front or tied; one whose size alone breaks a limit is not trained.
    constraints: Any = None


class OptunaSearch(Sweeper):
    def __init__(self, objective="best_val_acc", direction="maximize", study_name="search", storage=None,
                 n_trials=20, timeout=None, n_jobs=None, batches=False, wait=True, sampler=None, pruner=None,
                 params=None, conditions=None, enqueue=None, warm_start=None, seeds=1, aggregate="mean",
                 constraints=None):  # fmt: skip
        self.objective, self.direction, self.study_name, self.storage = objective, direction, study_name, storage
        self.n_trials, self.timeout, self.n_jobs, self.batches = n_trials, timeout, n_jobs, batches
        self.wait = wait
        self.sampler = dict(sampler or {"name": "tpe"})
        self.pruner = dict(pruner or {"name": DEFAULT_PRUNER})
        self.pruner_said = ""  # which pruner runs and why, once chosen (choose_pruner)
        self.params = dict(params or {})
        self.conditions = dict(conditions or {})
        self.enqueue = [dict(configuration) for configuration in enqueue or []]
        self.warm_start = warm_start
        self.seeds, self.aggregate = seeds, aggregate
        self.constraints = constraints
        self.config = self.launcher = None
        self.holder = SWEEP_LOCK_FILE  # the lock file whose holder runs this launch's trials (a worker has its own)
        self.told = 0  # trials this process told the study

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def check(self, arguments: Sequence[str]):
        """Everything that can be wrong before a trial runs: n_trials, the sampler and its
        settings, the search space. Returns (fixed overrides, space, sampler class, its settings)."""
        if not (isinstance(self.n_trials, int) and self.n_trials >= 1):
            raise SearchError(f"hydra.sweeper.n_trials={self.n_trials!r} must be an integer >= 1")
        if self.timeout is not None and not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise SearchError(f"hydra.sweeper.timeout={self.timeout!r} must be a number of seconds > 0, or null")
        self.objectives = checked(self.objective, self.direction)
        self.limits = checked_limits(self.constraints)
        if self.n_jobs is not None and not (isinstance(self.n_jobs, int) and self.n_jobs >= 1):
            raise SearchError(f"hydra.sweeper.n_jobs={self.n_jobs!r} must be an integer >= 1, or null")
        settings = dict(self.sampler)
        cls = sampler_class(settings.pop("name", "tpe"))
        check_settings(f"hydra.sweeper.sampler.name={self.sampler.get('name', 'tpe')}", cls, settings)
        if self.pruner.get("name", DEFAULT_PRUNER) != DEFAULT_PRUNER:  # the default is chosen with the launcher
            pruner_maker(self.pruner)
        if len(self.objectives) > 1 and cls.__name__ == "CmaEsSampler":
            raise SearchError("hydra.sweeper.sampler.name=cmaes searches one objective: use tpe, nsga2, random or grid")
        fixed, space = parse_space(self.params, arguments, self.conditions)
        if not space:
            raise SearchError("nothing to search: give hydra.sweeper.params or a swept override (interval, choice)")
        fixed = self.check_seeds(fixed, space)
        if cls.__name__ == "GridSampler":
            if any(not hasattr(dist, "choices") for dist in space.distributions.values()):
                raise SearchError("sampler grid searches choices and ranges only, not intervals")
            if space.conditions:
                raise SearchError("sampler grid searches every combination: a conditional space needs another sampler")
            settings["search_space"] = {key: list(dist.choices) for key, dist in space.distributions.items()}
            points = math.prod(len(dist.choices) for dist in space.distributions.values())
            if self.n_trials > points:
                log.info("the grid has %d points: n_trials=%d becomes %d", points, self.n_trials, points)
                self.n_trials = points
        built("hydra.sweeper.sampler", cls, settings)
        check_queued(self.enqueue, space)
        self.warm_folders = warm_start.folders_of(self.warm_start)
        return fixed, space, cls, settings

    def check_seeds(self, fixed: list[str], space: Space) -> list[str]:
        """hydra.sweeper.seeds and .aggregate, checked; the fixed overrides without `seed`, which
        gives the first of a trial's seeds (self.first_seed)."""
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise SearchError(f"hydra.sweeper.seeds={self.seeds!r} must be an integer >= 1 (runs per trial)")
        if self.aggregate not in AGGREGATES:
            raise SearchError(f"hydra.sweeper.aggregate={self.aggregate!r} is not one of {', '.join(AGGREGATES)}")
        if self.aggregate == "confidence_bound" and self.seeds < 2:
            raise SearchError(
                "hydra.sweeper.aggregate=confidence_bound needs hydra.sweeper.seeds >= 2 (one has no spread)"
            )
        if self.seeds > 1 and "seed" in space.distributions:
            raise SearchError("seed is searched, and hydra.sweeper.seeds gives each trial its own seeds: choose one")
        given = [line for line in fixed if line.startswith("seed=")]
        self.first_seed = int(given[-1].split("=", 1)[1]) if given else int((self.config or {}).get("seed") or 0)
        return fixed if self.seeds == 1 else [line for line in fixed if not line.startswith("seed=")]

    def seed_jobs(self, overrides: list[str]) -> list[list[str]]:
        """A trial's jobs: its overrides once per seed (itself alone with seeds=1)."""
        if self.seeds == 1:
            return [overrides]
        return [[*overrides, f"seed={self.first_seed + i}"] for i in range(self.seeds)]

    def trial_settings(self, fixed: list[str], space: Space, params: dict) -> dict:
        """What a trial with the values `params` runs: its config as Hydra composes it (no
        `hydra`), flattened (optimizer.momentum: 0.9), a searched group's option's own settings included."""
        overrides = [*fixed, *space.overrides(params)]
        config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        return flat(
            OmegaConf.to_container(OmegaConf.masked_copy(config, [k for k in config if k != "hydra"]), resolve=True)
        )

    def check_launcher(self, launcher) -> None:
        """What the launcher (its config, or the instance Hydra made) allows: pruning needs jobs
        that report each epoch (the default pruner is chosen here); workers on SLURM need a
        storage they all reach. After check()."""
        workers = submits_workers(launcher) and not self.batches
        self.choose_pruner(reports_epochs=forks_jobs(launcher) or workers)
        check_pruning(self.pruner, launcher, workers)
        self.make_pruner = pruner_maker(self.pruner)
        if self.prunes:
            self.judged_column = judged_each_epoch(self.objectives, self.pruner["name"])
        if workers and self.storage is None:
            raise SearchError(
                "a search on SLURM runs its trials in worker jobs, which share the study through its storage: "
                "give hydra.sweeper.storage=journal:///path/on/the/shared/disk/search.log (or a database URL), "
                "or hydra.sweeper.batches=true to run batches of jobs from this process"
            )

    def choose_pruner(self, reports_epochs: bool) -> None:
        """hydra.sweeper.pruner.name=default made what it is here, and said why (self.pruner_said):
        hyperband (with any settings given) for one objective measured every epoch on jobs that
        report epochs, the fastest to the unpruned best in docs/performance.md; else none."""
        settings = dict(self.pruner)
        name = settings.pop("name", DEFAULT_PRUNER)
        if name != DEFAULT_PRUNER:
            self.pruner_said = f"{name} (hydra.sweeper.pruner.name={name})"
            return
        objective = self.objectives[0][0]
        if len(self.objectives) > 1:
            why_not = f"{len(self.objectives)} objectives cannot be pruned"
        elif objective.each_epoch is None:
            why_not = f"{objective.name} is known only at a run's end"
        elif not reports_epochs:
            why_not = "the launcher's jobs report no epochs (SLURM with hydra.sweeper.batches=true)"
        else:
            self.pruner = {"name": "hyperband", **settings}
            self.pruner_said = "hyperband (default; hydra.sweeper.pruner.name=none turns it off)"
            return
        self.pruner = {"name": "none"}
        self.pruner_said = f"none ({why_not})"

    def definition(self, space: Space) -> dict:
        """What makes this search's study one search (experiments/sweep/study.py)."""
        return definition(self.objectives, self.sampler.get("name", "tpe"), space, self.limits)

    def sweep(self, arguments: list[str]) -> None:
        """Hydra's Sweeper API. A search that cannot go on (its storage cannot be written) says
        why in one line and exits 1: Hydra would print a sweeper's exception with its traceback."""
        try:
            self.search(arguments)
        except SearchError as error:
            log.error("%s", error)
            raise SystemExit(ExitCode.FAILED) from None

    def search(self, arguments: list[str]) -> None:
        import optuna

        self.arguments = arguments
        fixed, space, cls, settings = self.check(arguments)
        self.check_launcher(self.launcher)
        study = open_study(self.study_name, self.storage, self.definition(space))
        self.sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        storage = self.storage or "memory (hydra.sweeper.storage keeps it)"
        log.info("search into %s: study %s in %s, until it holds n_trials=%d; pruner: %s",
                 self.sweep_dir, self.study_name, storage, self.n_trials, self.pruner_said)  # fmt: skip
        self.deadline = time.monotonic() + self.timeout if self.timeout else math.inf
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        save_sweep_config(self.config, self.sweep_dir)
        try:
            with asking_alone(self.storage):  # before any launch asks: they are the first trials
                for configuration in self.enqueue:
                    study.enqueue_trial(configuration, skip_if_exists=True)
                if self.warm_folders:
                    warm_start.warm_start(
                        study, self.warm_folders, lambda params: self.trial_settings(fixed, space, params),
                        space, self.objectives, self.seeds, self.aggregate, self.limits,
                    )  # fmt: skip
            if submits_workers(self.launcher) and not self.batches:
                self.with_workers(study)
            else:
                self.here(study, fixed, space, cls, settings)
        except (OSError, optuna.exceptions.StorageInternalError) as error:  # a full disk, a storage gone read-only
            raise SearchError(
                f"hydra.sweeper.storage={self.storage} cannot be written ({in_words(error)}); every trial told "
                f"before is kept. Once it can be written: {continue_command(self.sweep_dir, sweep=True)}"
            ) from None
        if not exits.command.left_running:  # else its workers have only begun
            self.report(study)

    def here(self, study, fixed, space, cls, settings) -> None:
        """Ask, run and tell trials in this process (on its launcher) until the study holds n_trials."""
        study.pruner = self.make_pruner()
        cut = cut_short_trials(study, self.sweep_dir, self.holder, continues=forks_jobs(self.launcher))
        if study.trials:
            warm = sum(warm_start.FROM_RUN in trial.user_attrs for trial in study.get_trials(deepcopy=False))
            log.info("study %s in %s holds %d trials of n_trials=%d%s%s",
                     self.study_name, self.storage, held_trials(study), self.n_trials,
                     f" (besides the {warm} a warm start added)" if warm else "",
                     f"; first the {len(cut)} this sweep's last launch cut short" if cut else "")  # fmt: skip
        if cls.__name__ != "GridSampler":  # the grid's seed is the order of its points, which every launch shares
            settings["seed"] = launch_seed(settings.get("seed"), launch_number(study, self.storage))
        study.sampler = cls(**settings)
        if forks_jobs(self.launcher):
            self.ask_and_tell(study, fixed, space, cut)
        else:
            self.in_batches(study, fixed, space)

    def work(self, name: str, ends_at: float | None) -> int:
        """A worker's search (experiments/sweep/workers.py), in its SLURM job: trials on its
        one-job launcher until the study holds n_trials; how many it told."""
        fixed, space, cls, settings = self.check(self.arguments)
        self.check_launcher(self.launcher)
        study = open_study(self.study_name, self.storage, self.definition(space))
        self.deadline = math.inf if ends_at is None else time.monotonic() + ends_at - time.time()
        self.holder = WORKER_LOCK.format(name)
        before = self.told
        self.here(study, fixed, space, cls, settings)
        return self.told - before

    def with_workers(self, study) -> None:
        """Submit the workers (experiments/sweep/workers.py); wait for them, saying the study's
        progress, or (wait=false) say how to follow them and return."""
        from experiments.sweep import workers

        left = self.to_ask(study)
        count = min(self.n_jobs or self.launcher.params.get("array_parallelism") or left, left)
        if not count:
            log.info("study %s in %s already holds n_trials=%d: no worker submitted",
                     self.study_name, self.storage, self.n_trials)  # fmt: skip
            return
        self.storage = anchored(self.storage)  # a relative path is the submitting folder's, wherever workers start
        jobs = workers.submit(self, count, time.time() + self.timeout if self.timeout else None)
        on_slurm = self.launcher._EXECUTOR == "slurm"  # the submitit plugin's name for its cluster (or "local")
        array = jobs[0].job_id.split("_")[0]
        follow = f"squeue -j {array} (scancel {array} stops them)" if on_slurm else f"processes of job {array} here"
        if not self.wait:
            exits.command.left_running = (
                f"{count} worker(s) search study {self.study_name} in {self.storage} until it holds "
                f"n_trials={self.n_trials}, each trial a run in {self.sweep_dir}. Follow them: {follow}; the "
                f"runs so far: python -m experiments.compare {self.sweep_dir}. Launching again adds workers."
            )
            log.info("%s", exits.command.left_running)
            return
        try:
            failed = workers.follow(study, jobs, self.n_trials)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM to this command: the workers are the cluster's
            log.warning("stopped waiting for the workers, which were not stopped: %s", follow)
            raise
        if failed and self.to_ask(study):
            raise SearchError(
                f"{len(failed)} of {count} worker(s) failed; every trial told is kept in the study. "
                f"Workers that go on: {continue_command(self.sweep_dir, sweep=True)}"
            )

    def to_ask(self, study) -> int:
        """How many more trials to ask: n_trials less those the study holds (finished, or running
        in a launch that is alive, this one's included: several launches share one n_trials),
        and none once the timeout has passed (said once)."""
        wanted = max(0, self.n_trials - held_trials(study))
        if not wanted or time.monotonic() < self.deadline:
            return wanted
        if self.deadline != -math.inf:
            log.info("hydra.sweeper.timeout=%s s passed: no further trial is asked", self.timeout)
            self.deadline = -math.inf
        return 0

    def overrides(self, trial, fixed: list[str], space: dict, continued: bool = False) -> list[str]:
        """A trial's job's overrides; one that continues a trial cut short resumes its run (a launch
        with resume=true resumes every job already)."""
        resume = ["resume=true"] if continued and not self.config.get("resume") else []
        return [*fixed, *space.overrides(trial.params), *resume]

    @property
    def numbering(self) -> Numbering:
        return Numbering(self.seeds)

    @property
    def prunes(self) -> bool:
        return self.pruner.get("name", "none") != "none"

    def ask_and_tell(self, study, fixed, space, cut: list) -> None:
        """Each trial asked as a worker frees up and told as its jobs end (one per seed,
        numbered by trials.Numbering). A trial's seeds start before any new trial does, each
        as a worker frees; with a pruner, a trial is judged after each epoch on its seeds' mean
        (trials.SeedsJudge), and a pruned trial's seeds not started never start. With
        `batches`, the next trials are asked only once every trial in flight has ended. The
        trials in `cut` (this sweep's, cut short) go first, and then any of this sweep's whose
        worker is gone (workers.py): each continues in its own folders, from its checkpoints,
        with its own parameters and number, and is told as any other."""
        in_flight: dict[int, InFlight] = {}  # trial number -> what is known of it so far
        judge = SeedsJudge(in_flight, self.numbering, self.judged_column) if self.prunes else None
        with self.launcher.jobs(judge) as jobs:
            at_once = self.n_jobs or math.inf
            unstarted = lambda: any(flight.next_seed() is not None for flight in in_flight.values())  # noqa: E731
            while cut or jobs.pending or unstarted() or self.to_ask(study):
                self.start_seeds(jobs, in_flight)  # the seeds of the trials in flight first
                filling = not (self.batches and in_flight)  # with batches, only once the last batch has ended
                while filling and jobs.free and len(in_flight) < at_once:
                    with asking_alone(self.storage):  # counted and asked before another launch counts
                        trial, continued = self.next_trial(study, space, cut, in_flight)
                    if trial is None:
                        break
                    if not continued and self.set_aside(study, trial, fixed, space):
                        continue
                    jobs_of_trial = self.seed_jobs(self.overrides(trial, fixed, space, continued))
                    in_flight[trial.number] = InFlight(trial, jobs_of_trial)
                    self.start_seeds(jobs, in_flight)
                if not jobs.pending:
                    break
                number, returned = jobs.next_result()
                flight = in_flight[self.numbering.trial_of(number)]
                flight.returns[self.numbering.seed_of(number)] = returned
                if flight.ended:
                    tell(study, in_flight.pop(flight.number), self.objectives, self.aggregate, limits=self.limits)
                    self.told += 1

    def start_seeds(self, jobs, in_flight: dict) -> None:
        """Submit the seeds not started of the trials in flight, oldest trial first, while a
        worker is free for each (so each starts at once: none waits in the launcher's queue,
        where a verdict could no longer keep it from starting)."""
        for flight in in_flight.values():
            while jobs.free and (seed := flight.next_seed()) is not None:
                flight.started.add(seed)
                jobs.submit(flight.jobs[seed], self.numbering.job(flight.number, seed))

    def set_aside(self, study, trial, fixed, space) -> bool:
        """A new trial whose network's size alone breaks a limit on `parameters` is not trained:
        told PRUNED (so the sampler learns the region is no good) with the limit it breaks
        (user attribute INFEASIBLE), said, and counted toward n_trials. False for any other."""
        import optuna

        limit = next((limit for limit in self.limits if limit.name == "parameters"), None)
        if limit is None:
            return False
        overrides = [*fixed, *space.overrides(trial.params)]
        size = parameters_of(self.hydra_context.config_loader.load_sweep_config(self.config, overrides))
        if size is None or limit.allows(size):
            return False
        why = limit.broken_by(size)
        trial.set_user_attr(INFEASIBLE, why)
        trial.set_constraint(limit.name, limit.excess(size))
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        exits.command.set_aside += 1
        log.info("trial %d not trained, its size breaks the limit: %s (%s)", trial.number, why,
                 " ".join(space.overrides(trial.params)))  # fmt: skip
        return True

    def next_trial(self, study, space, cut: list, in_flight: dict):
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
        trial = space.ask(study)
        trial.set_user_attr(SWEEP_DIR, str(self.sweep_dir))
        trial.set_user_attr(HOLDER, self.holder)
        return trial, False

    def in_batches(self, study, fixed, space) -> None:
        """For a launcher without jobs() (SLURM through submitit): n_jobs trials at a time."""
        size = self.n_jobs or 1
        while wanted := self.to_ask(study):
            with asking_alone(self.storage):
                trials = [space.ask(study) for _ in range(min(size, wanted))]
                for trial in trials:
                    trial.set_user_attr(SWEEP_DIR, str(self.sweep_dir))
            trials = [trial for trial in trials if not self.set_aside(study, trial, fixed, space)]
            if not trials:
                continue
            flights = [InFlight(trial, self.seed_jobs(self.overrides(trial, fixed, space))) for trial in trials]
            batch = [jobs for flight in flights for jobs in flight.jobs]
            first = self.numbering.job(trials[0].number)
            returns = list(self.launcher.launch(batch, initial_job_idx=first))
            for flight in flights:
                for seed in range(self.seeds):
                    flight.returns[seed] = returns[self.numbering.job(flight.number, seed) - first]
                tell(study, flight, self.objectives, self.aggregate, limits=self.limits)

    def report(self, study) -> None:
        """The search's answer: its best trial, or (several objectives) its Pareto front."""
        import optuna

        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if self.limits:
            log.info("%s", constrained_in_words(study.trials, self.limits))
            completed = [t for t in completed if feasible(t)]
        if not completed:
            meeting = " that meets the constraints" if self.limits else ""
            log.warning("study %s has no completed trial%s", self.study_name, meeting)
        elif len(self.objectives) == 1:
            best = study.best_trial
            name = self.objectives[0][0].name
            runs = warm_start.from_runs(best)
            source = f" (added by the warm start: {', '.join(runs)})" if runs else ""
            seeds = len(best.user_attrs.get(SEED_VALUES, [])) or self.seeds
            of_seeds = f" ({self.aggregate} of {seeds} seeds)" if self.seeds > 1 else ""
            log.info("best trial %d%s: %s %.4f%s with %s", best.number, source, name, best.value, of_seeds, best.params)
            if self.seeds > 1:
                log.info("%s", tied_with_best(completed, best))
        else:
            front = sorted(study.best_trials, key=lambda trial: trial.number)
            names = [f"{o.name} ({d})" for o, d in self.objectives]
            lines = [f"  trial {t.number}: {in_values(t.values)} with {t.params}" for t in front]
            log.info(
                "the Pareto front of %s: %d of %d completed trials, none beaten in every objective by another:\n%s",
                ", ".join(names), len(front), len(completed), "\n".join(lines),
            )  # fmt: skip


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


def launch_seed(seed: int | None, launch: int) -> int | None:
    """The sampler's seed in the study's launch number `launch` (0 for the first): a seed of its
    own for each launch after the first, so as never to ask the trials already asked, or asked at
    this moment by a launch beside it, again. None (unseeded) stays None."""
    if seed is None or launch == 0:
        return seed
    return seed * 1_000_003 + 500_009 * launch


def tied_with_best(completed: list, best) -> str:
    """The trials not distinguishable from the best over their seeds (Welch's t-test on the first
    objective's per-seed values, p >= 0.05, as compare's tied_with_best), in a line. A test needs
    two seeds on each side: a trial with fewer (one a warm start added) is said to be untestable."""
    import numpy as np

    from experiments.results.runs import p_values_against

    def seeds_of(trial) -> list[float]:
        return [values[0] for values in trial.user_attrs.get(SEED_VALUES, [])]

    best_samples = np.array(seeds_of(best), dtype=float)
    if len(best_samples) < 2:
        return f"which trials are tied with trial {best.number} cannot be told: it has fewer than 2 seeds"
    others = [t for t in completed if t.number != best.number]
    testable = [t for t in others if len(seeds_of(t)) >= 2]
    untestable = [t.number for t in others if len(seeds_of(t)) < 2]
    p = p_values_against([seeds_of(t) for t in testable], best_samples)
    tied = [t.number for t, p_value in zip(testable, p) if p_value >= 0.05]
    cannot = f"; trials {', '.join(map(str, untestable))} have fewer than 2 seeds: not tested" if untestable else ""
    if not tied:
        return f"no other trial is tied with trial {best.number} (Welch's t-test over seeds, p < 0.05 for each){cannot}"
    return (
        f"tied with trial {best.number} (Welch's t-test over seeds, p >= 0.05, as compare's tied_with_best): "
        f"trials {', '.join(map(str, tied))}{cannot}"
    )


def feasible(trial) -> bool:
    """Whether a trial meets every constraint it was told (one told none meets them all)."""
    return all(value <= 0 for value in trial.constraints.values())


def constrained_in_words(trials: list, limits: list) -> str:
    """What the constraints did to a search's trials, in a line: how many completed trials meet
    them, how many break them, and how many were never trained (their size broke a limit)."""
    import optuna

    completed = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    met = sum(map(feasible, completed))
    untrained = sum(INFEASIBLE in t.user_attrs for t in trials)
    too_big = f", {untrained} not trained (too big)" if untrained else ""
    return (
        f"constraints {', '.join(map(str, limits))}: {met} of {len(completed)} completed trials meet them, "
        f"{len(completed) - met} break them (never the best){too_big}"
    )


def parameters_of(config) -> int | None:
    """The trainable numbers of the network a composed config describes, before any data is
    read (None for a data set whose shape only its files know)."""
    from experiments.run.components import architecture, published_shape

    shape = published_shape(config)
    return None if shape is None else architecture(config, shape).n_parameters()


def in_values(values: list[float]) -> str:
    return ", ".join(f"{value:.4g}" for value in values)


SWEEP_DIR = "sweep_dir"  # a trial's user attribute: the sweep folder its job runs in
# A trial's user attribute: the lock file in its sweep folder held while its trial runs, by the launch
# (SWEEP_LOCK_FILE) or by a worker on SLURM (workers.WORKER_LOCK). A study from before: the launch's.
HOLDER = "held_by"
INFEASIBLE = "infeasible"  # a trial's user attribute: the limit its size broke, for which it was not trained


def alive(trial) -> bool:
    """True while the process that runs a RUNNING trial (its launch, or its worker) lives."""
    folder = trial.user_attrs.get(SWEEP_DIR)
    return bool(folder) and folder_in_use(Path(folder), trial.user_attrs.get(HOLDER, SWEEP_LOCK_FILE))


def cut_short_trials(study, sweep_dir: Path, holder: str, continues: bool) -> list:
    """The study's trials cut short in `sweep_dir` by an earlier life of `holder` (this launch's
    folder, held now; or this worker, requeued), to continue first. A dead worker's trials are
    not among them: the workers claim those one at a time (orphaned_trials), since two workers
    starting together would both find them here. Trials cut short in other sweep folders, whose
    launchers are gone too, are left to those folders' resume, said in one line each."""
    import optuna

    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    elsewhere: dict[str, int] = {}
    for trial in running:
        folder = trial.user_attrs.get(SWEEP_DIR)
        if folder and folder != str(sweep_dir) and not alive(trial):
            elsewhere[folder] = elsewhere.get(folder, 0) + 1
    for folder, count in elsewhere.items():
        log.info("%d trial(s) of this study were cut short in %s: %s continues them", count, folder,
                 continue_command(Path(folder), sweep=True))  # fmt: skip
    mine = [
        trial
        for trial in running
        if trial.user_attrs.get(SWEEP_DIR) == str(sweep_dir) and trial.user_attrs.get(HOLDER, SWEEP_LOCK_FILE) == holder
    ]
    if mine and not continues:
        log.warning("%d trial(s) cut short stay RUNNING: only hydra/launcher=parallel continues them", len(mine))
        return []
    return mine


def orphaned_trials(study, sweep_dir: Path, in_flight: dict) -> list:
    """This sweep's RUNNING trials whose holder is gone (a worker preempted or killed), not
    running here: a worker continues them before asking a new trial."""
    import optuna

    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    return [
        trial
        for trial in running
        if trial.user_attrs.get(SWEEP_DIR) == str(sweep_dir) and trial.number not in in_flight and not alive(trial)
    ]


def held_trials(study) -> int:
    """The trials that count toward n_trials: finished ones (but those a warm start added), and
    those running in a launch or worker that is alive (its lock file in the sweep folder held:
    experiments/run/files.py)."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    running = [trial for trial in trials if trial.state == optuna.trial.TrialState.RUNNING]
    searched = sum(1 for trial in trials if trial.state.is_finished() and warm_start.FROM_RUN not in trial.user_attrs)
    return searched + sum(map(alive, running))
