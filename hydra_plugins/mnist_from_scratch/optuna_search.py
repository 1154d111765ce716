"""Hydra loads sweepers only from the hydra_plugins namespace package: this
makes experiments.sweep.search.sweeper.OptunaSearch (the code to read) one of them, and
registers its settings (experiments.sweep.search.settings.OptunaSearchConf) as
`hydra/sweeper=optuna_search`."""

from hydra.core.config_store import ConfigStore

from experiments.sweep.search import settings, sweeper


class OptunaSearch(sweeper.OptunaSearch):
    pass


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna_search", node=settings.OptunaSearchConf, provider="mnist_from_scratch"
)
