"""Hydra loads launchers only from the hydra_plugins namespace package: this
makes experiments.launcher.ParallelLauncher (the code to read) one of them."""

from experiments import launcher


class ParallelLauncher(launcher.ParallelLauncher):
    pass
