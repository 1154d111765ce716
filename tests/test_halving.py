"""Synchronous successive halving over a grid (experiments/sweep/grid/halving.py): every
configuration judged at a rung together, the best resumed, the rest pruned."""

from __future__ import annotations

import json
import re
import signal

import pytest

from experiments.results.runs import load_runs
from experiments.sweep.grid.halving import rungs
from helpers import metrics, run_cli, start_and_stop

# The README's example. Its best configuration (hidden=64 lr=0.5, 0.950) is second after epoch 1.
GRID = ["-m", "data=digits", "lr=0.05,0.1,0.5", "hidden=32,64"]
HALVING = "hydra.sweeper.pruner.name=halving"


def result(run_dir) -> dict:
    return json.loads((run_dir / "result.json").read_text())


def folders(sweep_dir) -> dict:
    return {p.name: p for p in sweep_dir.iterdir() if (p / "result.json").is_file()}


@pytest.mark.parametrize(
    "count, epochs, min_resource, factor, expected",
    [
        (6, 10, 1, 3, [1]),  # 6 -> 2, which train every epoch
        (27, 9, 1, 3, [1, 3]),  # 27 -> 9 -> 3; a rung at 9 would be the last epoch
        (9, 100, 1, 3, [1, 3]),  # 9 -> 3 -> 1
        (8, 20, 2, 2, [2, 4, 8]),  # 8 -> 4 -> 2 -> 1
        (2, 10, 1, 3, []),  # fewer configurations than the factor: nothing to judge
        (6, 1, 1, 3, []),  # no epoch before the last
    ],
)
def test_the_rungs_are_those_of_halving_grid_search(count, epochs, min_resource, factor, expected):
    assert rungs(count, epochs, min_resource, factor) == expected


@pytest.mark.slow  # 8-11 s: make test keeps within its budget; CI runs it
def test_halving_keeps_the_full_grids_best_though_it_is_second_at_the_rung(tmp_path):
    run_cli("experiments.train", *GRID, "hydra.sweep.dir=full", cwd=tmp_path, check=0)
    proc = run_cli("experiments.train", *GRID, HALVING, "hydra.sweep.dir=halved", cwd=tmp_path, check=0)
    full, halved = folders(tmp_path / "full"), folders(tmp_path / "halved")
    assert full.keys() == halved.keys() and len(full) == 6
    at_rung = sorted(full, key=lambda name: -float(metrics(full[name])[0]["val_acc"]))
    best = max(full, key=lambda name: result(full[name])["best_val_acc"])
    assert best.startswith("5_") and at_rung.index(best) == 1  # the best starts slow: second at epoch 1

    statuses = {name: result(halved[name])["status"] for name in halved}
    assert {name for name, status in statuses.items() if status == "completed"} == set(at_rung[:2])
    for name in halved:  # the survivors resumed from epoch 1 end as the full grid's runs, to the digit
        if statuses[name] == "completed":
            assert metrics(halved[name]) == metrics(full[name])
        else:
            assert statuses[name] == "pruned" and result(halved[name])["epochs_completed"] == 1
            assert "successive halving at epoch 1: ranked" in result(halved[name])["pruned_by"]
            assert not (halved[name] / "checkpoint.npz").exists()
    runs = load_runs(tmp_path / "halved")
    assert runs["epochs_completed"].sum() == 6 * 1 + 2 * 9  # 40% of the full grid's 60 epochs
    assert "successive halving at epoch 1: 2 of 6 configurations go on" in proc.stderr
    # A survivor goes on from its rung's checkpoint: no epoch trained twice (each said once);
    # the pruned count as done in the progress line.
    trained = re.findall(r"job (\d+): epoch (\d+)/10", proc.stderr)
    assert len(trained) == len(set(trained)) == 6 * 1 + 2 * 9
    assert "6/6 jobs of the sweep done" in proc.stderr


def test_a_configurations_seeds_are_judged_together_by_their_mean(tmp_path):
    grid = ["-m", "data=digits", "epochs=3", "lr=0.02,0.1,0.5", "seed=0,1", HALVING, "hydra.sweep.dir=s"]
    run_cli("experiments.train", *grid, cwd=tmp_path, check=0)
    runs = folders(tmp_path / "s")
    assert len(runs) == 6

    def lr(name):
        return name.split("lr=")[1].split(",")[0]

    mean_at_rung = {}
    for name, folder in runs.items():
        mean_at_rung.setdefault(lr(name), []).append(float(metrics(folder)[0]["val_acc"]))
    winner = max(mean_at_rung, key=lambda key: sum(mean_at_rung[key]))
    for name, folder in runs.items():
        ran = result(folder)
        assert ran["status"] == ("completed" if lr(name) == winner else "pruned")  # both seeds of one configuration
        if ran["status"] == "pruned":
            assert "the mean of 2 run(s)" in ran["pruned_by"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "job, rows, stopped_as",
    [
        ("2_", 1, {"paused"}),  # in the first rung, as job 2 pauses: job 3 not started, or interrupted
        ("4_", 4, {"pruned", "paused"}),  # in the last rung: job 4 interrupted, job 5 paused, not resumed yet
    ],
)
def test_a_halving_stopped_anywhere_resumes_to_the_same_runs(tmp_path, job, rows, stopped_as):
    args = [*GRID, "epochs=100", HALVING, "hydra.launcher.n_jobs=1"]
    run_cli("experiments.train", *args, "hydra.sweep.dir=straight", cwd=tmp_path, check=0)
    stop_at = tmp_path / "sweep" / job
    start_and_stop(tmp_path, [*args, "hydra.sweep.dir=sweep"], stop_at, signal.SIGINT, after_rows=rows, glob=True)
    stopped = [result(f)["status"] for f in folders(tmp_path / "sweep").values()]
    assert set(stopped) - {"interrupted"} == stopped_as and stopped.count("paused") < 6
    run_cli("experiments.train", *args, "hydra.sweep.dir=sweep", "resume=true", cwd=tmp_path, check=0)
    straight, resumed = folders(tmp_path / "straight"), folders(tmp_path / "sweep")
    assert straight.keys() == resumed.keys()
    for name in straight:
        assert result(resumed[name])["status"] == result(straight[name])["status"]
        assert result(resumed[name]).get("pruned_by") == result(straight[name]).get("pruned_by")
        assert metrics(resumed[name]) == metrics(straight[name])


def test_halving_that_cannot_run_over_the_grid_is_refused_before_any_job(tmp_path):
    for extra, message in (
        (["+hydra.sweeper.pruner.bootstrap_count=1"], "does not take bootstrap_count; it takes min_resource"),
        (["+hydra.sweeper.pruner.min_resource=auto"], "hydra.sweeper.pruner.min_resource='auto' must be an integer"),
        (["epochs=2,4"], "epochs cannot be swept with it"),
        (["lr=0.1,0.2", "hidden=32"], "nothing to halve: 2 configuration(s) of 10 epochs"),
    ):
        proc = run_cli("experiments.train", *GRID, HALVING, *extra, "hydra.sweep.dir=s", cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and not (tmp_path / "s").exists()
