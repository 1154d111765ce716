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
through its jobs(): loop.py; on SLURM, by worker jobs that each ask, run and tell trials in
turn: workers.py), so no trial waits for a batch and the sampler
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
from pathlib import Path

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf

from experiments.run import exits
from experiments.run.exits import ExitCode
from experiments.run.files import SWEEP_LOCK_FILE
from experiments.run.resume import continue_command
from experiments.run.sweep_files import save_sweep_config
from experiments.sweep.search import warm_start, workers
from experiments.sweep.search.answer import say_answer
from experiments.sweep.search.loop import SearchLoop
from experiments.sweep.search.settings import SearchSettings, search_settings
from experiments.sweep.search.space import flat
from experiments.sweep.search.study import SearchError, anchored, asking_alone, in_words, open_study

log = logging.getLogger(__name__)


class OptunaSearch(Sweeper):
    """Hydra's Sweeper for hydra/sweeper=optuna_search: its settings as Hydra gives them
    (OptunaSearchConf, in settings.py), checked once into a SearchSettings."""

    def __init__(self, **given):
        self.given = given  # hydra.sweeper.*, unchecked (settings.search_settings checks them)
        self.settings: SearchSettings | None = None
        self.config = self.hydra_context = self.launcher = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        # Checked by the sweep's callback before any work (experiments/sweep/checks.py), or here
        # for a sweeper without it; a SearchError is said in one line by sweep().
        self.settings = SearchSettings.from_callbacks(hydra_context)

    def sweep(self, arguments: list[str]) -> None:
        """Hydra's Sweeper API. A search that cannot go on (its storage cannot be written) says
        why in one line and exits 1: Hydra would print a sweeper's exception with its traceback."""
        try:
            if self.settings is None:
                self.settings = search_settings(self.given, arguments, self.config, self.launcher)
            self.search()
        except SearchError as error:
            log.error("%s", error)
            raise SystemExit(ExitCode.FAILED) from None

    def compose(self, overrides: list[str]):
        """A trial's whole config as Hydra composes it (`hydra` included)."""
        return self.hydra_context.config_loader.load_sweep_config(self.config, overrides)

    def trial_settings(self, params: dict) -> dict:
        """What a trial with the values `params` runs: its config as Hydra composes it (no
        `hydra`), flattened (optimizer.momentum: 0.9), a searched group's option's own settings included."""
        config = self.compose([*self.settings.fixed, *self.settings.space.overrides(params)])
        return flat(
            OmegaConf.to_container(OmegaConf.masked_copy(config, [k for k in config if k != "hydra"]), resolve=True)
        )

    def loop(self, holder: str, deadline: float) -> SearchLoop:
        resumed = bool(self.config.get("resume"))
        return SearchLoop(self.settings, self.launcher, self.compose, self.sweep_dir, holder, deadline, resumed)

    @property
    def sweep_dir(self) -> Path:
        return Path(str(self.config.hydra.sweep.dir)).absolute()

    def search(self) -> None:
        """Open the study, queue and warm-start it, run the trials here or in SLURM workers, and say the answer."""
        import optuna

        s = self.settings
        study = open_study(s.study_name, s.storage, s.definition())
        storage = s.storage or "memory (hydra.sweeper.storage keeps it)"
        log.info("search into %s: study %s in %s, until it holds n_trials=%d; pruner: %s",
                 self.sweep_dir, s.study_name, storage, s.n_trials, s.pruner_said)  # fmt: skip
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        save_sweep_config(self.config, self.sweep_dir)
        deadline = time.monotonic() + s.timeout if s.timeout else math.inf
        try:
            with asking_alone(s.storage):  # before any launch asks: they are the first trials
                for configuration in s.enqueue:
                    study.enqueue_trial(configuration, skip_if_exists=True)
                if s.warm_folders:
                    warm_start.warm_start(study, s.warm_folders, self.trial_settings, s.space, s.objectives,
                                          s.seeds, s.aggregate, s.limits)  # fmt: skip
            if s.workers:
                self.with_workers(study, self.loop(SWEEP_LOCK_FILE, deadline))
            else:
                self.loop(SWEEP_LOCK_FILE, deadline).run(study)
        except (OSError, optuna.exceptions.StorageInternalError) as error:  # a full disk, a storage gone read-only
            raise SearchError(
                f"hydra.sweeper.storage={s.storage} cannot be written ({in_words(error)}); every trial told "
                f"before is kept. Once it can be written: {continue_command(self.sweep_dir, sweep=True)}"
            ) from None
        if not exits.command.left_running:  # else its workers have only begun
            say_answer(study, s)

    def work(self, name: str, ends_at: float | None) -> int:
        """A worker's search (workers.py), in its SLURM job, with the settings checked by the
        launch that submitted it: trials on its one-job launcher until the study holds
        n_trials; how many it told."""
        study = open_study(self.settings.study_name, self.settings.storage, self.settings.definition())
        deadline = math.inf if ends_at is None else time.monotonic() + ends_at - time.time()
        return self.loop(workers.WORKER_LOCK.format(name), deadline).run(study)

    def with_workers(self, study, loop: SearchLoop) -> None:
        """Submit the workers (workers.py); wait for them, saying the study's progress, or
        (wait=false) say how to follow them and return."""
        s = self.settings
        left = loop.to_ask(study)
        count = min(s.n_jobs or self.launcher.params.get("array_parallelism") or left, left)
        if not count:
            log.info(
                "study %s in %s already holds n_trials=%d: no worker submitted", s.study_name, s.storage, s.n_trials
            )
            return
        # A relative path is the submitting folder's, wherever the workers start
        self.settings = s = s.with_storage(anchored(s.storage))
        jobs = workers.submit(self, count, time.time() + s.timeout if s.timeout else None)
        on_slurm = self.launcher._EXECUTOR == "slurm"  # the submitit plugin's name for its cluster (or "local")
        array = jobs[0].job_id.split("_")[0]
        follow = f"squeue -j {array} (scancel {array} stops them)" if on_slurm else f"processes of job {array} here"
        if not s.wait:
            exits.command.left_running = (
                f"{count} worker(s) search study {s.study_name} in {s.storage} until it holds "
                f"n_trials={s.n_trials}, each trial a run in {self.sweep_dir}. Follow them: {follow}; the "
                f"runs so far: python -m experiments.compare {self.sweep_dir}. Launching again adds workers."
            )
            log.info("%s", exits.command.left_running)
            return
        try:
            failed = workers.follow(study, jobs, s.n_trials)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM to this command: the workers are the cluster's
            log.warning("stopped waiting for the workers, which were not stopped: %s", follow)
            raise
        if failed and loop.to_ask(study):
            raise SearchError(
                f"{len(failed)} of {count} worker(s) failed; every trial told is kept in the study. "
                f"Workers that go on: {continue_command(self.sweep_dir, sweep=True)}"
            )
