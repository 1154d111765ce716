"""Sweeps through the real CLI (the default launcher, submitit, Optuna) and comparing their runs.
The launcher's own behaviour (deaths, signals, busy workers, Hydra's contract): test_launcher.py."""

import json
import os
import shutil
import statistics
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from experiments.compare import main as compare_main
from experiments.results.runs import load_history, load_runs
from helpers import REPO, dominated, run_cli, small_filesystem

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sweep_dirs(cwd):
    return sorted((cwd / "runs" / "multirun").iterdir())


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    """4 jobs on digits, 2 at a time (the default launcher), as a user would launch them."""
    cwd = tmp_path_factory.mktemp("sweep")
    proc = run_cli(
        "experiments.train",
        "-m",
        "hydra.launcher.n_jobs=2",
        "data=digits",
        "epochs=3",
        "lr=0.1,0.5",
        "hidden=16,32",
        cwd=cwd,
        check=0,
    )
    (sweep,) = sweep_dirs(cwd)
    return sweep, proc.stdout + proc.stderr


def test_multirun_writes_one_named_directory_per_job(grid_sweep):
    sweep, _ = grid_sweep
    assert (sweep / "multirun.yaml").is_file()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == [
        "0_data=digits,epochs=3,hidden=16,lr=0.1",
        "1_data=digits,epochs=3,hidden=32,lr=0.1",
        "2_data=digits,epochs=3,hidden=16,lr=0.5",
        "3_data=digits,epochs=3,hidden=32,lr=0.5",
    ]
    for job in jobs:
        result = json.loads((sweep / job / "result.json").read_text())
        assert result["status"] == "completed"
        assert result["blas_threads"] == 1  # one thread per run, one job per core
        assert (sweep / job / "metrics.csv").is_file() and (sweep / job / "model.npz").is_file()


def test_the_sweep_ends_with_its_leaderboard(grid_sweep):
    sweep, output = grid_sweep
    assert "4 runs, by status: {'completed': 4}" in output
    # The table after it ranks the four runs by best_val_acc, as their result.json files say.
    header = next(line.split() for line in output.splitlines() if "best_val_acc" in line and "status" in line)
    rows = [line.split() for line in output.splitlines() if line[:1].isdigit() and len(line.split()) == 1 + len(header)]
    shown = [
        (float(r[1 + header.index("lr")]), int(r[1 + header.index("hidden")]), r[1 + header.index("best_val_acc")])
        for r in rows
    ]
    runs = load_runs(sweep).sort_values("best_val_acc", ascending=False, kind="stable")
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    assert shown == [
        (lr, hidden, f"{best:.4f}") for lr, hidden, best in zip(runs["lr"], runs["hidden"], runs["best_val_acc"])
    ]


def test_load_runs_and_history(grid_sweep):
    sweep, _ = grid_sweep
    runs = load_runs(sweep)
    assert len(runs) == 4
    assert sorted(zip(runs["hidden"], runs["lr"])) == [(16, 0.1), (16, 0.5), (32, 0.1), (32, 0.5)]
    assert {"run", "status", "best_val_acc", "test_acc", "batch_size", "data.name", "problem"} <= set(runs.columns)
    assert runs["problem"].isna().all() and (runs["data.name"] == "digits").all()
    history = load_history(sweep)
    assert len(history) == 12 and history.groupby("run")["epoch"].apply(list).tolist() == [[1, 2, 3]] * 4
    assert {"hidden", "lr", "train_loss", "val_acc", "epoch_time_s"} <= set(history.columns)
    # runs/ as a whole finds the same runs
    assert len(load_runs(sweep.parents[1])) == 4


def test_compare_cli_ranks_shows_what_varies_and_writes_csv_and_png(grid_sweep, tmp_path, capsys):
    sweep, _ = grid_sweep
    assert compare_main([str(sweep), "--csv", str(tmp_path / "board.csv"), "--plot", str(tmp_path / "curves.png")]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[1].split()
    assert header[:3] == ["hidden", "lr", "status"] and "batch_size" not in header
    board = pd.read_csv(tmp_path / "board.csv")
    assert board["best_val_acc"].is_monotonic_decreasing and len(board) == 4
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG_SIGNATURE


def test_compare_prints_and_draws_the_pareto_front_of_the_objectives_named(grid_sweep, tmp_path, capsys):
    sweep, _ = grid_sweep
    points = {}
    for folder in sweep.iterdir():
        if (folder / "result.json").is_file():
            result = json.loads((folder / "result.json").read_text())
            points[folder.name] = (result["best_val_acc"], result["parameters"])
    front = {name for name, point in points.items() if not dominated(point, points.values())}
    assert 0 < len(front) < len(points)
    plot = tmp_path / "curves.png"
    page = tmp_path / "report.html"
    named = ["--pareto", "best_val_acc=max,parameters=min"]
    assert compare_main([str(sweep), *named, "--plot", str(plot), "--html", str(page)]) == 0
    out = capsys.readouterr().out
    said = out.split("Pareto front of best_val_acc (max), parameters (min): ")[1]
    assert said.startswith(f"{len(front)} of 4 completed runs")
    assert {line.split()[-1] for line in said.splitlines()[2 : 2 + len(front)]} == front
    assert (tmp_path / "curves_pareto.png").read_bytes()[:8] == PNG_SIGNATURE
    # The report page shows the same front: its table's runs, and its figure.
    shown = page.read_text().split("<h2>Pareto front of best_val_acc (max), parameters (min)</h2>")[1].split("<h2>")[0]
    assert f"{len(front)} of 4 completed runs" in shown and 'alt="Pareto front" src="data:image/png;base64,' in shown
    assert {name for name in points if f"<td>{name}</td>" in shown} == front
    for wrong, message in (
        ("test_acc=max,parameters=min", "'test_acc' is not a number runs record that it can use"),
        ("best_val_acc=up,parameters=min", "say which way each is better"),
        ("best_val_acc=max", "needs two or more different objectives"),
    ):
        with pytest.raises(SystemExit) as exit_:
            compare_main([str(sweep), "--pareto", wrong])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_compare_lists_broken_runs_with_reasons(grid_sweep, tmp_path, capsys):
    sweep, _ = grid_sweep
    good = sorted(p for p in sweep.iterdir() if p.is_dir())[0]
    root = tmp_path / "runs"
    for name in ("good", "no_result", "garbage_csv", "truncated_csv", "bad_json"):
        shutil.copytree(good, root / name)
    (root / "no_result" / "result.json").unlink()
    os.utime(root / "no_result" / "metrics.csv", (0, 0))  # long untouched: not running
    (root / "garbage_csv" / "metrics.csv").write_bytes(b"\x00\xff garbage\n\x01,\x02\n")
    csv_text = (root / "truncated_csv" / "metrics.csv").read_text()
    (root / "truncated_csv" / "metrics.csv").write_text(csv_text[: csv_text.rindex("\n", 0, -1) + 12])
    (root / "bad_json" / "result.json").write_text('{"status": "compl')

    runs = load_runs(root).set_index("run")
    problems = {os.path.basename(k): v for k, v in runs["problem"].items()}
    assert pd.isna(problems["good"])
    assert "no result.json" in problems["no_result"] and runs.loc[str(root / "no_result"), "status"] == "incomplete"
    assert "metrics.csv" in problems["garbage_csv"]
    assert "truncated" in problems["truncated_csv"]
    assert "result.json is unreadable" in problems["bad_json"]
    assert len(load_history(root).query("run.str.endswith('truncated_csv')", engine="python")) == 2

    assert compare_main([str(root), "--plot", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    for name in ("no_result", "garbage_csv", "truncated_csv", "bad_json"):
        assert f"{root / name}:" in out


def test_a_failing_job_does_not_lose_the_others(tmp_path):
    # 2000 validation digits is more than digits has: that job fails, the other completes.
    proc = run_cli("experiments.train", "-m", "data=digits", "epochs=2", "data.val_size=100,2000", cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    (sweep,) = sweep_dirs(tmp_path)
    runs = load_runs(sweep).sort_values("data.val_size")
    assert runs["status"].tolist() == ["completed", "failed"]
    assert "data.val_size=2000" in runs["error"].iloc[1]
    assert "1_data.val_size=2000" in output and "failed" in output


def test_a_sweep_directory_is_never_reused(tmp_path):
    run_cli(
        "experiments.train",
        "-m",
        "data=digits",
        "epochs=1",
        "lr=0.1,0.2",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        check=0,
    )
    before = sorted(p.name for p in (tmp_path / "sweep").iterdir())
    proc = run_cli(
        "experiments.train", "-m", "data=digits", "epochs=1", "lr=0.3", "hydra.sweep.dir=sweep", cwd=tmp_path
    )
    assert proc.returncode != 0
    assert "already holds a sweep" in proc.stdout + proc.stderr
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir()) == before


@pytest.mark.slow
def test_submitit_local_launcher(tmp_path):
    run_cli(
        "experiments.train",
        "-m",
        "hydra/launcher=submitit_local",
        "data=digits",
        "epochs=1",
        "lr=0.1,0.5",
        cwd=tmp_path,
        check=0,
    )
    (sweep,) = sweep_dirs(tmp_path)
    assert load_runs(sweep)["status"].tolist() == ["completed", "completed"]
    # submitit_local starts every job at once: one thread each keeps jobs x threads within the cores
    assert [json.loads(r.read_text())["blas_threads"] for r in sorted(sweep.glob("*/result.json"))] == [1, 1]


def test_slurm_launcher_config_composes():
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            "config", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=cpu"], return_hydra_config=True
        )
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.partition == "cpu" and cfg.hydra.launcher.cpus_per_task == 2


def test_compare_names_wrongly_typed_results_and_refuses_bad_arguments(grid_sweep, tmp_path, capsys):
    sweep, _ = grid_sweep
    good = sorted(p for p in sweep.iterdir() if p.is_dir())[0]
    root = tmp_path / "runs"
    for name in ("good", "typed", "folder_json"):
        shutil.copytree(good, root / name)
    result = json.loads((root / "typed" / "result.json").read_text())
    (root / "typed" / "result.json").write_text(json.dumps({**result, "best_val_acc": "high", "status": 7}))
    (root / "folder_json" / "result.json").unlink()
    (root / "folder_json" / "result.json").mkdir()
    os.utime(root / "folder_json" / "metrics.csv", (0, 0))  # long untouched: not running

    runs = load_runs(root).set_index("run")
    assert "best_val_acc='high', status=7 of the wrong type" in runs.loc[str(root / "typed"), "problem"]
    assert runs.loc[str(root / "typed"), "status"] == "broken"
    assert compare_main([str(root)]) == 0
    out = capsys.readouterr().out
    assert (
        f"{root / 'typed'}: broken: result.json has" in out
        and f"{root / 'folder_json'}: incomplete: no result.json" in out
    )

    for argv, message in (
        (["--top", "-3"], "'-3' is not a whole number >= 1"),
        (["--csv", str(tmp_path / "no" / "board.csv")], f"the folder {tmp_path / 'no'} does not exist"),
        (["--plot", str(tmp_path / "no" / "p.png")], f"the folder {tmp_path / 'no'} does not exist"),
    ):
        with pytest.raises(SystemExit) as info:
            compare_main([str(root), *argv])
        assert info.value.code == 2 and message in capsys.readouterr().err


def test_a_running_sweep_reports_progress_and_labels_each_jobs_lines(grid_sweep):
    sweep, output = grid_sweep
    assert "4/4 jobs of the sweep done" in output
    for job in range(4):
        assert f"job {job}: epoch 3/3" in output
    assert json.loads((sweep / "sweep.json").read_text())["jobs"] == 4
    assert f"the full table: python -m experiments.compare {sweep.relative_to(sweep.parents[2])}" in output


def test_progress_counts_the_jobs_that_ended_not_those_left_to_resume(tmp_path, caplog):
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from experiments.sweep.checks import SweepChecks

    (tmp_path / "sweep.json").write_text(json.dumps({"jobs": 3, "overrides": []}))
    for job, status in enumerate(["completed", "interrupted", "failed"]):
        (tmp_path / f"{job}_x").mkdir()
        (tmp_path / f"{job}_x" / "result.json").write_text(json.dumps({"status": status}))
    config = OmegaConf.create({"hydra": {"mode": RunMode.MULTIRUN, "sweep": {"dir": str(tmp_path)}, "job": {"num": 2}}})
    with caplog.at_level("INFO"):
        SweepChecks().on_job_end(config, None)
    assert "job 2 finished: 2/3 jobs of the sweep done" in caplog.text  # the interrupted one is still to come


def test_compare_with_no_path_shows_the_latest_sweep_and_writes_beside_it(grid_sweep, monkeypatch, capsys):
    sweep, _ = grid_sweep
    monkeypatch.chdir(sweep.parents[2])
    assert compare_main(["--csv", "--plot"]) == 0
    out = capsys.readouterr().out
    assert f"4 ranked by best_val_acc (4 runs found in {sweep.relative_to(sweep.parents[2])})" in out
    assert "epochs_completed" in out and " 3.0000 " not in out  # counts print as integers
    assert (sweep / "leaderboard.csv").is_file() and (sweep / "curves.png").read_bytes()[:8] == PNG_SIGNATURE
    (sweep / "leaderboard.csv").unlink()
    (sweep / "curves.png").unlink()
    job = sorted(p for p in sweep.iterdir() if p.is_dir())[0]
    assert compare_main([str(job)]) == 0
    out = capsys.readouterr().out
    assert "hyperparameters:" in out and "optimizer.name" in out and "data.name" in out
    two = sorted(p for p in sweep.iterdir() if p.is_dir())[:2]
    assert compare_main([str(two[0]), str(two[1])]) == 0
    assert f"(2 runs found in {two[0]}, {two[1]})" in capsys.readouterr().out  # the folders named, not their parent
    # Several folders' files go beside them all, not into the folder compare started in (a checkout, say).
    assert compare_main([str(two[0]), str(two[1]), "--csv", "two.csv", "--html", "two.html"]) == 0
    assert (sweep / "two.csv").is_file() and (sweep / "two.html").is_file()
    assert not list(sweep.parents[2].glob("two.*"))


def test_two_sweeps_racing_for_one_directory_do_not_mix(tmp_path):
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "experiments.train",
                "-m",
                "data=digits",
                "epochs=1",
                f"lr={lr}",
                "hydra.sweep.dir=same",
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for lr in (0.1, 0.2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert sorted(p.returncode for p in procs) == [0, 2], outputs
    assert len([p for p in (tmp_path / "same").iterdir() if p.is_dir()]) == 1


def test_summarize_groups_seeds_with_their_spread_and_tells_ties_from_the_best():
    from scipy import stats

    from experiments.results.ranking import summarize

    acc = {("0.1", 64): [0.90, 0.91, 0.92], ("0.1", 32): [0.905, 0.915, 0.91], ("1", 64): [0.50, 0.52, 0.51]}
    rows = [
        {
            "run": f"r{lr}{hidden}{seed}",
            "status": "completed",
            "best_val_acc": value,
            "test_acc": value - 0.01,
            "problem": None,
            "lr": float(lr),
            "hidden": hidden,
            "seed": seed,
            "blas_threads": 1 + seed % 2,
        }
        for (lr, hidden), values in acc.items()
        for seed, value in enumerate(values)
    ]
    table = summarize(pd.DataFrame(rows))
    assert list(table.columns[:3]) == ["lr", "hidden", "n_seeds"]  # seed and thread counts are not configurations
    assert table["n_seeds"].tolist() == [3, 3, 3]
    assert table[["lr", "hidden"]].values.tolist() == [["0.1", 64], ["0.1", 32], ["1", 64]]  # by mean: 0.91, 0.91, 0.51
    first = table.iloc[0]
    values = acc["0.1", 64]
    assert first["best_val_acc_mean"] == pytest.approx(0.91) and first["best_val_acc_std"] == pytest.approx(0.01)
    assert first["best_val_acc_ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * 0.01 / 3**0.5)
    assert first["test_acc_mean"] == pytest.approx(0.90)
    assert table["p_vs_best"].iloc[1] == pytest.approx(stats.ttest_ind(acc["0.1", 32], values, equal_var=False).pvalue)
    assert table["tied_with_best"].tolist() == [True, True, False]


def test_configurations_with_other_seed_counts_are_tested_as_one_by_one():
    """Configurations are t-tested together, one call per seed count: the same p-values as one
    test each, and the undefined cases (one seed, no spread on either side) as before."""
    from scipy import stats

    from experiments.results.ranking import summarize

    acc = {0.1: [0.90, 0.92], 0.2: [0.91, 0.93, 0.92], 0.3: [0.80, 0.84, 0.83], 0.4: [0.7], 0.5: [0.85, 0.86]}
    rows = [
        {"run": f"r{lr}-{seed}", "status": "completed", "best_val_acc": value, "test_acc": value, "problem": None,
         "lr": lr, "seed": seed}
        for lr, values in acc.items()
        for seed, value in enumerate(values)
    ]  # fmt: skip
    table = summarize(pd.DataFrame(rows)).set_index("lr")
    best = acc[0.2]
    assert table.index[0] == "0.2" and table.loc["0.2", "p_vs_best"] == 1.0
    for lr in ("0.1", "0.3", "0.5"):
        expected = stats.ttest_ind(acc[float(lr)], best, equal_var=False).pvalue
        assert table.loc[lr, "p_vs_best"] == pytest.approx(expected, rel=1e-12)
    assert pd.isna(table.loc["0.4", "p_vs_best"]) and pd.isna(table.loc["0.4", "tied_with_best"])
    assert table["n_seeds"].to_dict() == {"0.2": 3, "0.1": 2, "0.5": 2, "0.3": 3, "0.4": 1}

    flat = [{**row, "best_val_acc": 0.9 if row["lr"] < 0.3 else 0.8} for row in rows if row["lr"] != 0.4]
    table = summarize(pd.DataFrame(flat)).set_index("lr")  # no spread anywhere: equal or not
    assert table["p_vs_best"].to_dict() == {"0.1": 1.0, "0.2": 1.0, "0.3": 0.0, "0.5": 0.0}


def test_metrics_files_are_read_as_written_damage_and_all(tmp_path):
    """load_history reads metrics.csv itself (thousands of them: pandas' cost per file was most of
    the time): numbers exactly as written, a diverged run's NaN losses kept, damaged rows left out
    and counted, blank lines and extra columns ignored, a file with a longer row refused."""
    from experiments.run.files import METRICS_COLUMNS

    header = ",".join(METRICS_COLUMNS)
    files = {
        "good": f"{header}\n1,0.1,2.30258509299404568,0.1,2.2,0.125,0.0123\n\n2,0.1,1.5,0.5,1.25,0.6,0.01\n",
        "diverged": f"{header}\n1,0.1,nan,0.1,inf,0.1,0.01\n",
        "damaged": f"{header}\n1,0.1,2.3,0.1,2.2,0.1,0.01\n2,0.1,1.5,,1.2,0.6,0.01\n3,0.1,1.4,0.6,1.1,0.6\n",
        "extra_column": f"{header},note\n1,0.1,2.3,0.1,2.2,0.1,0.01,x\n",
        "longer_row": f"{header}\n1,0.1,2.3,0.1,2.2,0.1,0.01,9,9\n",
    }
    for name, text in files.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.csv").write_text(text)
    history = load_history(tmp_path).set_index("run")
    good = history.loc[str(tmp_path / "good")]
    assert good["epoch"].tolist() == [1, 2] and history["epoch"].dtype == "int64"
    assert good["train_loss"].tolist() == [2.30258509299404568, 1.5] and good["val_acc"].tolist() == [0.125, 0.6]
    diverged = history.loc[[str(tmp_path / "diverged")]]
    assert diverged["train_loss"].isna().all() and diverged["val_loss"].tolist() == [float("inf")]
    assert history.loc[[str(tmp_path / "damaged")], "epoch"].tolist() == [1]
    assert str(tmp_path / "longer_row") not in history.index and "note" not in history.columns
    problems = load_runs(tmp_path).set_index("run")["problem"]
    assert "2 damaged or truncated row(s)" in problems[str(tmp_path / "damaged")]
    assert "more fields than the header" in problems[str(tmp_path / "longer_row")]
    assert "metrics.csv" not in str(problems[str(tmp_path / "good")])


def test_a_seed_run_again_is_not_another_sample_and_the_notes_say_so():
    from experiments.results.ranking import notes, summarize

    rows = [  # seed 0 three times (the latest last), seed 1 once; the same configuration
        {"run": f"runs/2026-12-01_0{i}", "status": "completed", "best_val_acc": acc, "test_acc": acc, "problem": None,
         "lr": 0.1, "seed": seed, "data.name": "digits", "data_used": "digits", "n_train": 1000}
        for i, (seed, acc) in enumerate([(0, 0.90), (0, 0.90), (1, 0.80), (0, 0.90)])
    ]  # fmt: skip
    table = summarize(pd.DataFrame(rows))
    assert table["n_seeds"].tolist() == [2] and table["best_val_acc_mean"].iloc[0] == pytest.approx(0.85)
    (said,) = notes(pd.DataFrame(rows))
    assert said.startswith("2 run(s) repeat a seed their configuration already ran")
    rows[1]["data_used"] = "mnist_sample"  # one run fell back to other data than the rest
    assert any(
        "did not all train on the same data" in note and "mnist_sample" in note for note in notes(pd.DataFrame(rows))
    )


@pytest.mark.slow  # over 6 s: make test's budget
def test_compare_groups_a_seed_sweep_and_draws_readable_figures(tmp_path, capsys):
    run_cli("experiments.train", "-m", "data=digits", "epochs=3", "lr=0.05,0.5", "seed=0,1", cwd=tmp_path, check=0)
    (sweep,) = sweep_dirs(tmp_path)
    assert compare_main([str(sweep), "--plot", "--csv"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 configurations ranked by mean best_val_acc (4 runs found")
    assert "n_seeds" in out and "tied_with_best" in out
    board = pd.read_csv(sweep / "leaderboard.csv")
    assert board["n_seeds"].tolist() == [2, 2] and board["lr"].tolist() == [0.5, 0.05]
    assert (sweep / "curves.png").read_bytes()[:8] == PNG_SIGNATURE
    assert compare_main([str(sweep), "--runs"]) == 0
    assert capsys.readouterr().out.startswith("4 ranked by best_val_acc")
    # many configurations stay readable: the best N in colour, or one row of plots per value
    assert compare_main([str(sweep), "--top", "1", "--plot", "top.png"]) == 0
    assert compare_main([str(sweep), "--facet", "lr", "--plot", "facet.png"]) == 0
    for name in ("top.png", "facet.png"):
        assert (sweep / name).read_bytes()[:8] == PNG_SIGNATURE
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        compare_main([str(sweep), "--facet", "momentum", "--plot"])
    assert (
        info.value.code == 2
        and "--facet momentum: not a hyperparameter of these runs (they vary in lr, seed)" in capsys.readouterr().err
    )


def test_runs_that_lack_a_setting_others_have_are_compared_ranked_and_drawn(tmp_path):
    """Two sweeps side by side, one of them with momentum: optimizer.momentum is missing
    (NaN) for the SGD runs; every reader takes it as a value of its own, 'unset'."""
    from experiments.results.learned import importance, plot_parallel_coordinates
    from experiments.results.ranking import leaderboard, summarize

    rows = [
        {"run": f"r{i}", "status": "completed", "best_val_acc": acc, "test_acc": acc, "problem": None,
         "lr": lr, "optimizer.name": name, "optimizer.momentum": momentum, "seed": i % 2,
         "data_used": "digits", "final_val_acc": acc, "epochs_completed": 2, "wall_time_s": 1.0}
        for i, (lr, name, momentum, acc) in enumerate([
            (0.1, "sgd", None, 0.80), (0.2, "sgd", None, 0.82), (0.1, "momentum", 0.5, 0.85),
            (0.1, "momentum", 0.9, 0.90), (0.2, "momentum", 0.9, 0.88),
        ])
    ]  # fmt: skip
    runs = pd.DataFrame(rows)
    assert leaderboard(runs)["optimizer.momentum"].tolist() == ["0.9", "0.9", "0.5", "unset", "unset"]
    assert "unset" in set(summarize(runs)["optimizer.momentum"])
    assert "optimizer.momentum" in importance(runs).index
    assert plot_parallel_coordinates(runs, tmp_path / "parallel.png")
    assert (tmp_path / "parallel.png").read_bytes().startswith(PNG_SIGNATURE)


def test_runs_that_all_score_the_same_are_ranked_and_drawn_with_no_importance_to_share(tmp_path):
    """Six search trials that all reached 0.9667 (found by tests/test_adversary.py): fANOVA has no
    variance to share out, and says nothing instead of raising."""
    from experiments.results.learned import importance, plot_parallel_coordinates
    from experiments.results.ranking import leaderboard

    runs = pd.DataFrame(
        {"run": f"r{i}", "status": "completed", "best_val_acc": 0.9667, "test_acc": 0.96, "problem": None,
         "lr": 0.27 + 0.02 * i, "seed": 0, "data_used": "digits", "final_val_acc": 0.96, "epochs_completed": 150,
         "wall_time_s": 1.0}
        for i in range(6)
    )  # fmt: skip
    assert importance(runs) is None
    assert len(leaderboard(runs)) == 6 and plot_parallel_coordinates(runs, tmp_path / "parallel.png")


def test_importance_is_over_the_hyperparameters_searched_and_agrees_with_optunas_own():
    """The trial-model issue's case: optimizer.momentum is 0.9 wherever it is set (absent under
    sgd), so it only repeats the optimizer and is no hyperparameter of its own; data.test_size
    and epochs differ only with the data set, which is data.name's. The numbers are Optuna's
    PED-ANOVA on the same trials, made here by another path."""
    import optuna

    from experiments.results.learned import importance, searched

    rng = np.random.default_rng(1)
    rows = []
    for i in range(40):
        name = ["sgd", "momentum", "nesterov"][i % 3]
        data = ["digits", "mnist"][i % 2]
        lr = float(rng.uniform(0.01, 1))
        score = 0.9 - 0.2 * (lr - 0.5) ** 2 + 0.01 * (name == "sgd") + rng.normal(0, 2e-3)
        rows.append({"run": f"r{i}", "status": "completed", "problem": None, "seed": 0, "lr": lr,
                     "optimizer.name": name, "optimizer.momentum": None if name == "sgd" else 0.9,
                     "data.name": data, "data.test_size": {"digits": 360, "mnist": 10000}[data],
                     "epochs": {"digits": 10, "mnist": 5}[data],
                     "best_val_acc": score})  # fmt: skip
    runs = pd.DataFrame(rows)
    assert searched(runs) == ["lr", "optimizer.name", "data.name"]
    table = importance(runs)
    assert list(table.columns) == ["importance"] and set(table.index) == {"lr", "optimizer.name", "data.name"}
    study = optuna.create_study(direction="maximize")
    for row in rows:
        params = {"lr": row["lr"], "optimizer": row["optimizer.name"], "data": row["data.name"]}
        study.add_trial(optuna.trial.create_trial(params=params, value=row["best_val_acc"], distributions={
            "lr": optuna.distributions.FloatDistribution(runs["lr"].min(), runs["lr"].max()),
            "optimizer": optuna.distributions.CategoricalDistribution(["momentum", "nesterov", "sgd"]),
            "data": optuna.distributions.CategoricalDistribution(["digits", "mnist"])}))  # fmt: skip
    theirs = optuna.importance.get_param_importances(study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    assert table.loc["lr", "importance"] == pytest.approx(theirs["lr"])
    assert table.loc["optimizer.name", "importance"] == pytest.approx(theirs["optimizer"])
    assert table.index[0] == "lr"


@pytest.mark.slow  # fANOVA twice: 4-8 s
def test_importance_is_the_same_whether_its_forests_grow_in_one_process_or_one_per_core(monkeypatch):
    """fANOVA's forests are grown in forked processes from FORESTS_IN_PARALLEL_FROM runs on: the same
    table to the last digit as in this process (each forest is its seed's)."""
    from experiments.results import learned

    rng = np.random.default_rng(0)
    lr, hidden = rng.uniform(0.01, 1, 40), rng.choice([32, 64, 128], 40)
    score = 0.9 - 0.2 * (lr - 0.5) ** 2 + 0.0002 * hidden + rng.normal(0, 0.005, 40)
    runs = pd.DataFrame({"run": [f"r{i}" for i in range(40)], "status": "completed", "best_val_acc": score,
                         "test_acc": score, "problem": None, "lr": lr, "hidden": hidden, "seed": 0})  # fmt: skip
    monkeypatch.setattr(learned, "FORESTS_IN_PARALLEL_FROM", 0)
    forked = learned.importance(runs, "fanova")
    monkeypatch.setattr(learned, "FORESTS_IN_PARALLEL_FROM", 10**9)
    pd.testing.assert_frame_equal(forked, learned.importance(runs, "fanova"), check_exact=True)
    assert forked.index[0] == "lr"


def test_configurations_whose_numbers_round_alike_are_drawn_as_two_lines_each_labelled_apart():
    """A search draws lr=0.012345 and lr=0.012349: to 3 digits both are 0.0123, and the curves
    grouped by label would draw the two runs as one configuration with a seed band."""
    from experiments.results.figures import configuration_labels

    runs = pd.DataFrame({"run": ["a", "b", "c", "d"], "lr": [0.012345, 0.012349, 0.5, float("nan")],
                         "hidden": [64, 64, 128, 64], "optimizer.momentum": [0.9, 0.9, 0.9, 0.9]})  # fmt: skip
    labels = configuration_labels(runs, ["lr", "hidden"])
    assert labels == {"a": "lr=0.012345, hidden=64", "b": "lr=0.012349, hidden=64", "c": "lr=0.5, hidden=128",
                      "d": "lr=unset, hidden=64"}  # fmt: skip
    assert configuration_labels(runs.iloc[2:], ["lr"]) == {"c": "lr=0.5", "d": "lr=unset"}  # 3 digits where enough


def test_a_score_that_is_not_a_finite_number_is_never_ranked():
    from experiments.results.ranking import rankable, unsuccessful_runs

    runs = pd.DataFrame(
        [{"run": name, "status": "completed", "best_val_acc": acc, "problem": None, "error": None}
         for name, acc in (("inf", float("inf")), ("ok", 0.9), ("nan", float("nan")))]
    )  # fmt: skip
    assert list(rankable(runs)["run"]) == ["ok"]
    assert set(unsuccessful_runs(runs)["run"]) == {"inf", "nan"}


def test_the_heatmap_counts_distinct_seeds_and_a_seed_run_again_once():
    """A reproduced copy of a seed (the trial-model issue's defect 5) is one seed: the cell is the
    mean of the configuration's distinct seeds (the latest run of each), the title says 3 seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.results.figures import _draw_heatmap, _grid

    grid_points = [(lr, h, seed) for lr in (0.1, 0.2) for h in (32, 64) for seed in (0, 1, 2)]
    rows = [{"run": f"r{lr}_{h}_{seed}", "status": "completed", "lr": lr, "hidden": h, "seed": seed,
             "best_val_acc": 0.5 + lr + h / 1000 + seed / 100} for lr, h, seed in grid_points]  # fmt: skip
    rows.append({**rows[0], "run": "r0.1_32_0_reproduced", "best_val_acc": 0.9})  # the same seed again, later
    runs = pd.DataFrame(rows)
    grid = _grid(runs, ["lr", "hidden", "seed"])
    assert grid.loc[0.1, 32] == pytest.approx(
        statistics.fmean([0.9, 0.5 + 0.1 + 0.032 + 0.01, 0.5 + 0.1 + 0.032 + 0.02])
    )
    fig, ax = plt.subplots()
    _draw_heatmap(fig, ax, grid, runs)
    assert ax.get_title() == "best val_acc, mean of 3 seeds"
    plt.close(fig)


def test_the_heatmap_stays_readable_at_any_number_of_columns():
    """18 learning rates (the issue's report): no cell's value written where it cannot fit, the
    column labels turned and thinned; a small grid keeps every value written and its labels level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.results.figures import CELL_TEXT_MAX, TICK_LABELS_MAX, _draw_heatmap, _grid

    for lrs, hiddens in (([0.01 * (i + 1) for i in range(18)], [16, 32]), ([0.05, 0.1, 0.5], [32, 64])):
        runs = pd.DataFrame([{"run": f"r{lr}_{h}", "status": "completed", "lr": lr, "hidden": h, "seed": 0,
                              "best_val_acc": 0.5 + lr + h / 1000} for lr in lrs for h in hiddens])  # fmt: skip
        grid = _grid(runs, ["hidden", "lr"])  # the learning rates across, as compare draws this sweep
        fig, ax = plt.subplots()
        _draw_heatmap(fig, ax, grid, runs)
        labels = [label for label in ax.get_xticklabels() if label.get_text()]
        if len(lrs) > CELL_TEXT_MAX:
            assert not ax.texts and len(labels) <= TICK_LABELS_MAX and labels[0].get_rotation() == 45
        else:
            assert len(ax.texts) == len(lrs) * len(hiddens) and [t.get_text() for t in labels] == ["0.05", "0.1", "0.5"]
            assert labels[0].get_rotation() == 0
        plt.close(fig)


def test_the_completed_seeds_of_a_failed_or_pruned_trial_are_listed_as_its_and_never_ranked():
    """A trial one of whose seeds failed failed (experiments/sweep/search/trials.py): its seeds that
    completed are no configuration of their own, however good."""
    from experiments.results.ranking import rankable, summarize, unsuccessful_runs

    def run(name, lr, seed, acc, status="completed", trial=None):
        return {"run": name, "status": status, "best_val_acc": acc, "test_acc": acc, "problem": None, "error": None,
                "epochs_completed": 4, "lr": lr, "seed": seed, **(trial or {})}  # fmt: skip

    failed = {"trial": 1, "trial_state": "failed", "trial_pruned_at": None}
    pruned = {"trial": 2, "trial_state": "pruned", "trial_pruned_at": 2}
    done = {"trial": 0, "trial_state": "completed", "trial_pruned_at": None}
    runs = pd.DataFrame([
        run("a0", 0.1, 0, 0.90, trial=done), run("a1", 0.1, 1, 0.91, trial=done),
        run("b0", 0.5, 0, 0.99, trial=failed), run("b1", 0.5, 1, None, status="failed", trial=failed),
        run("c0", 1.0, 0, 0.98, trial=pruned), run("c1", 1.0, 1, 0.97, status="pruned", trial=pruned),
        run("d0", 2.0, 0, 0.5), run("d1", 2.0, 1, 0.6),  # no search's: ranked as ever
    ])  # fmt: skip
    assert set(rankable(runs)["run"]) == {"a0", "a1", "d0", "d1"}
    assert summarize(runs)["lr"].tolist() == ["0.1", "2"]
    reasons = unsuccessful_runs(runs).set_index("run")["reason"]
    assert reasons["b0"].startswith("trial 1 failed") and reasons["c0"].startswith(
        "trial 2 pruned by the search after epoch 2"
    )


@pytest.mark.slow
def test_a_full_disk_under_a_sweep_is_one_line_a_job_and_resume_finishes_it_once_there_is_room(tmp_path):
    with small_filesystem(tmp_path / "disk", "200k") as disk:
        sweep = [
            "-m",
            "data=digits",
            "epochs=2",
            "hidden=16",
            "lr=0.1,0.2,0.3,0.4,0.5,0.6",
            f"hydra.sweep.dir={disk / 's'}",
        ]
        proc = run_cli("experiments.train", *sweep, cwd=tmp_path)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1 and "Traceback" not in output and "Logging error" not in output, output
        assert "No space left on device" in output
        for job in (disk / "s").iterdir():
            if job.is_dir() and (job / ".hydra").is_dir():  # Hydra's record is whole, or not there
                assert sorted(p.name for p in (job / ".hydra").iterdir()) == [
                    "config.yaml",
                    "hydra.yaml",
                    "overrides.yaml",
                ]
                for record in (job / ".hydra").iterdir():
                    OmegaConf.load(record)  # whole: it reads back
        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)  # room again
        again = run_cli("experiments.train", "-m", f"hydra.sweep.dir={disk / 's'}", "resume=true", cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert set(load_runs(disk / "s")["status"]) == {"completed"} and len(load_runs(disk / "s")) == 6


def study_agrees_with_the_runs(storage: str, sweep_dir) -> list[str]:
    """Each trial's state as the study has it, checked against its run's result.json: a trial
    is running (to be continued) only where its run has no result or was cut short, complete
    only where its run completed, failed only where its run says its trial failed."""
    import optuna

    states = []
    for trial in optuna.load_study(study_name="mlp", storage=storage).trials:
        (run_dir,) = sweep_dir.glob(f"{trial.number}_*")
        result = json.loads((run_dir / "result.json").read_text()) if (run_dir / "result.json").exists() else None
        if trial.state.name == "RUNNING":
            assert result is None or result["status"] == "interrupted", (trial.number, result)
        elif trial.state.name == "COMPLETE":  # (its fate recorded in result.json where the disk had room for it)
            assert result["status"] == "completed" and result.get("trial", {}).get("state", "completed") == "completed"
        else:
            assert trial.state.name == "FAIL" and result["status"] == "failed"
            assert result.get("trial", {}).get("state", "failed") == "failed"
        states.append(trial.state.name)
    return states


@pytest.mark.slow
def test_a_full_disk_under_a_search_leaves_the_study_and_its_runs_agreeing_and_resume_continues_it(tmp_path):
    storage = f"sqlite:///{tmp_path / 'search.db'}"  # the study on another disk: only the runs' disk fills
    with small_filesystem(tmp_path / "disk", "200k") as disk:
        search = ["hparams_search=optuna", "data=digits", "epochs=2", "hidden=16", "hydra.sweeper.params=null",
                  "lr=interval(0.1,0.6)", "hydra.sweeper.n_trials=6", "hydra.sweeper.pruner.name=none",
                  f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={disk / 's'}"]  # fmt: skip
        proc = run_cli("experiments.train", *search, cwd=tmp_path)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1 and "Traceback" not in output and "No space left on device" in output, output
        assert set(study_agrees_with_the_runs(storage, disk / "s")) - {"COMPLETE"}  # the disk stopped some
        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)  # room again
        again = run_cli("experiments.train", "-m", f"hydra.sweep.dir={disk / 's'}", "resume=true", cwd=tmp_path)
        assert "Traceback" not in again.stdout + again.stderr
        states = study_agrees_with_the_runs(storage, disk / "s")
        assert len(states) == 6 and "RUNNING" not in states  # the trials cut short were continued, none asked anew
        assert all((job / "result.json").exists() for job in (disk / "s").iterdir() if job.is_dir())


def test_pruned_runs_are_one_line_per_epoch_with_their_jobs_in_numeric_order():
    from experiments.compare import job_list

    folders = [f"runs/multirun/s/{n}_lr=0.{n}" for n in (12, 3, 100, 7)]
    assert job_list(folders) == "jobs 3, 7, 12, 100 of runs/multirun/s"
    many = [f"s/{n}_x" for n in range(30)]
    assert job_list(many).endswith("11 and 18 more of s")


def test_values_sort_as_a_reader_expects_them():
    from experiments.results.ranking import UNSET, value_order

    values = ["128", UNSET, "16", "[16,8]", 8, float("nan"), "adam"]
    assert sorted(values, key=value_order)[:5] == [8, "16", "128", "[16,8]", "adam"]


def test_a_dry_run_says_what_would_run_and_runs_and_writes_nothing(tmp_path):
    grid = ["experiments.train", "-m", "data=digits", "lr=0.05,0.1,0.5", "hidden=32,64", "dry_run=true"]
    proc = run_cli(*grid, "hydra.sweep.dir=runs/s", cwd=tmp_path, check=0)
    assert proc.stdout.splitlines() == [
        "dry run (dry_run=true): checked, nothing run or written",
        "  6 job(s) into runs/s, on hydra/launcher=parallel",
        "  job 0: data=digits lr=0.05 hidden=32 -> runs/s/0_data=digits,hidden=32,lr=0.05",
        "  job 5: data=digits lr=0.5 hidden=64 -> runs/s/5_data=digits,hidden=64,lr=0.5",
        "  every job's config passes its checks",
        "  data digits: loaded by nn_core as the run starts, nothing to download",
    ]
    assert not (tmp_path / "runs").exists()
    # The folders it names are those the real sweep makes.
    run_cli(*grid[:-1], "epochs=1", "hydra.sweep.dir=runs/s", cwd=tmp_path, check=0)
    assert (tmp_path / "runs/s/5_data=digits,epochs=1,hidden=64,lr=0.5/result.json").is_file()


def test_a_dry_run_refuses_as_a_launch_would_and_says_a_search_and_a_single_run(tmp_path):
    for folder in "bcd":
        (tmp_path / folder).mkdir()
    # A bad value anywhere is refused as without it.
    refused = run_cli("experiments.train", "-m", "data=digits", "lr=0.1,-1", "dry_run=true", cwd=tmp_path / "b")
    assert (
        refused.returncode == 2
        and "lr=-1 is not allowed: must be a finite number > 0 (job 1: data=digits,lr=-1," in refused.stderr
    )
    # A search: its space and study said, the storage not created; a single run: its folder.
    search = run_cli("experiments.train", "hparams_search=optuna", "data=digits", "hydra.sweeper.storage=sqlite:///runs/x.db",
                     "dry_run=true", cwd=tmp_path / "c", check=0)  # fmt: skip
    assert (
        "a search of n_trials=20" in search.stdout
        and "study 'mlp' in sqlite:///runs/x.db (not opened)" in search.stdout
        and "pruner hyperband (default; hydra.sweeper.pruner.name=none turns it off)" in search.stdout
    )
    assert "  lr: a float in [0.01, 2.0], log scale" in search.stdout and not (tmp_path / "c" / "runs").exists()
    single = run_cli("experiments.train", "hydra.run.dir=r", "dry_run=true", cwd=tmp_path / "d", check=0)
    assert (
        "  one run into r" in single.stdout and "data mnist: " in single.stdout and not (tmp_path / "d" / "r").exists()
    )


def test_a_grid_checked_value_by_value_refuses_what_checking_every_job_would():
    """check_grid composes once per option of the groups swept and checks each value on top;
    composing and checking all 48 jobs one by one finds the same failing jobs and reasons."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from experiments.run.checks import task_config
    from experiments.sweep.grid.checks import check_grid, config_problems
    from experiments.sweep.grid.sweeper import Grid

    task = ["data=digits", "optimizer=momentum,nesterov", "optimizer.momentum=0.5,1.5", "lr=0.1,-2",
            "hidden=8,0,[16,16]", "batch_size=16,32"]  # fmt: skip
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        master = compose("config", return_hydra_config=True)
        with open_dict(master):
            master.hydra.overrides.task = task
        configs, problems, failing = check_grid(master)
        loader = GlobalHydra.instance().config_loader()
        grid = Grid(task)
        each_job = [config_problems(task_config(loader.load_sweep_config(master, grid[i]))) for i in range(len(grid))]
    assert len(grid) == 48 and len(configs) == 2  # one composition per optimizer
    assert (
        failing == sum(1 for reasons in each_job if reasons) == 48 - 2 * 2 * 2
    )  # good: lr=0.1, momentum=0.5, hidden not 0
    said = {line.rsplit(" (", 1)[0]: line for line in problems}
    assert said.keys() == set().union(*each_job)
    for reason, line in said.items():
        first = next(i for i, reasons in enumerate(each_job) if reason in reasons)
        jobs = sum(1 for reasons in each_job if reason in reasons)
        assert line.endswith(f"({jobs} jobs; the first: job {first}: {','.join(grid[first])})"), line


@pytest.mark.parametrize(
    "hydra_overrides",
    [[], ["hydra.job.config.override_dirname.kv_sep=-", "hydra.job.config.override_dirname.item_sep=__"],
     ["hydra.sweep.subdir=job${hydra.job.num}"], ["hydra.sweep.subdir=${lr}"]],
)  # fmt: skip
def test_a_resumed_job_is_found_in_the_folder_hydra_names_without_composing_it(hydra_overrides):
    """FolderNaming names each job's folder as composing its config would (a 10,000-job resume
    finds what is finished in seconds), or says it cannot (a subdir naming a task key)."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    import experiments.train  # noqa: F401  (its resolvers: folder_name, not_hyperparameters)
    from experiments.sweep.grid.sweeper import Grid
    from experiments.sweep.launch.pool import FolderNaming, run_folder_of

    task = ["+experiment=mnist_sample", "data=digits", "optimizer=momentum,adam", "lr=0.1,0.123456789",
            "hidden=[16,16]", "resume=true", "save_weights=false", "seed=3"]  # fmt: skip
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        master = compose("config", overrides=["hydra.sweep.dir=sweep", *hydra_overrides], return_hydra_config=True)
        with open_dict(master):
            master.hydra.overrides.task = task
        loader = GlobalHydra.instance().config_loader()
        grid = Grid(task)
        for number, overrides in enumerate(grid):
            composed = loader.load_sweep_config(master, overrides)
            with open_dict(composed):
                composed.hydra.job.num = number
            quick = FolderNaming.of(master).run_folder(overrides, number)
            assert quick in (run_folder_of(composed), None)
            assert (quick is None) == ("${lr}" in hydra_overrides[0] if hydra_overrides else False)
    assert str(run_folder_of(composed)).startswith("sweep/")


@pytest.mark.parametrize("extra, templates", [([], 2), (["++init_scale=0.5"], 0)])
def test_a_job_made_from_an_earlier_jobs_config_equals_composing_it(extra, templates):
    """The launcher composes a job only when its config groups differ from every job's before
    (or it has a ++, + or ~ override); otherwise it copies one and sets the values: the same
    config, hydra's part included."""
    from types import SimpleNamespace

    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    import experiments.train  # noqa: F401  (its resolvers)
    from experiments.run.checks import task_config
    from experiments.sweep.grid.sweeper import Grid
    from experiments.sweep.launch.pool import RunningJobs

    task = ["data=digits", "optimizer=momentum,adam", "lr=0.1,${epochs}", "hidden=[16,16],32", "resume=true",
            "epochs=2", "seed=3,4", *extra]  # fmt: skip
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        master = compose("config", overrides=["hydra.sweep.dir=sweep"], return_hydra_config=True)
        with open_dict(master):
            master.hydra.overrides.task = task
        loader = GlobalHydra.instance().config_loader()
        jobs = RunningJobs(SimpleNamespace(config=master, hydra_context=SimpleNamespace(config_loader=loader)), 2)
        for number, overrides in enumerate(Grid(task)):
            made = jobs._composed(overrides, number)
            composed = loader.load_sweep_config(master, overrides)
            with open_dict(composed):
                composed.hydra.job.id, composed.hydra.job.num = made.hydra.job.id, number
            assert OmegaConf.to_container(made) == OmegaConf.to_container(composed), overrides
            resolved = [OmegaConf.to_container(task_config(c), resolve=True) for c in (made, composed)]
            assert resolved[0] == resolved[1] and resolved[0]["lr"] in (0.1, 2)
    assert len(jobs.templates) == templates  # one config per optimizer, or none: every job composed


def test_many_runs_read_in_parallel_give_the_same_tables(grid_sweep, monkeypatch):
    """From READ_IN_PARALLEL_FROM runs on, one process per core reads its share: the same rows, in order."""
    import experiments.results.runs as runs_module

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: runs are read in one process")
    sweep, _ = grid_sweep
    serial = load_runs(sweep), load_history(sweep)
    monkeypatch.setattr(runs_module, "READ_IN_PARALLEL_FROM", 2)
    parallel = load_runs(sweep), load_history(sweep)
    pd.testing.assert_frame_equal(parallel[0], serial[0])
    pd.testing.assert_frame_equal(parallel[1], serial[1])
