"""Hydra loads sweepers only from the hydra_plugins namespace package: this
makes experiments.sweep.optuna_search.ResumableOptunaSweeper (the code to read) one of them."""

from experiments.sweep import optuna_search


class ResumableOptunaSweeper(optuna_search.ResumableOptunaSweeper):
    pass
