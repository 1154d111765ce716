"""What every config key may hold, checked before a run loads any data.

RULES maps each top-level and data.* key to a constraint (nn_core.constraints);
the names a key may choose from are read from nn_core's registries, the rules of
the network's switches and the training options from beside their fields
(Architecture, TrainingOptions), and the settings of the `optimizer` and
`schedule` groups come with their registry entries. To add another top-level
key: add it to conf/config.yaml and give it a rule here.
"""

from __future__ import annotations

import difflib
from numbers import Integral, Real

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nn_core.constraints import Boolean, CountOrFraction, Interval, ListOf, Optional, Options, Text, field_constraints
from nn_core.datasets import DATASETS
from nn_core.network import INITS, Architecture
from nn_core.optim import OPTIMIZERS, SCHEDULES
from nn_core.training import TrainingOptions


class ConfigError(ValueError):
    """A config value that is not allowed; the message names key, value and rule."""


# TrainingOptions' fields are config keys of the same name, but for these.
OPTION_KEYS = {"shift": "augment.shift", "flip": "augment.flip"}

RULES = {
    "hidden": ListOf(Interval(Integral, 1, None), scalar_ok=True, example=" like [256,128]"),
    # The network's switches and the training options carry their rules beside their fields.
    **field_constraints(Architecture),
    "init": Options(INITS),
    "init_scale": Interval(Real, 0, None, closed="neither"),
    "lr": Interval(Real, 0, None, closed="neither"),
    **{OPTION_KEYS.get(name, name): rule for name, rule in field_constraints(TrainingOptions).items()},
    "seed": Interval(Integral, 0, None),
    "dtype": Options("float32", "float64"),
    "blas_threads": Optional(Interval(Integral, 1, None)),
    "save_weights": Boolean(),
    "dry_run": Boolean(),
    "resume": Boolean(),
    "data.name": Options(DATASETS),
    "data.root": Optional(Text("a folder path")),
    "data.val_size": CountOrFraction(),
    "data.test_size": CountOrFraction(),
    "data.split_seed": Interval(Integral, 0, None),
    "data.mirrors": Optional(ListOf(Text("URL prefixes"))),
    "data.fallback": Boolean(),
    "logger.tensorboard.dir": Text("a folder name, inside the run's folder"),
    "logger.mlflow.tracking_uri": Text("an MLflow tracking URI, like sqlite:///runs/mlflow.db"),
    "logger.mlflow.experiment": Text("an MLflow experiment name"),
}

# Keys that say how a run is carried out, not what it computes, and keys that say
# where its data is, not what the data is. Read by resume (it may change the first
# kind, and `epochs`), by compare (runs differing only in these and the seed are
# one configuration) and by the run folders' names (conf/config.yaml leaves them out).
HOW_IT_RUNS = (
    "blas_threads",
    "save_weights",
    "resume",
    "dry_run",
    "logger",
    *(k for k in RULES if k.startswith("logger.")),
)
WHERE_THE_DATA_IS = ("data.root", "data.mirrors", "data.fallback")
NOT_HYPERPARAMETERS = HOW_IT_RUNS + WHERE_THE_DATA_IS
RESUMABLE_CHANGES = (*HOW_IT_RUNS, "epochs")  # a resumed run may grow its epochs

# Config groups whose options are registry entries: group -> registry.
GROUPS = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES}
# Keys whose value chooses the rules of other keys (optimizer.momentum only with momentum or nesterov).
CHOOSE_RULES = ("data.name", *(f"{group}.name" for group in GROUPS))


def flatten(cfg, prefix="") -> dict:
    """A config (DictConfig or nested dicts) as {"data.name": "mnist", ...}, lists as lists."""
    flat = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, (dict, DictConfig)):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = OmegaConf.to_object(value) if isinstance(value, ListConfig) else value
    return flat


def rules_for(values: dict) -> dict:
    """The rule of every key this config may hold: RULES, and the settings of
    the option chosen in each group (optimizer.momentum only with momentum or nesterov)."""
    rules = dict(RULES)
    for group, registry in GROUPS.items():
        rules[f"{group}.name"] = Options(registry)
        entry = registry.get(values.get(f"{group}.name"))
        if entry is not None:
            rules.update({f"{group}.{name}": setting.allowed for name, setting in entry.settings.items()})
    return rules


def unknown_key(key: str, values: dict, rules: dict) -> str:
    """What to say of a key no rule covers: a setting the chosen option of its group
    does not take, or a key no config has (with the nearest known ones)."""
    group, _, setting = key.partition(".")
    if group in GROUPS and values.get(f"{group}.name") in GROUPS[group]:
        chosen = values[f"{group}.name"]
        takes = ", ".join(GROUPS[group][chosen].settings) or "no settings"
        anywhere = sorted({name for option in GROUPS[group].values() for name in option.settings})
        if setting in anywhere:  # another option's setting
            return f"{key} does not apply to {group}={chosen} (it takes {takes})"
        near = difflib.get_close_matches(setting, anywhere, n=2)
        maybe = f"; did you mean {' or '.join(f'{group}.{n}' for n in near)}?" if near else ""
        return f"unknown config key '{key}'{maybe} ({group}={chosen} takes {takes})"
    near = difflib.get_close_matches(key, rules, n=3)
    maybe = f"; did you mean {' or '.join(near)}?" if near else ""
    return f"unknown config key '{key}'{maybe} (known keys: {', '.join(rules)})"


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError listing every key whose value is not allowed, or that
    cannot be resolved (an interpolation to a missing key or environment variable)."""
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as error:
        reason = str(error).splitlines()[0]
        raise ConfigError(f"invalid config:\n  {error.full_key} cannot be resolved: {reason}") from None
    values = flatten(cfg)
    rules, problems = rules_for(values), []
    data_name = values.get("data.name")
    for key, value in values.items():
        if key not in rules:
            problems.append(unknown_key(key, values, rules))
            continue
        if not rules[key].allows(value):
            problems.append(f"{key}={value!r} is not allowed: must be {rules[key]}")
    if data_name in DATASETS:
        takes = {"name", *DATASETS[data_name].options}
        for key in values:
            if key.startswith("data.") and key[5:] not in takes and key in RULES:
                problems.append(f"{key} does not apply to data={data_name} (its keys: {', '.join(sorted(takes))})")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def replans(old: dict, new: dict) -> bool:
    """Whether the schedule of a run's config `old` (flattened) gives another learning rate to
    any of its epochs under `new`'s epochs: a schedule whose horizon is the run's length (cosine)."""
    from nn_core.optim import make_schedule

    settings = {k.split(".", 1)[1]: v for k, v in old.items() if k.startswith("schedule.") and k != "schedule.name"}
    name = old.get("schedule.name", "constant")
    planned = make_schedule(name, old["lr"], old["epochs"], **settings)
    grown = make_schedule(name, old["lr"], new["epochs"], **settings)
    return any(planned(epoch) != grown(epoch) for epoch in range(old["epochs"]))


def check_resumable(saved: dict, current: dict, epochs_done: int) -> None:
    """Refuse to continue a run with a config other than the one it started with
    (saved and current: the configs as nested dicts), or with fewer epochs than it has done."""
    old, new = flatten(saved), flatten(current)
    differ = sorted(k for k in old.keys() | new.keys() if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k))
    problems = [f"{k}: the run has {old.get(k)!r}, this resume {new.get(k)!r}" for k in differ]
    if new["epochs"] < old["epochs"]:
        problems.append(f"epochs={new['epochs']} is fewer than the run's {old['epochs']}: epochs may only grow")
    elif not differ and new["epochs"] > old["epochs"] and replans(old, new):
        problems.append(
            f"epochs={new['epochs']}: schedule={old.get('schedule.name')} spreads its learning rates over the run's "
            f"{old['epochs']} epochs, and over {new['epochs']} would change those of the epochs it planned, so the "
            "run would be neither the one it began nor a new one; start a new run with epochs="
            f"{new['epochs']} (or resume with epochs={old['epochs']})"
        )
    if problems:
        raise ConfigError(
            "cannot resume: the config differs from the run's own (resume with its overrides, or none):\n  "
            + "\n  ".join(problems)
        )
