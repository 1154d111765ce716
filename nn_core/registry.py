"""A registry entry: one option of a registry (an optimiser, a schedule), what
builds it, and the settings it takes (each with its default, its constraint from
nn_core.constraints and its meaning). The config groups, the config rules,
--help and the tests all read these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Setting:
    """A setting of a registry entry: its default, what it allows and what it means."""

    default: object
    allowed: object  # a constraint of nn_core.constraints
    doc: str = ""


@dataclass(frozen=True)
class RegistryEntry:
    """A registry entry (an optimiser, a schedule): what to build and the settings
    it takes, which become its config group's keys (optimizer.momentum)."""

    build: Callable
    settings: dict = field(default_factory=dict)  # name -> Setting
    doc: str = ""

    def defaults(self) -> dict:
        return {name: setting.default for name, setting in self.settings.items()}
