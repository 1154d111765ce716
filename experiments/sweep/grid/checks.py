"""Checking a grid before its first job without composing each job: every value of every key
against the config rules, in every combination of the keys composed per value, and the
memory estimate on each combination's largest job; and the grid's pruner."""

from __future__ import annotations

import itertools
import math

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from experiments.run.checks import refuse, task_config
from experiments.run.components import check_memory_ahead, memory_needed_ahead
from experiments.run.config_rules import ConfigError, check_config
from experiments.sweep.grid.halving import settings_of
from experiments.sweep.grid.sweeper import sweep_grid
from experiments.sweep.launch.compose import composed_per_value, with_value
from experiments.sweep.search.by_name import check_pruning
from experiments.sweep.search.study import SearchError


def check_grid(config: DictConfig) -> tuple[list[DictConfig], list[str], int]:
    """Check a grid before its first job without composing each job: every value of every key
    against the config rules, in every combination of the keys composed per value (config
    groups like optimizer=sgd,adam, the names that choose other keys' rules, data.*), and the
    memory estimate on each combination's largest job. The rules are per key
    (experiments/run/config_rules.py), so a job fails its check exactly when one of its values
    does: a 10 x 10 x 10 grid of lr, hidden and batch_size is checked in one composition and
    30 values, not 1,000 jobs. Returns the configs composed (one per combination), one line
    per bad value with how many jobs it spoils and the first, and how many jobs would fail."""
    grid = sweep_grid(config)
    loader = GlobalHydra.instance().config_loader()
    parsed = {key: OverridesParser.create().parse_overrides(values) for key, values in grid.choices.items()}
    per_value = [key for key, overrides in parsed.items() if composed_per_value(overrides[0], loader)]
    spoiled = Spoiled(grid)
    configs, failing = [], 0
    for combination in itertools.product(*(range(len(grid.choices[key])) for key in per_value)):
        at = dict(zip(per_value, combination))
        jobs = len(grid) // math.prod(len(grid.choices[key]) for key in per_value)  # jobs of this combination
        try:
            base = task_config(loader.load_sweep_config(config, grid[grid.number_at(at)]))
        except HydraException as error:  # an option a group does not have
            spoiled.add(str(error).splitlines()[0], jobs, at)
            failing += jobs
            continue
        configs.append(base)
        varied = {key: overrides for key, overrides in parsed.items() if key not in per_value and len(overrides) > 1}
        failing += check_combination(base, varied, at, jobs, spoiled)
    return configs, spoiled.lines(), failing


class Spoiled:
    """The refusal lines of a grid's check: each reason once, with how many jobs it spoils and the first."""

    def __init__(self, grid):
        self.grid, self.reasons = grid, {}  # reason -> [jobs, the first job's number]

    def add(self, reason: str, jobs: int, at: dict) -> None:
        """`jobs` more jobs spoilt by `reason`, the first of them at these positions (key -> value's position)."""
        first = self.grid.number_at(at)
        seen = self.reasons.setdefault(reason, [0, first])
        seen[0], seen[1] = seen[0] + jobs, min(seen[1], first)

    def lines(self) -> list[str]:
        return [
            f"{reason} ({f'{jobs} jobs; the first: ' if jobs > 1 else ''}job {first}: {','.join(self.grid[first])})"
            for reason, (jobs, first) in self.reasons.items()
        ]


def check_combination(base: DictConfig, varied: dict, at: dict, jobs: int, spoiled: Spoiled) -> int:
    """Check one combination of the keys composed per value (its config `base`, its `jobs`):
    each value of each other key set on `base` and checked, then its largest job's memory.
    Adds what is wrong to `spoiled`; returns how many of its jobs would fail."""
    candidates = {key: [with_value(base, o) for o in overrides] for key, overrides in varied.items()}
    reasons = {key: [config_problems(c) for c in cs] for key, cs in candidates.items()}
    bad, attributed = {}, set()  # key -> positions of its values that break a rule here; their reasons
    for key, found in reasons.items():
        always = set.intersection(*found)  # not this key's doing: the same whatever its value
        bad[key] = {position for position, r in enumerate(found) if r - always}
        for position in bad[key]:
            for reason in found[position] - always:
                spoiled.add(reason, jobs // len(found), {**at, key: position})
                attributed.add(reason)
    fixed = config_problems(base) - attributed
    for reason in fixed:  # a fixed value's, or one every value of a key has: every job here
        spoiled.add(reason, jobs, at)
    if fixed:
        return jobs
    failing = jobs - math.prod(len(varied[key]) - len(bad[key]) for key in varied)
    largest, positions = biggest_job(base, varied, candidates, bad)
    try:
        check_memory_ahead(largest)
    except ConfigError as error:
        spoiled.add("the grid's largest job: " + str(error).splitlines()[1].strip(), 1, {**at, **positions})
        failing += 1
    return failing


def config_problems(config: DictConfig) -> set[str]:
    """Every line check_config would refuse this config with (none: an empty set)."""
    try:
        check_config(config)
    except ConfigError as error:
        return {line.strip() for line in str(error).splitlines()[1:]}
    return set()


def biggest_job(base: DictConfig, parsed: dict, candidates: dict, bad: dict) -> tuple[DictConfig, dict]:
    """The job of this combination the memory estimate puts highest, from each key's value that
    alone takes the most (the estimate grows with each of hidden, batch_size, dtype...), and
    the positions of those values."""
    largest, positions = base, {}
    for key, configs in candidates.items():
        needs = {p: memory_needed_ahead(c) for p, c in enumerate(configs) if p not in bad[key]}
        if len(set(needs.values())) > 1:
            positions[key] = max(needs, key=needs.get)
            largest = with_value(largest, parsed[key][positions[key]])
    return largest, positions


def check_grid_pruner(config: DictConfig) -> None:
    pruner = config.hydra.sweeper.get("pruner")
    if pruner is not None:
        pruner = OmegaConf.to_container(pruner, resolve=True)
        try:
            if pruner.get("name") == "halving":  # ours, synchronous: its own settings (grid/halving.py)
                settings_of(pruner, sweep_grid(config), config.epochs)
                pruner = {"name": "halving"}  # what is left to check: the launcher
            check_pruning(pruner, config.hydra.launcher)
        except SearchError as error:
            refuse("invalid sweep: %s", error)
