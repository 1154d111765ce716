"""Checking a search before its first trial: every value at the edges of its space against the
config rules (its settings are checked as they are built: settings.py), then its study."""

from __future__ import annotations

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from experiments.run.checks import refuse, task_config
from experiments.run.components import check_memory_ahead
from experiments.run.config_rules import ConfigError, check_config
from experiments.sweep.launch.compose import with_value
from experiments.sweep.search.settings import SearchSettings, search_settings
from experiments.sweep.search.space import edge_assignments
from experiments.sweep.search.study import SearchError, open_study


def checked_settings(config: DictConfig) -> SearchSettings:
    """The search's settings (hydra.sweeper.*) checked on this launch's overrides and launcher;
    refused in one line, exit 2, when they cannot run."""
    try:
        given = OmegaConf.to_container(config.hydra.sweeper, resolve=True)
        return search_settings(given, list(config.hydra.overrides.task), config, config.hydra.launcher)
    except SearchError as error:
        refuse("invalid search: %s", error)


def check_search(config: DictConfig, search: SearchSettings, open_storage: bool = True) -> tuple[list, list[str]]:
    """Check an Optuna search, its settings checked already, before its first trial: every
    value at the edges of its space against the config rules, then (open_storage) its study.
    Returns the configs checked and one line per bad value."""
    fixed, space = search.fixed, search.space
    loader = GlobalHydra.instance().config_loader()
    composed = {}  # the config groups' overrides -> the config they compose with the fixed ones

    def compose(groups: tuple) -> DictConfig:
        if groups not in composed:
            composed[groups] = task_config(loader.load_sweep_config(config, [*fixed, *groups]))
        return composed[groups]

    base = compose(())
    configs, problems = [base], []
    for assignment in edge_assignments(space):
        overrides = space.overrides(assignment)
        given = " ".join(overrides)
        # A config group (optimizer=adam) is composed with the fixed overrides; any other value is set
        # as a trial's override gives it ("[512,256]" is a list).
        lines = OverridesParser.create().parse_overrides(overrides)
        groups = tuple(o.input_line for o in lines if OmegaConf.is_dict(OmegaConf.select(base, o.key_or_group)))
        try:
            candidate = compose(groups)
        except HydraException as error:  # an option the group does not have
            problems.append(f"{given}: {str(error).splitlines()[0]}")
            continue
        for override in lines:
            if override.input_line not in groups:
                candidate = with_value(candidate, override)
        try:
            check_config(candidate)
            check_memory_ahead(candidate)
        except ConfigError as error:
            reasons = "; ".join(r.strip() for r in str(error).splitlines()[1:])
            problems.append(f"{given}: {reasons}{condition_hint(space, reasons)}")
        configs.append(candidate)
    if open_storage and not problems:  # last: opening a storage may create it
        try:
            open_study(search.study_name, search.storage, search.definition())
        except SearchError as error:
            refuse("invalid search: %s", error)
    return configs, problems


def condition_hint(space, reasons: str) -> str:
    """For a searched setting of a searched config group refused as one its option does not take
    ("optimizer.momentum does not apply to optimizer=sgd"): how to search it only with the options that do."""
    for key in space.distributions:
        group = key.split(".")[0]
        if f"{key} does not apply to {group}=" in reasons and group in space.distributions:
            return (
                f" (to search {key} only with the {group}s that take it, give it a condition: "
                f"""'hydra.sweeper.conditions={{{key}: "{group}=..."}}')"""
            )
    return ""
