"""Hydra loads launchers only from the hydra_plugins namespace package: this
makes experiments.sweep.launch.launcher.ParallelLauncher (the code to read) one of
them, and registers its settings (ParallelLauncherConf, beside it) as
`hydra/launcher=parallel` for any Hydra app, this one's default."""

from hydra.core.config_store import ConfigStore

from experiments.sweep.launch import launcher


class ParallelLauncher(launcher.ParallelLauncher):
    pass


ConfigStore.instance().store(
    group="hydra/launcher", name="parallel", node=launcher.ParallelLauncherConf, provider="mnist_from_scratch"
)
