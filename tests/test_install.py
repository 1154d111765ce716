"""The installed commands (mnist-train, mnist-compare) work from any folder, in the
editable install `make` makes and in a regular `pip install .`, with our Hydra plugins found."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from helpers import REPO

OUR_LAUNCHER = "at a time, into"  # hydra/launcher=parallel's first line: our plugin was found


def use_commands(bin_dir: Path, cwd: Path) -> None:
    """A run, a sweep, --help and compare, from a folder that is not the repository."""

    def command(*args, env=None):
        proc = subprocess.run(
            [str(bin_dir / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=300,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
        return proc.stdout + proc.stderr

    command("mnist-train", "data=digits", "epochs=1", "hydra.run.dir=run")
    assert json.loads((cwd / "run" / "result.json").read_text())["status"] == "completed"
    assert OUR_LAUNCHER in command("mnist-train", "-m", "data=digits", "epochs=1", "seed=0,1", "hydra.sweep.dir=sweep")
    assert "data.val_size" in command("mnist-train", "--help")
    assert "2 runs found in sweep" in command("mnist-compare", "sweep")
    # Tab completion (eval "$(mnist-train -sc install=bash)") asks the script for the words:
    assert command("mnist-train", "-sc", "query=bash", env={"COMP_LINE": "mnist-train hid"}).split() == ["hidden="]
    completed = command("mnist-train", "-sc", "query=bash", env={"COMP_LINE": "mnist-train optimizer="}).split()
    assert "optimizer=adam" in completed and "optimizer=nesterov" in completed


def test_the_installed_commands_work_from_any_folder(tmp_path):
    use_commands(Path(sys.executable).parent, tmp_path)


@pytest.mark.slow
def test_a_regular_install_works_from_any_folder(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The libraries are this environment's (a line in a .pth file adds its folder; the .pth
    # files in that folder, this checkout's editable install among them, are not read).
    (next(venv.glob("lib/python*/site-packages")) / "libraries.pth").write_text(sysconfig.get_paths()["purelib"])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(REPO)]
    subprocess.run(pip, check=True, capture_output=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()
    use_commands(venv / "bin", work)
    about = json.loads((work / "run" / "result.json").read_text())["provenance"]
    assert about["code"] == {"package_version": "0.1.0"}  # not a git checkout: the package's version
    # The configs came with the package, not from this checkout.
    where = "from experiments.run.config_groups import config_dir; print(config_dir())"
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", where], cwd=work, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(found).is_relative_to(venv) and not Path(found).is_relative_to(REPO), found
