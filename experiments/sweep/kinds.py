"""What kind of sweep a config launches, and how its jobs run: the two facts that the sweep's
checks, its sweepers and its summary all ask, here below all of them (they import nothing of
the sweep), so that asking them ties no module to another."""

from __future__ import annotations

from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf


def is_search(config: DictConfig) -> bool:
    """True for a search by our Optuna sweeper (hparams_search=optuna), whose jobs are not a grid."""
    return str(OmegaConf.select(config, "hydra.sweeper._target_", default="")).endswith("OptunaSearch")


def forks_jobs(launcher: DictConfig | Launcher) -> bool:
    """True for our launcher (hydra/launcher=parallel: experiments/sweep/launch/launcher.py's
    ParallelLauncher), given as its config or as the instance Hydra made: its jobs are forked from
    the sweep's process and report each epoch as they go (its jobs(judge)), which pruning and
    asking a trial the moment a worker is free need. The one test of that, for every sweeper and check."""
    if isinstance(launcher, DictConfig):
        return str(launcher.get("_target_", "")).endswith(".ParallelLauncher")
    return callable(getattr(launcher, "jobs", None))  # the interface the sweepers call, which no other launcher has
