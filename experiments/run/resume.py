"""What resume=true continues: a run, or a sweep, as it was configured.

    python -m experiments.train hydra.run.dir=runs/r resume=true
    python -m experiments.train -m hydra.sweep.dir=runs/multirun/s resume=true

need none of the first command's overrides. A run's are read from its own
.hydra/overrides.yaml and go before the command line's, which win where they
name the same key (`epochs=60` lets a run go on for longer). A sweep's are read
from its sweep.json and replace the command line's, so that its jobs keep their
numbers and folders; a command line that names other values is left as it is,
and the sweep's checks refuse it, saying what differs.

Also here: the command that continues a run or sweep, which an interrupted one prints.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from omegaconf import OmegaConf

from experiments.run.files import RunFolder
from experiments.run.sweep_files import LAUNCHER_OVERRIDES, saved_launcher_overrides, saved_sweep_overrides


def program() -> str:
    """How the user started this command: the mnist-train script, or python -m experiments.train."""
    return "mnist-train" if Path(sys.argv[0]).name == "mnist-train" else "python -m experiments.train"


def folder_override(key: str, folder) -> str:
    """key=folder as Hydra's override grammar reads it back: quoted, since a sweep job's
    folder name holds the characters the grammar gives a meaning (`3_lr=0.1,seed=1`)."""
    text = str(folder)
    if re.fullmatch(r"[\w/.:@%+~-]+", text):  # nothing the grammar reads otherwise: as it is
        return f"{key}={text}"
    quoted = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"{key}='{quoted}'"


def continue_command(folder: Path, sweep: bool) -> str:
    """The command that continues the run or sweep in `folder`, as a shell reads it."""
    key = "hydra.sweep.dir" if sweep else "hydra.run.dir"
    return f"{program()} {'-m ' if sweep else ''}{shell_word(folder_override(key, folder))} resume=true"


def shell_word(text: str) -> str:
    """One word of a shell command: in double quotes when it holds single ones but nothing a
    shell expands there, which reads better than shlex's '"'"' for key='value'."""
    if "'" in text and not re.search(r'["$`\\!]', text):
        return f'"{text}"'
    return shlex.quote(text)


def _key(override) -> str:
    return override.key_or_group + (f"@{override.package}" if override.package else "")


def saved_run_overrides(run_dir: Path) -> list[str] | None:
    """A run's overrides as Hydra recorded them (resume=true aside); None when it has no readable record."""
    import yaml

    try:
        saved = OmegaConf.to_container(OmegaConf.load(RunFolder(run_dir).overrides_file))
    except (OSError, ValueError, yaml.YAMLError):  # missing, or not YAML (a damaged file)
        return None
    if not (isinstance(saved, list) and all(isinstance(o, str) for o in saved)):
        return None
    return [o for o in saved if not o.startswith("resume=")]


def with_saved_overrides(argv: list[str]) -> list[str]:
    """The command line (sys.argv[1:]) with a resumed run's or sweep's own overrides put in."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args, _ = get_args_parser().parse_known_args(argv)
    if args.shell_completion:
        return argv
    try:
        overrides = {o.input_line: o for o in OverridesParser.create().parse_overrides(args.overrides)}
    except Exception:  # Hydra says what is wrong with it, as it parses the command line itself
        return argv
    by_key = {_key(o): o for o in overrides.values()}
    if "resume" not in by_key or str(by_key["resume"].value()).lower() != "true":
        return argv
    folder_key = "hydra.sweep.dir" if args.multirun else "hydra.run.dir"
    if folder_key not in by_key:
        return argv  # a new timestamped folder: nothing to resume, and the checks say so
    folder = Path(str(by_key[folder_key].value()))
    saved = saved_sweep_overrides(folder) if args.multirun else saved_run_overrides(folder)
    if saved is None:
        return argv
    given = [
        line
        for line, o in overrides.items()
        if not (_key(o).startswith("hydra.") or _key(o) in ("resume", "hydra/launcher"))
    ]
    if args.multirun:
        if not set(given) <= set(saved):
            return argv
        # Where its jobs ran (hydra/launcher=slurm and its settings), unless given again here.
        launcher_given = {_key(o) for line, o in overrides.items() if line.startswith(LAUNCHER_OVERRIDES)}
        launched_on = saved_launcher_overrides(folder)
        parsed = OverridesParser.create().parse_overrides(launched_on)
        ours = [*saved, *(line for line, o in zip(launched_on, parsed) if _key(o) not in launcher_given)]
    else:
        keys = {_key(overrides[line]) for line in given}
        ours = [line for line, o in zip(saved, OverridesParser.create().parse_overrides(saved)) if _key(o) not in keys]
    flags = [a for a in argv if a not in overrides]
    return [*flags, *ours, *(line for line in args.overrides if line not in ours)]
