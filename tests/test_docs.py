"""The docs' commands still work: every `python -m experiments.train` line in a code block
of the README and docs/ is checked as the command would check it before running anything
(our command-line checks, Hydra's composition with every override, the config rules on
each job), and every option of the other commands a code block uses is one they take.
Cheap: nothing trains. test_walkthrough.py (slow) runs every block for real."""

from __future__ import annotations

import shlex

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from documented import DOCS, documented_commands
from experiments.run.checks import task_config
from experiments.run.command_line import problem_with
from experiments.run.config_rules import ConfigError, check_config
from experiments.sweep.grid.sweeper import Grid
from helpers import CONF, REPO

COMMANDS = documented_commands()
TRAIN = [c for c in COMMANDS if "experiments.train" in c.line or c.line.startswith("mnist-train")]
OTHERS = [c for c in COMMANDS if c not in TRAIN]


def arguments(command: str) -> list[str]:
    words = shlex.split(command)
    return words[3:] if words[1] == "-m" else words[1:]


def test_the_docs_show_commands_to_check():
    assert len(TRAIN) >= 30 and any("hparams_search=optuna" in c.line for c in TRAIN)
    assert any(c.refused for c in TRAIN)  # README's refused example


@pytest.mark.parametrize("command", TRAIN, ids=[c.where for c in TRAIN])
def test_each_documented_train_command_passes_the_checks_it_would_meet(command):
    where, argv = command.where, arguments(command.line)
    if argv in (["--help"], ["-h"]) or any(a.startswith(("-sc", "--shell-completion")) for a in argv):
        return
    if command.refused:  # shown refused: it must still be
        with pytest.raises(ConfigError):
            check_config(task_config(composed(argv)))
        return
    assert problem_with(argv) is None, f"{where}: {command.line}: {problem_with(argv)}"
    overrides = [a for a in argv if a not in ("-m", "--multirun")]
    searched = "hparams_search=optuna" in overrides
    task = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    hydra = [o for o in overrides if o.lstrip("+~").startswith("hydra")]
    # A search's space (interval, choice) is its sweeper's: the first job is the fixed overrides.
    jobs = [[o for o in task if "(" not in o]] if searched else Grid(task)
    for job in (jobs[0], jobs[-1]):
        check_config(task_config(composed([*job, *hydra])))


def composed(overrides: list[str]):
    """The config these overrides make, hydra's part included (its overrides checked too)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        config = compose("config", overrides=overrides, return_hydra_config=True)
    assert OmegaConf.select(config, "hydra.sweeper") is not None
    return config


@pytest.mark.parametrize("command", OTHERS, ids=[c.where for c in OTHERS])
def test_each_documented_option_of_the_other_commands_is_one_they_take(command, capsys):
    import importlib

    where, words = command.where, command.words
    module = "experiments.compare" if words[0] == "mnist-compare" else words[2]
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    for option in (w.split("=")[0] for w in words if w.startswith("--")):
        assert option in usage, f"{where}: {module} has no {option}"


def test_the_docs_name_files_that_exist():
    """Links between the docs (docs/x.md, a figure) point at files that are there."""
    import re

    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#:]+)\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.relative_to(REPO)} links to {target}, which is not there"
