"""The default sweeper of grids (-m key=a,b other=c,d; hydra/sweeper=grid).

Like Hydra's basic sweeper, it runs every combination of the comma-separated
values, in Hydra's order and numbering, in batches of `max_batch_size` (all at
once by default: the launcher runs one per core). Two differences:

- a job that failed does not end the sweep: its result.json says why, the
  other jobs run, and the sweep's summary lists it and exits 1 (Hydra's basic
  sweeper raises the first failed job's error once its batch is done);
- each job is composed just before it starts, while the others train, so the
  first job starts as soon for 10,000 jobs as for 10; the sweep's checks
  (experiments/sweep/grid/checks.py) checked every value of every key before that.

With `hydra.sweeper.pruner.name=halving`, successive halving over the grid,
synchronous: every configuration trains to a rung, all are judged there
together, the best go on (experiments/sweep/grid/halving.py). With median or
hyperband every configuration starts and the worse are stopped as they go: each
job is judged after every epoch on its validation accuracy against the jobs that
reached that epoch before it (Optuna's pruners, on a study kept in memory). A
stopped job records status pruned.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf

from experiments.run.sweep_files import save_sweep_config
from experiments.sweep.grid.halving import halve, settings_of
from experiments.sweep.search.by_name import pruner_maker
from experiments.sweep.search.objectives import VALIDATION_ACCURACY
from experiments.sweep.search.trials import InFlight, Numbering, SeedsJudge, tell

log = logging.getLogger(__name__)


class GridSweeper(Sweeper):
    def __init__(self, max_batch_size: int | None = None, params: dict | None = None, pruner: dict | None = None):
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})  # overrides swept besides the command line's, as Hydra's basic sweeper takes
        self.pruner = dict(pruner or {"name": "none"})
        self.config = self.hydra_context = self.launcher = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list:
        jobs = Grid([*(f"{key}={value}" for key, value in self.params.items()), *arguments])
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        save_sweep_config(self.config, sweep_dir)
        if self.pruner.get("name") == "halving":  # synchronous, every configuration of a rung judged together
            settings = settings_of(self.pruner, jobs, self.config.epochs)
            return [halve(self.launcher, jobs, settings, self.config.epochs, resumed=bool(self.config.get("resume")))]
        if self.pruner.get("name", "none") != "none":
            return [self.with_pruning(jobs)]
        if not self.max_batch_size or self.max_batch_size <= 0 or self.max_batch_size >= len(jobs):
            return [self.launcher.launch(jobs, initial_job_idx=0)]  # the whole grid, each job worked out as it starts
        size = self.max_batch_size
        return [
            self.launcher.launch(jobs[first : first + size], initial_job_idx=first)
            for first in range(0, len(jobs), size)
        ]

    def with_pruning(self, jobs: Grid) -> Sequence:
        """Every job, each judged after every epoch by the pruner (a trial of an in-memory study)."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", pruner=pruner_maker(self.pruner)())
        trials = {}  # job number -> its one-seed trial
        judge = SeedsJudge(trials, Numbering(), VALIDATION_ACCURACY[0][0].each_epoch)
        pruned = 0

        def collect() -> None:
            nonlocal pruned
            number, returned = running.next_result()
            trials[number].returns[0] = returned
            pruned += tell(study, trials.pop(number), VALIDATION_ACCURACY, record=False) == "pruned"

        with self.launcher.jobs(judge) as running:
            for number, overrides in enumerate(jobs):
                while not running.free:  # each job submitted (and its trial asked) once a worker is free for it
                    collect()
                trials[number] = InFlight(study.ask(), [overrides], started={0})
                running.submit(overrides, number)
            while running.pending:
                collect()
        log.info("%d of %d jobs pruned by %s", pruned, len(jobs), self.pruner["name"])
        return running.returns  # in job order, kept off the heap (experiments/sweep/launch/returns.py)


class Grid(Sequence):
    """The jobs of a grid sweep, each as its list of overrides, in Hydra's order (that of its
    basic sweeper: the product of each key's values, the last key changing fastest; a key
    given twice takes its last values in its first place).

    A job is worked out when asked for (grid[i]), so a grid of 10,000 jobs costs its keys'
    values, not 10,000 lists. Discrete sweeps (`lr=0.1,1`, `choice(...)`, `range(...)`) are
    expanded; a sweeper's own search spaces (`interval(...)`) are left to the sweeper.
    """

    def __init__(self, overrides: list[str]):
        self.choices: dict[str, list[str]] = {}  # each key's overrides, in order: {"lr": ["lr=0.1", "lr=1"]}
        for override in OverridesParser.create().parse_overrides(overrides):
            key = override.get_key_element()
            if not override.is_sweep_override():
                self.choices[key] = [f"{key}={override.get_value_element_as_str()}"]
            elif override.is_discrete_sweep():
                self.choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]

    def __len__(self) -> int:
        return math.prod(len(values) for values in self.choices.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return [values[i] for values, i in zip(self.choices.values(), self.positions(index))]

    def positions(self, index: int) -> list[int]:
        """Job `index`'s position in each key's values (job 5 of lr=a,b,c x hidden=d,e: [2, 1])."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"job {index} of a grid of {len(self)}")
        index %= len(self)
        positions = []
        for values in reversed(self.choices.values()):
            index, position = divmod(index, len(values))
            positions.append(position)
        return positions[::-1]

    def number_at(self, positions: dict[str, int]) -> int:
        """The number of the first job with each key of `positions` at that position (the others at their first)."""
        index = 0
        for key, values in self.choices.items():
            index = index * len(values) + positions.get(key, 0)
        return index


def sweep_grid(config: DictConfig) -> Grid:
    """The grid a sweep's config asks for: hydra.sweeper.params (values swept from a config
    file, as Hydra's basic sweeper takes them) and the command line's overrides after them."""
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    return Grid([*(f"{key}={value}" for key, value in params.items()), *config.hydra.overrides.task])
