"""The command line's overrides, checked before Hydra reads them, so that the
usual slips get one line of ours that says what to type, where Hydra's own
messages give other advice (`lrr=0.1`: "To append to your config use
+lrr=0.1") or none (`-m lr=0.1, 0.5`: "mismatched input '<EOF>' expecting ...";
`data=MNIST`: the config search path).

Only what is certain is said here: a key no config has, a group option that
is not there, a setting the chosen optimiser or schedule does not take, an
override that does not parse. Anything else is left to Hydra and to the config
rules, which check the composed config.
"""

from __future__ import annotations

import itertools

from experiments.run.config_groups import config_dir
from experiments.run.config_rules import GROUPS, rules_for, unknown_key

PRESET_GROUP = "experiment"  # added with a +: it has no default


def group_options() -> dict[str, list[str]]:
    """Each config group and its options: the registries' (optimizer, schedule) and conf/<group>/*.yaml's."""
    groups = {group: list(registry) for group, registry in GROUPS.items()}
    for folder in sorted(config_dir().iterdir()):
        if folder.is_dir() and folder.name != "hydra":
            groups[folder.name] = sorted(f.stem for f in folder.glob("*.yaml"))
    return groups


def problem_with(argv: list[str]) -> str | None:
    """What is wrong with the overrides of a command line (sys.argv[1:]), in one line; None if nothing we can tell."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args, _ = get_args_parser().parse_known_args(argv)
    if args.shell_completion:  # -sc install=bash: Hydra's words, not overrides
        return None
    parser, parsed = OverridesParser.create(), []
    for i, line in enumerate(args.overrides):
        if "=" not in line and not line.startswith("~"):  # ~key deletes a key: Hydra's, without a value
            return f"{line!r} is not key=value (every argument is an override like lr=0.1, or a flag like -m)"
        try:
            (override,) = parser.parse_overrides([line])
        except Exception as error:  # Hydra's grammar error: its first line says where
            after = args.overrides[i + 1] if i + 1 < len(args.overrides) else ""
            if line.endswith(",") and after:  # -m lr=0.1, 0.5
                return f"{line} {after}: a sweep's values are one argument, without spaces: {line}{after}"
            return f"{line} does not parse: {str(error).splitlines()[0]}"
        parsed.append(override)
    searches = any(o.key_or_group == "hparams_search" and o.value() == "optuna" for o in parsed)  # multirun itself
    if not (args.multirun or searches):
        for override in parsed:
            if override.is_sweep_override() and not override.key_or_group.startswith("hydra"):
                return f"{override.input_line} names several values, a sweep: add -m (experiments.train -m ...)"
    for override in parsed:
        problem = unknown_sweeper_setting(override.key_or_group.lstrip("+~"), searches)
        if problem:
            return problem
    groups = group_options()
    chosen = {group: [default_choice(group)] for group in GROUPS}  # the options each job may have
    for override in parsed:
        key = override.key_or_group
        if override.is_delete() or key not in groups:
            continue
        if override.is_sweep_override():
            values = [str(v) for v in override.sweep_iterator()]
        elif isinstance(override.value(), list):  # several options of one group at once: logger=[tensorboard,mlflow]
            values = [str(v) for v in override.value()]
        else:
            values = [override.get_value_element_as_str()]
        if key == PRESET_GROUP and not override.is_add():
            return f"{key}={values[0]}: a preset is added with a +: +{key}={values[0]}"
        for value in values:
            if value not in groups[key]:
                return f"{key}={value} is not one of {', '.join(groups[key])}"
        chosen[key] = values
    return unknown_in_any_combination(parsed, chosen, groups, searches)


def unknown_in_any_combination(parsed: list, chosen: dict, groups: dict, searches: bool) -> str | None:
    """The first setting of `parsed` that some job's combination of options (`chosen`: each
    group's options, e.g. optimizer=adam,sgd) does not take, in one line; a setting must suit
    each. A search's searched setting is left to the search's checks, which check it under its
    condition (experiments/sweep/search/space.py)."""
    for combination in itertools.product(*chosen.values()):
        names = {f"{group}.name": option for group, option in zip(chosen, combination)}
        rules = rules_for(names)
        for override in parsed:
            key = override.key_or_group
            if override.is_add() or override.is_delete() or key.startswith("hydra") or key in groups:
                continue
            if searches and override.is_sweep_override():
                continue
            if key not in rules:
                return unknown_key(key, names, rules)
    return None


SWEEPER = "hydra.sweeper."


def unknown_sweeper_setting(key: str, searches: bool) -> str | None:
    """A hydra.sweeper.NAME that the sweeper does not take (the search's, with hparams_search=optuna,
    or the grid's), in one line with the nearest names; None for one it takes. What is inside
    its dicts (sampler, pruner, params) is the sweeper's to check."""
    import dataclasses
    import difflib

    if not key.startswith(SWEEPER):
        return None
    if searches:
        from experiments.sweep.search.settings import OptunaSearchConf as settings
    else:
        from hydra_plugins.mnist_from_scratch.grid_sweeper import GridSweeperConf as settings
    names = [field.name for field in dataclasses.fields(settings) if not field.name.startswith("_")]
    name = key[len(SWEEPER) :].split(".")[0]
    if name in names:
        return None
    near = difflib.get_close_matches(name, names, n=2)
    maybe = f"; did you mean {' or '.join(SWEEPER + n for n in near)}?" if near else ""
    which = "the search (hparams_search=optuna)" if searches else "a grid sweep"
    return f"unknown sweeper setting '{key}'{maybe} (the sweeper of {which} takes {', '.join(names)})"


def default_choice(group: str) -> str | None:
    """The option conf/config.yaml's defaults list chooses for a group."""
    from omegaconf import OmegaConf

    for entry in OmegaConf.load(config_dir() / "config.yaml").defaults:
        if OmegaConf.is_dict(entry) and group in entry:
            return str(entry[group])
    return None
