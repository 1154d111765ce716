"""The `optimizer` and `schedule` config groups, made from nn_core's registries.

Each registry entry becomes one option of its group, holding its name and its
settings' defaults, so `optimizer=adam optimizer.beta1=0.8` works and a setting
the chosen option does not take is refused by Hydra. Imported before any config
is composed (experiments.train, and the tests that compose in-process).
"""

from hydra.core.config_store import ConfigStore

from experiments.config_rules import GROUPS


def register() -> None:
    """Store every registry entry as an option of its group (again after a registry changed)."""
    for group, registry in GROUPS.items():
        for name, entry in registry.items():
            ConfigStore.instance().store(group=group, name=name, node={"name": name, **entry.defaults()})


register()
