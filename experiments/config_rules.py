"""What every config key may hold, checked before a run loads any data.

One table, RULES, maps each key to a check; a check returns None when the
value is allowed, else a phrase saying what is allowed. To add a key: add it
to conf/ and give it a rule here.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from omegaconf import DictConfig, ListConfig, OmegaConf

from nn_core.datasets import DATASETS


class ConfigError(ValueError):
    """A config value that is not allowed; the message names key, value and rule."""


def _is_int(v):
    return isinstance(v, Integral) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)


def integer(low):
    return lambda v: None if _is_int(v) and v >= low else f"an integer >= {low}"


def number(low=None, high=None, low_open=True, high_open=False):
    def check(v):
        ok = _is_real(v)
        if ok and low is not None:
            ok = v > low if low_open else v >= low
        if ok and high is not None:
            ok = v < high if high_open else v <= high
        left = "" if low is None else f"{'>' if low_open else '>='} {low}"
        right = "" if high is None else f"{'<' if high_open else '<='} {high}"
        return None if ok else "a finite number " + " and ".join(filter(None, [left, right]))

    return check


def one_of(*choices):
    return lambda v: None if v in choices else "one of " + ", ".join(map(str, choices))


def optional(check):
    return lambda v: None if v is None else (check(v) and check(v) + ", or null")


def hidden_sizes(v):
    sizes = v if isinstance(v, (list, tuple)) else [v]
    ok = len(sizes) >= 1 and all(_is_int(s) and s >= 1 for s in sizes)
    return None if ok else "an integer >= 1, or a non-empty list of them like [256,128]"


def sample_count(v):
    """An int count or a float fraction, as scikit-learn's train_test_split takes."""
    if (_is_int(v) and v >= 1) or (_is_real(v) and isinstance(v, float) and 0 < v < 1):
        return None
    return "an integer count >= 1 or a fraction in (0, 1)"


def string_list(v):
    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(s, str) for s in v)
    return None if ok else "a non-empty list of URL prefixes"


RULES = {
    "hidden": hidden_sizes,
    "activation": one_of("sigmoid", "tanh", "relu"),
    "init": one_of("normal", "xavier", "he"),
    "init_scale": number(low=0),
    "optimizer": one_of("sgd", "momentum", "nesterov", "adam"),
    "lr": number(low=0),
    "batch_size": integer(1),
    "epochs": integer(1),
    "momentum": number(low=0, high=1, low_open=False, high_open=True),
    "adam_beta1": number(low=0, high=1, low_open=False, high_open=True),
    "adam_beta2": number(low=0, high=1, low_open=False, high_open=True),
    "weight_decay": number(low=0, low_open=False),
    "schedule": one_of("constant", "step", "cosine"),
    "lr_step_size": integer(1),
    "lr_gamma": number(low=0, high=1),
    "patience": integer(0),
    "seed": integer(0),
    "dtype": one_of("float32", "float64"),
    "blas_threads": optional(integer(1)),
    "data.name": one_of(*DATASETS),
    "data.root": optional(lambda v: None if isinstance(v, str) and v else "a folder path"),
    "data.val_size": sample_count,
    "data.test_size": sample_count,
    "data.split_seed": integer(0),
    "data.mirrors": optional(string_list),
    "data.fallback": lambda v: None if isinstance(v, bool) else "true or false",
}

# The data.* keys each data set takes; any key not in RULES is an error.
DATA_KEYS = {name: {"name", *spec.options} for name, spec in DATASETS.items()}


def _flatten(cfg, prefix=""):
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, DictConfig):
            yield from _flatten(value, name + ".")
        else:
            yield name, OmegaConf.to_object(value) if isinstance(value, ListConfig) else value


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError listing every key whose value is not allowed."""
    values = dict(_flatten(cfg))
    problems = []
    for key, value in values.items():
        if key not in RULES:
            known = ", ".join(k for k in RULES)
            problems.append(f"unknown config key '{key}' (known keys: {known})")
            continue
        allowed = RULES[key](value)
        if allowed:
            problems.append(f"{key}={value!r} is not allowed: must be {allowed}")
    data_name = values.get("data.name")
    if data_name in DATA_KEYS:
        for key in values:
            if key.startswith("data.") and key[5:] not in DATA_KEYS[data_name] and key in RULES:
                problems.append(f"{key} does not apply to data={data_name} (its keys: {', '.join(sorted(DATA_KEYS[data_name]))})")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
