"""A search's space, written in Hydra's override grammar (in the sweeper's `params` or on the
command line), as Optuna distributions: `interval(a, b)` (a float, or an int when both ends
are ints), `tag(log, interval(a, b))`, `choice(a, b)` or `a,b`, `range(start, stop, step)`.
Plain overrides are the trials' fixed ones.

A space can be conditional: a key searched only when another searched key has given values
(hydra.sweeper.conditions: {optimizer.momentum: "optimizer=momentum,nesterov"}), as
ConfigSpace's InCondition; and a network's depth with each layer's size: `hidden.layers`
(how many hidden layers) with `hidden.0`, `hidden.1`, ... (each layer's size), where layer i
is searched when the network has more than i layers and a trial runs with hidden=[h0, h1, ...].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from omegaconf import OmegaConf

from experiments.sweep.search.study import SearchError

LAYER_SIZES = "hidden"  # the config key of the hidden layers' sizes: an int, or a list of them
DEPTH = f"{LAYER_SIZES}.layers"  # searched only: how many hidden layers a trial's network has


@dataclass
class Space:
    """A search space: `distributions` (key -> Optuna distribution, each key after the key its
    condition names) and `conditions` (key -> (parent key, the parent's values under which the
    key is searched)); a key without a condition is searched in every trial."""

    distributions: dict
    conditions: dict

    def __iter__(self):
        return iter(self.distributions)

    def __len__(self) -> int:
        return len(self.distributions)

    def active(self, key: str, params: dict) -> bool:
        """Whether `key` is searched in a trial whose other values are `params`."""
        if key not in self.conditions:
            return True
        parent, values = self.conditions[key]
        return parent in params and params[parent] in values

    def ask(self, study):
        """A new trial of `study`, its values drawn key by key (a conditional one only when its
        condition holds): Optuna's define-by-run, written out as ask and suggest."""
        unconditional = {key: dist for key, dist in self.distributions.items() if key not in self.conditions}
        trial = study.ask(unconditional)
        for key, dist in self.distributions.items():
            if key in self.conditions and self.active(key, trial.params):
                suggest(trial, key, dist)
        return trial

    def overrides(self, params: dict) -> list[str]:
        """A trial's values as overrides: each searched key's, with the layer sizes hidden.0,
        hidden.1, ... gathered into one hidden=[h0,h1,...] (hidden.layers is not a config key)."""
        lines, sizes = [], {}
        for key in self.distributions:
            if key not in params or key == DEPTH:
                continue
            if layer_index(key) is not None:
                sizes[layer_index(key)] = params[key]
            else:
                lines.append(f"{key}={override_value(params[key])}")
        if sizes:
            lines.append(f"{LAYER_SIZES}={override_value([sizes[i] for i in sorted(sizes)])}")
        return lines

    def varies(self, setting: str) -> bool:
        """Whether a run's (flattened) setting is one a trial's values set: a searched key, a
        searched config group's own settings, or the layer sizes."""
        keys = [LAYER_SIZES if layer_index(k) is not None or k == DEPTH else k for k in self.distributions]
        return any(setting == key or setting.startswith(f"{key}.") for key in keys)

    def params_of(self, settings: dict) -> dict:
        """The values a run whose flattened settings are `settings` (optimizer.name: momentum,
        hidden: [128, 64]) has for this space's keys: the trial it would have been."""
        sizes = settings.get(LAYER_SIZES)
        sizes = sizes if isinstance(sizes, list) else [sizes]
        params = {}
        for key in self.distributions:
            if key == DEPTH:
                value = len(sizes)
            elif layer_index(key) is not None:
                value = sizes[layer_index(key)] if layer_index(key) < len(sizes) else None
            else:
                value = settings.get(f"{key}.name", settings.get(key))
                value = override_value(value) if isinstance(value, list) else value
            if self.active(key, params) and value is not None:
                params[key] = value
        return params

    def contains(self, params: dict) -> bool:
        """Whether a trial's `params` are inside the space: every searched key given where its
        condition holds (and no other), each value one of its distribution's."""
        for key, dist in self.distributions.items():
            if self.active(key, params) != (key in params):
                return False
            if key in params and not inside(dist, params[key]):
                return False
        return True

    def distributions_of(self, params: dict) -> dict:
        """The distributions of the keys a trial's `params` hold (what Optuna stores with a trial)."""
        return {key: dist for key, dist in self.distributions.items() if key in params}


def layer_index(key: str) -> int | None:
    """hidden.0 -> 0, hidden.1 -> 1, ...; None for any other key."""
    prefix = f"{LAYER_SIZES}."
    if key.startswith(prefix) and key[len(prefix) :].isdigit():
        return int(key[len(prefix) :])
    return None


def suggest(trial, key: str, dist) -> None:
    """Draw `key` from `dist` in `trial` (Optuna's public suggest_* for each kind of distribution)."""
    if hasattr(dist, "choices"):
        trial.suggest_categorical(key, dist.choices)
    elif type(dist).__name__.startswith("Int"):
        trial.suggest_int(key, dist.low, dist.high, log=dist.log)
    else:
        trial.suggest_float(key, dist.low, dist.high, log=dist.log)


def parse_space(
    params: dict | None, arguments: Sequence[str], conditions: dict | None = None
) -> tuple[list[str], Space]:
    """The trials' fixed overrides, and the search space (its conditions: hydra.sweeper.conditions,
    key -> "parent=value,value"; nested dicts are read as dotted keys)."""
    fixed, distributions = parse_distributions(params, arguments)
    given = conditions_of(flat(conditions or {}), distributions)
    conditions = {**given, **depth_conditions(distributions, given)}
    return fixed, Space(ordered(distributions, conditions), conditions)


def parse_distributions(params: dict | None, arguments: Sequence[str]) -> tuple[list[str], dict]:
    """The fixed overrides, and {key: Optuna distribution} of the swept ones."""
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


def conditions_of(given: dict, space: dict) -> dict:
    """hydra.sweeper.conditions ({key: "parent=value,value"}) as {key: (parent, [values])}, each
    checked: the key and the parent searched, the parent one of given values, each value one of
    them (SearchError naming the first that is not)."""
    conditions = {}
    for key, text in given.items():
        where = f"hydra.sweeper.conditions.{key}={text!r}"
        try:
            (override,) = OverridesParser.create().parse_overrides([str(text)])
        except Exception:
            raise SearchError(f"{where}: a condition is written parent=value or parent=value,value") from None
        parent = override.get_key_element()
        values = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
        if key not in space:
            raise SearchError(f"{where}: {key} is not searched (the space has {', '.join(space)})")
        if parent not in space or not hasattr(space[parent], "choices"):
            raise SearchError(f"{where}: {parent} must be a searched choice (the space has {', '.join(space)})")
        outside = [v for v in values if not inside(space[parent], v)]
        if outside:
            allowed = ", ".join(map(str, space[parent].choices))
            raise SearchError(f"{where}: {', '.join(map(str, outside))} is not one of {parent}'s: {allowed}")
        conditions[key] = (parent, values)
    return conditions


def depth_conditions(space: dict, given: dict) -> dict:
    """The layer sizes' conditions: hidden.i searched when hidden.layers > i. Checked: the sizes
    are hidden.0 .. hidden.(n-1), hidden.layers (if searched) chooses among 1 .. n, and hidden is
    not searched besides (SearchError otherwise)."""
    indices = sorted(i for i in map(layer_index, space) if i is not None)
    if not indices and DEPTH not in space:
        return {}
    if LAYER_SIZES in space:
        raise SearchError(f"{LAYER_SIZES} is searched as a whole and layer by layer ({LAYER_SIZES}.0, ...): choose one")
    if indices != list(range(len(indices))) or not indices:
        raise SearchError(
            f"the layer sizes searched are {LAYER_SIZES}.0, {LAYER_SIZES}.1, ... in turn, one per layer "
            f"(found: {', '.join(f'{LAYER_SIZES}.{i}' for i in indices) or 'none, with ' + DEPTH})"
        )
    if any(layer_index(key) is not None or key == DEPTH for key in given):
        raise SearchError(f"the layer sizes' conditions come from {DEPTH}: give them no condition of their own")
    if DEPTH not in space:
        return {}
    depths = space[DEPTH]
    if not hasattr(depths, "choices") or not all(isinstance(n, int) and 1 <= n <= len(indices) for n in depths.choices):
        raise SearchError(
            f"{DEPTH} must be a choice of numbers of hidden layers from 1 to {len(indices)} (one per size searched)"
        )
    return {f"{LAYER_SIZES}.{i}": (DEPTH, [n for n in depths.choices if n > i]) for i in indices if i > 0}


def ordered(space: dict, conditions: dict) -> dict:
    """The space with each key after the parent its condition names (SearchError for a cycle)."""
    done: dict = {}
    while len(done) < len(space):
        ready = [k for k in space if k not in done and (k not in conditions or conditions[k][0] in done)]
        if not ready:
            cycle = ", ".join(k for k in space if k not in done)
            raise SearchError(f"hydra.sweeper.conditions: {cycle} depend on each other in a cycle")
        done.update((key, space[key]) for key in ready)
    return done


def flat(config: dict, prefix: str = "") -> dict:
    """{"optimizer": {"name": "sgd"}} -> {"optimizer.name": "sgd"}."""
    items = {}
    for key, value in config.items():
        if isinstance(value, dict):
            items.update(flat(value, f"{prefix}{key}."))
        else:
            items[f"{prefix}{key}"] = value
    return items


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


def edge_assignments(space: Space) -> list[dict]:
    """The trials' values to check before any runs, each a {key: value}: every key at each of
    its edges (every choice, both ends of an interval), under each value of its condition that
    searches it (and, further up, the first value of each condition's own); and the layer
    sizes at each depth, all at their smallest and all at their largest."""
    assignments = []
    for key, dist in space.distributions.items():
        if key == DEPTH or layer_index(key) is not None:
            continue
        for context in contexts(space, key):
            assignments.extend({**context, key: value} for value in edges(dist))
    sizes = [dist for key, dist in space.distributions.items() if layer_index(key) is not None]
    depths = space.distributions[DEPTH].choices if DEPTH in space.distributions else [len(sizes)]
    for depth in depths if sizes else []:
        for end in (min, max):
            layers = {f"{LAYER_SIZES}.{i}": end(edges(sizes[i])) for i in range(depth)}
            assignments.append({**({DEPTH: depth} if DEPTH in space.distributions else {}), **layers})
    return assignments


def contexts(space: Space, key: str) -> list[dict]:
    """The values of `key`'s condition under which it is searched: [{}] for a key without one;
    else one {parent: value, ...} per value of its parent that searches it."""
    if key not in space.conditions:
        return [{}]
    parent, values = space.conditions[key]
    above = contexts(space, parent)[0]
    return [{**above, parent: value} for value in values]


def edges(dist) -> list:
    """A distribution's values at its edges: every choice, or both ends of an interval."""
    return list(dist.choices) if hasattr(dist, "choices") else [dist.low, dist.high]


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
