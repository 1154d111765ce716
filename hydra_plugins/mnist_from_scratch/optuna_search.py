"""Hydra loads sweepers only from the hydra_plugins namespace package: this
makes experiments.sweep.search.OptunaSearch (the code to read) one of them, and
registers its settings (OptunaSearchConf, beside it) as `hydra/sweeper=optuna_search`."""

from hydra.core.config_store import ConfigStore

from experiments.sweep import search


class OptunaSearch(search.OptunaSearch):
    pass


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna_search", node=search.OptunaSearchConf, provider="mnist_from_scratch"
)
