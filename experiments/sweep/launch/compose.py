"""A job's config, fast: how Hydra names a job's folder (FolderNaming), which overrides Hydra
must compose and which are plain values set on a composed config (split_overrides), as the
pool composes each job just before it starts and the grid's and search's checks check
values without composing every job."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from experiments.run.config_rules import CHOOSE_RULES


def run_folder_of(config: DictConfig) -> Path:
    return Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)


@dataclass(frozen=True)
class FolderNaming:
    """How Hydra names a sweep's job folders (hydra.sweep.dir/hydra.sweep.subdir), read once
    from the sweep's config: read per job, its exclude_keys resolved each time, it took 10 ms."""

    sweep_dir: str
    subdir: str  # hydra.sweep.subdir as written, unresolved
    exclude_keys: frozenset
    item_sep: str
    kv_sep: str

    @classmethod
    def of(cls, master: DictConfig) -> FolderNaming:
        naming = master.hydra.job.config.override_dirname
        subdir = OmegaConf.to_container(master.hydra.sweep, resolve=False)["subdir"]
        return cls(str(master.hydra.sweep.dir), subdir, frozenset(naming.exclude_keys), naming.item_sep, naming.kv_sep)

    def override_dirname(self, overrides: list[str]) -> str:
        """hydra.job.override_dirname as Hydra makes it: the job's overrides but the excluded
        keys, sorted, joined by item_sep, `=` replaced by kv_sep."""
        lines = sorted(o for o in overrides if _parsed(o).key_or_group not in self.exclude_keys)
        return self.item_sep.join(lines).replace("=", self.kv_sep)

    def run_folder(self, overrides: list[str], number: int) -> Path | None:
        """Job `number`'s folder without composing its config: the subdir from hydra.job.num and
        override_dirname; None when it names anything else (then only the composed config knows)."""
        job = {"num": number, "override_dirname": self.override_dirname(overrides)}
        probe = OmegaConf.create({"hydra": {"job": job, "sweep": {"subdir": self.subdir}}})
        try:
            return Path(self.sweep_dir) / str(probe.hydra.sweep.subdir)
        except OmegaConfBaseException:
            return None


def split_overrides(overrides: list[str], loader) -> tuple[tuple, list | None]:
    """A job's overrides Hydra must compose (config groups, data.*, +, ++, ~...), and the others
    parsed, or None when one of them is not a plain change of a value (a dict is merged, not set)."""
    composed, plain = [], []
    for line in overrides:
        override = _parsed(line)
        if composed_per_value(override, loader):
            composed.append(line)
        else:
            plain.append(override)
    simple = all(o.type == OverrideType.CHANGE and o.package is None and not isinstance(o.value(), dict) for o in plain)
    return tuple(composed), plain if simple else None


@functools.lru_cache(maxsize=4096)
def _parsed(override: str):
    return OverridesParser.create().parse_override(override)


def composed_per_value(override, loader) -> bool:
    """True for a key whose every value is composed by Hydra before the checks: a config group
    (optimizer=adam, +experiment=x), a deletion, a name that chooses other keys' rules
    (optimizer.name), or a data.* key (each distinct data set is checked for its files)."""
    key = override.key_or_group
    return override.is_delete() or key.startswith("data.") or key in CHOOSE_RULES or loader.repository.group_exists(key)


def with_value(base: DictConfig, override) -> DictConfig:
    """A copy of `base` with the override's key set to its value, as composing it would."""
    candidate = base.copy()
    OmegaConf.update(candidate, override.key_or_group, override.value(), force_add=True)
    return candidate
