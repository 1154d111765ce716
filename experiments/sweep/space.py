"""A search's space, written in Hydra's override grammar (in the sweeper's `params` or on the
command line), as Optuna distributions: `interval(a, b)` (a float, or an int when both ends
are ints), `tag(log, interval(a, b))`, `choice(a, b)` or `a,b`, `range(start, stop, step)`.
Plain overrides are the trials' fixed ones."""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from omegaconf import OmegaConf

from experiments.sweep.study import SearchError


def parse_space(params: dict | None, arguments: Sequence[str]) -> tuple[list[str], dict]:
    """The trials' fixed overrides, and the search space as {key: Optuna distribution}."""
    import optuna.distributions as d

    lines = [*(f"{key}={value}" for key, value in (params or {}).items()), *arguments]
    try:
        overrides = OverridesParser.create().parse_overrides(lines)
    except Exception as error:  # Hydra's grammar errors: the first line says where
        raise SearchError(f"the search space does not parse: {str(error).splitlines()[0]}") from None
    fixed, space = [], {}
    for override in overrides:
        key = override.get_key_element()
        if not override.is_sweep_override():
            fixed.append(f"{key}={override.get_value_element_as_str()}")
            continue
        space[key] = distribution(override, d)
    return fixed, space


def distribution(override: Override, d):
    """The Optuna distribution of one swept key."""
    key, value = override.get_key_element(), override.value()
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return d.IntDistribution(value.start, value.end, log=log_scale)
        if not value.start < value.end:
            raise SearchError(f"{key}: interval({value.start}, {value.end}) is empty")
        return d.FloatDistribution(float(value.start), float(value.end), log=log_scale)
    if isinstance(value, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise SearchError(f"{key}: range({value.start}, {value.stop}, {value.step}) is empty")
        return d.CategoricalDistribution(values)
    if isinstance(value, ChoiceSweep):
        # A list (hidden=choice([512,256],[1024,512])) is kept as its override text, "[512,256]":
        # a study stores only plain values, and the text reads back as the list.
        plain = (OmegaConf.to_object(v) if OmegaConf.is_config(v) else v for v in value.list)
        return d.CategoricalDistribution([override_value(v) if isinstance(v, list) else v for v in plain])
    raise SearchError(f"{key}: Optuna cannot search {override.input_line!r}; use interval, choice or range")


def edge_values(space: dict) -> dict:
    """The values at the edges of the search space, to check before a trial runs:
    every choice, and both ends of an interval."""
    edges = {}
    for key, dist in space.items():
        edges[key] = list(dist.choices) if hasattr(dist, "choices") else [dist.low, dist.high]
    return edges


def inside(dist, value) -> bool:
    """Whether `value` is one of an Optuna distribution's (Optuna's own test of a value)."""
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def override_value(value) -> str:
    """A value as Hydra's override grammar reads it back."""
    if isinstance(value, list):
        return "[" + ",".join(map(override_value, value)) + "]"
    return str(value)
