"""The default sweeper of grids (-m key=a,b other=c,d; hydra/sweeper=grid).

Like Hydra's basic sweeper, it runs every combination of the comma-separated
values, in Hydra's order and numbering, in batches of `max_batch_size` (all at
once by default: the launcher runs one per core). Two differences:

- a job that failed does not end the sweep: its result.json says why, the
  other jobs run, and the sweep's summary lists it and exits 1 (Hydra's basic
  sweeper raises the first failed job's error once its batch is done);
- the jobs are not composed a second time before launching: the sweep's checks
  (experiments/sweep/checks.py) composed and checked every one, from the same
  list of jobs (grid_jobs, below).

With a pruner (`hydra.sweeper.pruner.name=halving`, or median, hyperband) every
configuration starts and the worse are stopped as they go: each job is judged
after every epoch on its validation accuracy against the jobs that reached that
epoch before it (Optuna's pruners, on a study kept in memory), and a stopped
job records status pruned. Successive halving over a grid, from the same
command with one option added.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf

log = logging.getLogger(__name__)


class GridSweeper(Sweeper):
    def __init__(self, max_batch_size: int | None = None, params: dict | None = None, pruner: dict | None = None):
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})  # overrides swept besides the command line's, as Hydra's basic sweeper takes
        self.pruner = dict(pruner or {"name": "none"})
        self.config = self.hydra_context = self.launcher = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list:
        jobs = grid_jobs([*(f"{key}={value}" for key, value in self.params.items()), *arguments])
        size = self.max_batch_size if self.max_batch_size and self.max_batch_size > 0 else max(len(jobs), 1)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        if self.pruner.get("name", "none") != "none":
            return [self.with_pruning(jobs)]
        return [
            self.launcher.launch(jobs[first : first + size], initial_job_idx=first)
            for first in range(0, len(jobs), size)
        ]

    def with_pruning(self, jobs: list[list[str]]) -> list:
        """Every job, each judged after every epoch by the pruner (a trial of an in-memory study)."""
        import optuna

        from experiments.sweep.by_name import pruner_maker
        from experiments.sweep.search import Judge, tell

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", pruner=pruner_maker(self.pruner)())
        trials, returns = {}, {}
        judge = Judge(trials)
        with self.launcher.jobs(judge) as running:
            for number, overrides in enumerate(jobs):
                trials[number] = study.ask()
                running.submit(overrides, number)
            while running.pending:
                number, returned = running.next_result()
                tell(study, trials[number], returned, pruned=number in judge.pruned)
                returns[number] = returned
        log.info("%d of %d jobs pruned by %s", len(judge.pruned), len(jobs), self.pruner["name"])
        return [returns[number] for number in sorted(returns)]


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
