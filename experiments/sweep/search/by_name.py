"""Optuna's samplers and pruners by the names a config gives them (hydra.sweeper.sampler.name=tpe,
hydra.sweeper.pruner.name=median), each with its own keyword arguments as settings
(sampler.n_startup_trials=5), checked against its signature and built once, so that a
setting Optuna refuses is one line before any trial. The one check of a pruner, for
searches (experiments/sweep/search/sweeper.py) and grids (experiments/sweep/grid/sweeper.py) alike."""

from __future__ import annotations

import importlib.util
import inspect

from experiments.sweep.kinds import forks_jobs
from experiments.sweep.search.study import SearchError

SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "grid": "GridSampler",
    "cmaes": "CmaEsSampler",
    "nsga2": "NSGAIISampler",  # for several objectives (tpe takes them too)
}
SAMPLERS_NEED = {"cmaes": "cmaes"}  # a sampler's own package, which Optuna imports only when it first samples
DEFAULT_PRUNER = "default"  # a search's: hyperband where it can prune, else none (settings.chosen_pruner)
PRUNERS = {
    "none": "NopPruner",
    "median": "MedianPruner",
    "halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
}


def sampler_class(name: str):
    import optuna

    if name not in SAMPLERS:
        raise SearchError(f"hydra.sweeper.sampler.name={name!r} is not one of {', '.join(SAMPLERS)}")
    if name in SAMPLERS_NEED and importlib.util.find_spec(SAMPLERS_NEED[name]) is None:
        raise SearchError(f"hydra.sweeper.sampler.name={name} needs the {SAMPLERS_NEED[name]} package (pip install it)")
    return getattr(optuna.samplers, SAMPLERS[name])


def pruner_class(name: str):
    import optuna

    if name not in PRUNERS:
        names = ", ".join(PRUNERS)
        raise SearchError(f"hydra.sweeper.pruner.name={name!r} is not one of {names} (a search's: or {DEFAULT_PRUNER})")
    return getattr(optuna.pruners, PRUNERS[name])


def pruner_maker(pruner: dict):
    """What makes the pruner `pruner` ({"name": ..., its settings}) names, once its name, the
    settings it takes and their values are checked: the one check of a pruner, for searches and
    grids alike. Raises SearchError naming what is wrong."""
    settings = dict(pruner)
    name = settings.pop("name", "none")
    cls = pruner_class(name)
    check_settings(f"hydra.sweeper.pruner.name={name}", cls, settings)
    built("hydra.sweeper.pruner", cls, settings)
    return lambda: cls(**settings)


def check_pruning(pruner: dict, launcher, workers: bool = False) -> None:
    """A pruner by name with its settings, on a launcher (its config or instance) whose jobs
    report each epoch: ours, or (`workers`) a search's workers on SLURM (search/workers.py)."""
    pruner_maker(pruner)
    name = pruner.get("name", "none")
    if name != "none" and not (forks_jobs(launcher) or workers):
        raise SearchError(
            f"hydra.sweeper.pruner.name={name} needs a launcher that reports each epoch "
            "(hydra/launcher=parallel, the default, or slurm without hydra.sweeper.batches)"
        )


def check_settings(what: str, cls, settings: dict) -> None:
    allowed = [p for p in inspect.signature(cls).parameters if p not in ("self", "search_space")]
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise SearchError(f"{what} does not take {', '.join(unknown)}; it takes {', '.join(allowed)}")


def built(what: str, cls, settings: dict) -> None:
    """Build an Optuna sampler or pruner once, so that a value it refuses (a seed that is not
    an integer, a negative count) is refused now, in one line, before any trial."""
    try:
        cls(**settings)
    except (TypeError, ValueError) as error:
        given = ", ".join(f"{key}={value!r}" for key, value in settings.items() if key != "search_space")
        raise SearchError(f"{what}: Optuna's {cls.__name__} refuses {given}: {str(error).splitlines()[0]}") from None
