"""Hydra loads sweepers only from the hydra_plugins namespace package: this
makes experiments.sweep.grid.sweeper.GridSweeper (the code to read) one of them, and
registers it as `hydra/sweeper=grid` for any Hydra app."""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from experiments.sweep.grid import sweeper as grid


class GridSweeper(grid.GridSweeper):
    pass


@dataclass
class GridSweeperConf:
    _target_: str = "hydra_plugins.mnist_from_scratch.grid_sweeper.GridSweeper"
    max_batch_size: int | None = None  # jobs handed to the launcher at once; None = all (it runs one per core)
    params: dict | None = None
    # none, or halving | median | hyperband (with the Optuna pruner's settings): stop the worse jobs as they go
    pruner: dict = field(default_factory=lambda: {"name": "none"})


ConfigStore.instance().store(group="hydra/sweeper", name="grid", node=GridSweeperConf, provider="mnist_from_scratch")
