"""Every shipped config composes and passes the config rules (no training)."""

import re

import pytest

from experiments.run.config_rules import ConfigError, check_config
from helpers import CONF, composed


@pytest.mark.parametrize("data", sorted(p.stem for p in (CONF / "data").glob("*.yaml")))
def test_every_data_set_config_is_valid(data):
    cfg = composed(f"data={data}")
    check_config(cfg)
    assert cfg.data.name == data


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_preset_is_valid(experiment):
    cfg = composed(f"+experiment={experiment}")
    check_config(cfg)
    assert cfg != composed(), f"+experiment={experiment} changes nothing"


def test_defaults_are_the_classic_network():
    cfg = composed()
    assert (cfg.hidden, cfg.activation, cfg.init, cfg.init_scale, cfg.optimizer.name) == (
        128,
        "sigmoid",
        "normal",
        1.0,
        "sgd",
    )
    assert (cfg.schedule.name, cfg.dropout, cfg.augment.shift, cfg.augment.flip) == ("constant", 0.0, 0, False)
    assert (cfg.lr, cfg.batch_size, cfg.epochs, cfg.data.name) == (0.1, 32, 10, "mnist")


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        check_config(composed("lr=0", "epochs=0", "optimizer=momentum", "optimizer.momentum=1.0"))
    message = str(info.value)
    assert "lr=0 " in message and "epochs=0 " in message and "optimizer.momentum=1.0 " in message


def test_help_lists_every_key_with_its_meaning_and_rule():
    from experiments.run.config_groups import keys_help
    from experiments.run.config_rules import GROUPS, RULES

    text = keys_help()
    blocks, key = {}, None  # each key with its text, its wrapped lines joined
    for line in text.splitlines():
        if line[2:3].strip():  # a key starts a block; a wrapped line starts blank under it
            key, rest = line.split(None, 1) if len(line.split(None, 1)) == 2 else (line.strip(), "")
            blocks[key] = [rest]
        else:
            blocks[key].append(line.strip())
    for key, rule in RULES.items():
        said = " ".join(blocks[key])
        meaning, _, allowed = said.partition("allowed: ")
        assert meaning.strip(), f"{key} has no meaning in conf/*.yaml comments"
        assert allowed == f"{rule}".replace("$", "$$"), (key, allowed)
    for group, registry in GROUPS.items():
        for name, entry in registry.items():
            assert f"{group}={name}" in text
            for setting in entry.settings:
                assert f"{group}.{setting} " in text


def test_help_through_the_cli(tmp_path):
    from helpers import run_cli

    out = run_cli("experiments.train", "--help", cwd=tmp_path, check=0).stdout
    assert re.search(r"optimizer\.momentum +velocity", out) and "allowed: a finite number > 0" in out
    assert "== This config ==" in out


def every_rule():
    """(options to compose with, key, its rule) for every config key and every registry setting."""
    from experiments.run.config_rules import GROUPS, RULES
    from nn_core.datasets import DATASETS

    for key, rule in RULES.items():
        taker = next((f"data={name}" for name, spec in DATASETS.items() if key[5:] in spec.options), "data=mnist")
        yield (taker if key.startswith("data.") else "data=mnist", key, rule)
    for group, registry in GROUPS.items():
        for name, entry in registry.items():
            for setting_name, setting in entry.settings.items():
                yield (f"{group}={name}", f"{group}.{setting_name}", setting.allowed)


@pytest.mark.parametrize("option, key, rule", list(every_rule()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_rule_refuses_the_value_it_generates_as_invalid(option, key, rule):
    """Each constraint makes a value it refuses (invalid()); set on a valid config,
    the check names the key, the value and what is allowed (as scikit-learn tests its parameters)."""
    from omegaconf import OmegaConf

    cfg = composed(option)
    check_config(cfg)
    bad = rule.invalid()
    assert not rule.allows(bad)
    OmegaConf.update(cfg, key, bad, force_add=True)
    with pytest.raises(ConfigError) as info:
        check_config(cfg)
    assert f"{key}={bad!r} is not allowed: must be {rule}" in str(info.value)


def test_job_folders_name_drawn_floats_in_six_digits_and_typed_values_as_typed():
    from experiments.run.config_groups import folder_name

    assert folder_name("dropout=0.30000000000000004,lr=1.2345678901234567e-05") == "dropout=0.3,lr=1.23457e-05"
    typed = "hidden=[512,256],lr=0.123456789,weight_decay=0.0000001"  # a grid's, under 10 digits: its resume finds them
    assert folder_name(typed) == typed
