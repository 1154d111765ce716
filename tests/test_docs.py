"""The docs' commands still work: every `python -m experiments.train` line in a code block
of the README and docs/ is checked as the command would check it before running anything
(our command-line checks, Hydra's composition with every override, the config rules on
each job), and every option of the other commands a code block uses is one they take.
Cheap: nothing trains. (The commands that train are run for real by the tests of what
they do, and a walk through them on a fresh clone is in each session's closing note.)"""

from __future__ import annotations

import shlex

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from experiments.run.checks import task_config
from experiments.run.command_line import problem_with
from experiments.run.config_rules import ConfigError, check_config
from experiments.sweep.checks import grid_jobs
from helpers import CONF, REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PROGRAMS = ("python -m experiments.", ".venv/bin/python -m experiments.", "mnist-train", "mnist-compare")


refused: set[tuple[str, str]] = set()  # the commands a block shows being refused, with the refusal


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) for each command line in a code block: continuation lines joined,
    a prompt `$ ` and a trailing `# comment` taken off. A command whose block shows
    "invalid ..." as its output goes into `refused`."""
    found = []
    for doc in DOCS:
        in_block, pending, start = False, "", 0
        for number, line in enumerate(doc.read_text().splitlines(), start=1):
            if line.startswith("```"):
                in_block, pending = not in_block, ""
                continue
            if not in_block:
                continue
            text = line.removeprefix("$ ").strip()
            if pending:
                text = pending + " " + text
            elif not text.startswith(PROGRAMS):
                if found and found[-1][0].startswith(f"{doc.relative_to(REPO)}:") and "invalid" in text:
                    refused.add(found[-1])  # the block shows the command's refusal as its output
                continue
            else:
                start = number
            if text.endswith("\\"):
                pending = text[:-1].strip()
                continue
            pending = ""
            words = shlex.split(text, comments=True)
            found.append((f"{doc.relative_to(REPO)}:{start}", " ".join(map(shlex.quote, words))))
    return found


COMMANDS = documented_commands()
TRAIN = [(where, c) for where, c in COMMANDS if "experiments.train" in c or c.startswith("mnist-train")]


def arguments(command: str) -> list[str]:
    words = shlex.split(command)
    return words[3:] if words[1] == "-m" else words[1:]


def test_the_docs_show_commands_to_check():
    assert len(TRAIN) >= 30 and any("hparams_search=optuna" in c for _, c in TRAIN)


@pytest.mark.parametrize("where, command", TRAIN, ids=[where for where, _ in TRAIN])
def test_each_documented_train_command_passes_the_checks_it_would_meet(where, command):
    argv = arguments(command)
    if argv in (["--help"], ["-h"]) or any(a.startswith(("-sc", "--shell-completion")) for a in argv):
        return
    if (where, command) in refused:  # shown refused: it must still be
        with pytest.raises(ConfigError):
            check_config(task_config(composed(arguments(command))))
        return
    assert problem_with(argv) is None, f"{where}: {command}: {problem_with(argv)}"
    overrides = [a for a in argv if a not in ("-m", "--multirun")]
    searched = "hparams_search=optuna" in overrides
    task = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    hydra = [o for o in overrides if o.lstrip("+~").startswith("hydra")]
    # A search's space (interval, choice) is its sweeper's: the first job is the fixed overrides.
    jobs = [[o for o in task if "(" not in o]] if searched else grid_jobs(task)
    for job in (jobs[0], jobs[-1]):
        check_config(task_config(composed([*job, *hydra])))


def composed(overrides: list[str]):
    """The config these overrides make, hydra's part included (its overrides checked too)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        config = compose("config", overrides=overrides, return_hydra_config=True)
    assert OmegaConf.select(config, "hydra.sweeper") is not None
    return config


OTHERS = [(where, c) for where, c in COMMANDS if (where, c) not in TRAIN]


@pytest.mark.parametrize("where, command", OTHERS, ids=[where for where, _ in OTHERS])
def test_each_documented_option_of_the_other_commands_is_one_they_take(where, command, capsys):
    import importlib

    words = shlex.split(command)
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
