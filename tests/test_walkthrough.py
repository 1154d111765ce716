"""The docs, executed: every code block of the README and docs/, in reading order, in one
fresh folder with an empty HOME, as a reader following them would. Each command must exit
0 without a traceback, or be refused as the docs show it (exit 2). A new block in the docs
is walked by this test as soon as it is written.

Made small enough for CI, by three rules stated once below: a training command runs
SHORTER (one epoch, a search three trials; a grid with halving two epochs, its least); an
example folder name (runs/2026-11-25_...) stands for the newest such folder the walk has
made; a server (TensorBoard, MLflow, optuna-dashboard) is started on a free port, asked for
what the walk made, and stopped.
What is not run, and why, is NOT_RUN."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from documented import code_blocks
from helpers import slurm_missing, write_idx_folder

pytestmark = pytest.mark.slow

SHORTER = {"epochs": "1", "hydra.sweeper.n_trials": "3"}  # key -> value a walked command gets
HALVING_EPOCHS = "2"  # a grid with successive halving needs a rung before its last epoch
NOT_RUN = {  # a command's first words -> why the walk leaves it out
    "make test": "this test suite is what it runs",
    "make train": "creates .venv and installs (CI's make test-all does the same); its run is walked below",
    "apt-get": "installs system packages: .ci/run does, as root",
    "scripts/local_slurm.sh": "starts or stops the machine's SLURM daemons: .ci/run does, as root",
    "python -m benchmarks.": "minutes long by design; make bench prints the docs' figures",
}
SERVERS = {  # a server the docs start -> where it lists what it shows, and the names in that answer
    "tensorboard": ("/data/runs", lambda answer: answer),
    "mlflow": (
        "/api/2.0/mlflow/experiments/search?max_results=100",
        lambda answer: [e["name"] for e in answer["experiments"] if e["name"] != "Default"],
    ),
    "optuna-dashboard": ("/api/studies", lambda answer: [s["study_name"] for s in answer["study_summaries"]]),
}
EXAMPLE_SWEEP = re.compile(r"runs/multirun/(\d{4}-\d\d-\d\d_[\d_-]+\d|<the sweep>)")
EXAMPLE_RUN = re.compile(r"runs/\d{4}-\d\d-\d\d_[\d_-]+\d")


def steps() -> list:
    """(where, kind, text) for each command of a shell block and each Python block."""
    found = []
    for block in code_blocks():
        if block.language == "python":
            kind = "fragment" if block.indented else "python"
            found.append(
                (block.where, kind, "\n".join(text.strip() if block.indented else text for _, text in block.lines))
            )
        else:
            found += [(c.where, "refused" if c.refused else "command", c.text) for c in block.commands()]
    return found


STEPS = steps()


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """The reader's folder: empty, with an empty HOME and an IDX folder for `data.root=`."""
    folder = tmp_path_factory.mktemp("walk")
    (folder / "home").mkdir()
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "HOME": str(folder / "home"), "MPLBACKEND": "Agg", "HYDRA_FULL_ERROR": "0"}
    env["PATH"] = venv_bin + os.pathsep + env["PATH"]
    return {"folder": folder, "env": env, "idx": write_idx_folder(folder / "idx", n_train=600, n_test=100)}


def test_the_walk_covers_the_docs():
    kinds = [kind for _, kind, _ in STEPS]
    assert kinds.count("command") >= 45 and kinds.count("python") >= 3 and kinds.count("refused") >= 1


@pytest.mark.parametrize("where, kind, text", STEPS, ids=[where for where, _, _ in STEPS])
def test_each_block_runs_as_documented(walk, where, kind, text):
    if kind == "fragment":
        pytest.skip("Python inside a list item: a fragment of the recipe around it (test_extending.py does the whole)")
    folder, env = walk["folder"], walk["env"]
    text = made_concrete(text, folder, walk["idx"])
    if kind == "python":
        proc = run([sys.executable, "-c", text], folder, env)
    else:
        words = as_run(text)
        left_out = next((why for start, why in NOT_RUN.items() if text.startswith(start)), None)
        if left_out:
            pytest.skip(left_out)
        if "hydra/launcher=slurm" in words and slurm_missing():
            pytest.skip(slurm_missing())
        if words[0] in SERVERS:
            serves_what_the_walk_made(words, folder, env)
            return
        proc = run(words, folder, env)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, f"{where}: {text}\n{output[-3000:]}"
    expected = 2 if kind == "refused" else 0
    assert proc.returncode == expected, f"{where}: {text}: exit {proc.returncode}\n{output[-3000:]}"


def made_concrete(text: str, folder: Path, idx: Path) -> str:
    """The docs' example folder names replaced by the newest the walk made."""
    runs = folder / "runs"

    def newest(pattern: str) -> str:
        made = sorted(p for p in runs.glob(pattern) if p.is_dir() and p.name[:1].isdigit())
        assert made, f"the docs name an example {pattern} folder before the walk made one"
        return str(made[-1].relative_to(folder))

    if EXAMPLE_SWEEP.search(text):
        text = EXAMPLE_SWEEP.sub(newest("multirun/*"), text)
    if EXAMPLE_RUN.search(text):
        text = EXAMPLE_RUN.sub(newest("*"), text)
    return text.replace("/path/to/idx", str(idx))


def as_run(text: str) -> list[str]:
    """The command's words with `python` this interpreter and, for training, SHORTER."""
    import shlex

    words = shlex.split(text, comments=True)
    if words[0] in ("python", ".venv/bin/python"):
        words[0] = sys.executable
    if "experiments.train" not in words or "--help" in words or "resume=true" in words:
        return words
    searched = any(w.startswith("hparams_search=") for w in words)
    halved = not searched and "hydra.sweeper.pruner.name=halving" in words
    for key, value in {**SHORTER, **({"epochs": HALVING_EPOCHS} if halved else {})}.items():
        if key == "hydra.sweeper.n_trials" and not searched:
            continue
        at = [i for i, w in enumerate(words) if w.split("=")[0].lstrip("+") == key]
        if at:
            words[at[0]] = f"{words[at[0]].split('=')[0]}={value}"
        else:
            words.append(f"{key}={value}")
    return words


def run(words: list[str], folder: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(words, cwd=folder, env=env, capture_output=True, text=True, timeout=900)


def serves_what_the_walk_made(words: list[str], folder: Path, env: dict):
    """Start the server on a free port, wait until it answers, check that what it lists
    names something the walk made (a run, an experiment, a study), and stop it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [*words, "--port", str(port), "--host", "127.0.0.1"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: MLflow's server starts workers of its own
    )
    path, names = SERVERS[words[0]]
    url = f"http://127.0.0.1:{port}{path}"
    try:
        body = None
        deadline = time.monotonic() + 120
        while body is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=10) as answer:
                    body = answer.read().decode()
            except OSError:
                time.sleep(1)
        assert body is not None, f"{' '.join(words)} did not answer {url} (exit {server.poll()})"
        assert names(json.loads(body)), f"{url} lists nothing the walk made: {body[:1000]}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
