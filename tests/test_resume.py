"""resume=true: a run or a sweep killed or interrupted mid-way ends exactly as if it had never stopped."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import files_of, metrics, run_cli, start_and_stop, weights

# Every kind of state a run carries: optimiser moments, dropout and shift draws, batch norm's
# running averages, early stopping's best weights.
RUN = [
    "data=mnist_sample",
    "hidden=16",
    "epochs=25",
    "optimizer=adam",
    "lr=0.003",
    "dropout=0.1",
    "augment.shift=1",
    "batch_norm=true",
    "patience=10",
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("whole")
    run_cli("experiments.train", *RUN, "hydra.run.dir=run", cwd=cwd, check=0)
    return cwd / "run"


@pytest.mark.parametrize("signum", [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_a_stopped_run_resumes_to_the_same_numbers(tmp_path, uninterrupted, signum):
    run_dir = tmp_path / "run"
    said = start_and_stop(tmp_path, [*RUN, "hydra.run.dir=run"], run_dir, signum)
    assert (run_dir / "checkpoint.npz").is_file()
    if signum == signal.SIGTERM:  # the run said how to go on, and that command is all it takes
        assert f"to go on: python -m experiments.train hydra.run.dir={run_dir} resume=true" in said
    proc = run_cli("experiments.train", f"hydra.run.dir={run_dir}", "resume=true", cwd=tmp_path, check=0)
    assert "resuming after epoch" in proc.stdout + proc.stderr
    assert metrics(run_dir) == metrics(uninterrupted)  # no epoch run twice, none lost, same numbers
    for a, b in zip(weights(run_dir), weights(uninterrupted)):
        np.testing.assert_array_equal(a, b)
    result, reference = (json.loads((d / "result.json").read_text()) for d in (run_dir, uninterrupted))
    assert result["status"] == "completed" and result["test_acc"] == reference["test_acc"]
    assert not (run_dir / "checkpoint.npz").exists()


@pytest.mark.slow
def test_resume_needs_the_same_config_and_leaves_a_completed_run_alone(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    start_and_stop(tmp_path, [*RUN, "hydra.run.dir=run"], run_dir, signal.SIGKILL)
    before = files_of(run_dir)
    proc = run_cli("experiments.train", *RUN, "hidden=32", "lr=0.01", "hydra.run.dir=run", "resume=true", cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "cannot resume" in output and "Traceback" not in output
    assert "hidden: the run has 16, this resume 32" in output and "lr: the run has 0.003, this resume 0.01" in output
    assert files_of(run_dir) == before  # refused: not a byte changed, .hydra/ included
    proc = run_cli("experiments.train", "hydra.run.dir=run", "resume=true", "hidden=32", cwd=tmp_path)
    assert proc.returncode == 2 and "hidden: the run has 16, this resume 32" in proc.stdout + proc.stderr
    run_cli("experiments.train", *RUN, "hydra.run.dir=run", "resume=true", cwd=tmp_path, check=0)
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    proc = run_cli("experiments.train", *RUN, "hydra.run.dir=run", "resume=true", cwd=tmp_path, check=0)
    assert "already finished (completed or pruned); nothing to resume, nothing changed" in proc.stdout + proc.stderr
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before
    proc = run_cli("experiments.train", *RUN, "hydra.run.dir=elsewhere", "resume=true", cwd=tmp_path)
    assert proc.returncode == 2 and "holds no run to resume" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_sweep_resumes_keeping_finished_jobs_and_finishing_the_rest(tmp_path):
    sweep = ["-m", "hydra.sweep.dir=sweep", "data=mnist_sample", "hidden=16", "epochs=15", "seed=0,1,2,3"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.train", *sweep],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not list((tmp_path / "sweep").glob("*/result.json")):  # a first job done, others running or waiting
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    # The jobs then running were not in the launcher's process group: they recorded `interrupted`.
    finished = {
        p.parent.name: p.read_text()
        for p in (tmp_path / "sweep").glob("*/result.json")
        if json.loads(p.read_text())["status"] == "completed"
    }
    assert 0 < len(finished) < 4

    refused = run_cli("experiments.train", *sweep[:-1], "seed=0,1", "resume=true", cwd=tmp_path)
    assert refused.returncode == 2 and "cannot resume" in refused.stdout + refused.stderr
    before = {name: files_of(tmp_path / "sweep" / name) for name in finished}
    said = run_cli("experiments.train", "-m", "hydra.sweep.dir=sweep", "resume=true", cwd=tmp_path, check=0)
    counts = [int(n) for n in re.findall(r"(\d)/4 jobs of the sweep done", said.stdout + said.stderr)]
    assert len(counts) == 4 - len(finished) and min(counts) > len(finished) and max(counts) == 4, counts
    launched = {int(n) for n in re.findall(r"\t#(\d) : ", said.stdout + said.stderr)}  # the kept ones not listed
    assert launched == set(range(4)) - {int(name.split("_")[0]) for name in finished}
    assert f"{len(finished)} of them finished before: kept, not run again" in said.stdout + said.stderr
    for name, files in before.items():  # not started again: every file as it was, .hydra/ included
        assert files_of(tmp_path / "sweep" / name) == files
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert jobs == [f"{i}_data=mnist_sample,epochs=15,hidden=16,seed={i}" for i in range(4)]  # the first launch's names
    for name, text in finished.items():
        assert (tmp_path / "sweep" / name / "result.json").read_text() == text  # kept as they were
    for job in jobs:
        result = json.loads((tmp_path / "sweep" / job / "result.json").read_text())
        assert result["status"] == "completed" and result["epochs_completed"] == 15
        assert [int(r["epoch"]) for r in metrics(tmp_path / "sweep" / job)] == list(range(1, 16))


@pytest.mark.slow
def test_a_run_folder_has_one_writer_two_resumes_at_once_refuse_the_second(tmp_path):
    """Two resume=true of one interrupted run, the second while the first trains: the second
    is refused in one line, changing nothing; the first completes with files that agree."""
    args = ["data=digits", "hidden=16", "epochs=400"]
    start_and_stop(tmp_path, [*args, "hydra.run.dir=run"], tmp_path / "run", signal.SIGTERM, after_rows=2)
    first = subprocess.Popen(
        [sys.executable, "-m", "experiments.train", "hydra.run.dir=run", "resume=true", "epochs=1000"],
        cwd=tmp_path,
        stdout=(tmp_path / "first.txt").open("w"),
        stderr=subprocess.STDOUT,
    )
    metrics_file = tmp_path / "run" / "metrics.csv"
    deadline = time.monotonic() + 60
    while len(metrics_file.read_text().splitlines()) < 100:  # the first is well into its epochs
        assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.txt").read_text()
        time.sleep(0.05)
    second = run_cli("experiments.train", "hydra.run.dir=run", "resume=true", "epochs=1000", cwd=tmp_path)
    assert second.returncode == 2, second.stdout + second.stderr
    said = second.stdout + second.stderr
    assert "is being written by another process right now" in said and "Traceback" not in said
    assert first.wait(timeout=120) == 0
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "completed" and result["epochs_completed"] == 1000
    assert len(metrics(tmp_path / "run")) == 1000


def test_a_damaged_checkpoint_is_one_line_before_anything_is_rewritten(tmp_path):
    start_and_stop(tmp_path, ["data=digits", "hidden=16", "epochs=400", "hydra.run.dir=run"], tmp_path / "run",
                   signal.SIGTERM, after_rows=2)  # fmt: skip
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # a copy that stopped
    before = files_of(tmp_path / "run")
    proc = run_cli("experiments.train", "hydra.run.dir=run", "resume=true", cwd=tmp_path)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in said, said
    assert "run/checkpoint.npz: not a readable .npz file" in said and "cannot go on from it" in said
    assert files_of(tmp_path / "run") == before  # .hydra/ included
