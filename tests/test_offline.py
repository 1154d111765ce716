"""Working with no network: the bundled MNIST sample, MNIST's fallback to it,
and sweeps that check their data (and every job's config) before starting."""

import json

import numpy as np
import pytest

import nn_core
from experiments.compare import main as compare_main
from experiments.results.runs import load_runs
from helpers import MNIST_SAMPLE, run_cli, single_run_dir
from nn_core.datasets import load_dataset
from nn_core.idx_sets import IDX_FILES


def test_the_sample_is_real_mnist_installed_with_the_package():
    assert sorted(p.name for p in MNIST_SAMPLE.glob("*.gz")) == sorted(IDX_FILES)
    data = load_dataset("mnist_sample", val_size=1000)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (9000, 1000, 10000)
    assert data.n_features == 784 and data.name == "mnist_sample"
    # the official test labels begin 7, 2, 1, 0, 4 and hold 1,135 ones
    assert data.y_test[:5].tolist() == [7, 2, 1, 0, 4] and np.bincount(data.y_test)[1] == 1135


def offline_defaults(tmp_path, mirror) -> dict:
    """This machine's defaults, on an empty cache and a mirror without the files."""
    return {"MNIST_FROM_SCRATCH_DATA": str(tmp_path / "cache"), "MNIST_FROM_SCRATCH_MIRRORS": mirror.url}


def test_mnist_falls_back_to_the_sample_and_says_so_once(tmp_path, mirror, caplog, monkeypatch):
    for name, value in offline_defaults(tmp_path, mirror).items():
        monkeypatch.setenv(name, value)
    data = load_dataset("mnist", val_size=0.16666667)
    assert data.name == "mnist_sample" and len(data.y_train) + len(data.y_val) == 10000
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "bundled sample" in warnings[0].getMessage()
    assert "404" in warnings[0].getMessage() and "data.fallback=false" in warnings[0].getMessage()


def test_fallback_false_is_a_hard_failure(tmp_path, mirror):
    with pytest.raises(nn_core.DataError, match="No mnist data"):
        load_dataset("mnist", root=tmp_path / "empty", mirrors=[mirror.url], fallback=False)


def test_a_folder_or_mirrors_named_give_that_data_or_an_error_never_other_data(tmp_path, mirror):
    """The fallback stands in for the defaults only: a user who named where the data is gets it or an error."""
    missing = tmp_path / "does" / "not" / "exist"
    with pytest.raises(nn_core.DataError, match=f"data.root={missing} does not exist"):
        load_dataset("mnist", root=missing)
    assert not (tmp_path / "does").exists()  # nothing created
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / IDX_FILES[0]).write_bytes(b"")
    with pytest.raises(nn_core.DataError, match=f"lacks {', '.join(IDX_FILES[1:])}"):
        load_dataset("mnist", root=tmp_path / "partial")
    with pytest.raises(nn_core.DataError, match="404"):  # each mirror named, and why it failed
        load_dataset("mnist", mirrors=[mirror.url])
    proc = run_cli("experiments.train", f"data.root={missing}", cwd=tmp_path)
    assert proc.returncode == 2 and f"data.root={missing} does not exist" in proc.stdout + proc.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "does").exists()


def test_the_quick_start_trains_on_real_digits_with_no_network(tmp_path, mirror):
    """`make train` on a fresh machine: empty HOME, no reachable mirror, default config."""
    env = {"HOME": str(tmp_path / "home"), "MNIST_FROM_SCRATCH_DATA": "", "MNIST_FROM_SCRATCH_MIRRORS": mirror.url}
    proc = run_cli("experiments.train", cwd=tmp_path, env=env, check=0)
    output = proc.stdout + proc.stderr
    assert output.count("WARNING") == 1 and "bundled sample" in output
    result = json.loads((single_run_dir(tmp_path) / "result.json").read_text())
    assert result["status"] == "completed" and result["epochs_completed"] == 10
    files = result["data"].pop("files")
    assert result["data"] == {
        "name": "mnist_sample",
        "source": str(MNIST_SAMPLE.resolve()),
        "n_train": 8333,
        "n_val": 1667,
        "n_test": 10000,
    }
    assert sorted(files) == sorted(IDX_FILES)  # the files it read, each with its MD5
    assert result["hyperparameters"]["data"]["name"] == "mnist"  # what was asked for stays on record
    assert result["test_acc"] >= 0.90, result


def test_result_records_the_folder_actually_read(tmp_path, idx_folder, monkeypatch):
    monkeypatch.setenv("MNIST_FROM_SCRATCH_DATA", str(idx_folder.parent))
    (idx_folder.parent / "mnist").symlink_to(idx_folder)
    run_cli("experiments.train", "epochs=1", "data.val_size=10", cwd=tmp_path, check=0)
    result = json.loads((single_run_dir(tmp_path) / "result.json").read_text())
    assert result["hyperparameters"]["data"]["root"] is None
    assert result["data"]["source"] == str(idx_folder.resolve()) and result["data"]["name"] == "mnist"


def test_a_sweep_without_data_fails_once_before_any_job(tmp_path, mirror):
    proc = run_cli(
        "experiments.train",
        "-m",
        f"data.root={tmp_path / 'empty'}",
        f"data.mirrors=[{mirror.url}]",
        "data.fallback=false",
        "lr=0.01,0.1,1",
        "hidden=64,128,256",
        cwd=tmp_path,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert output.count("No mnist data") == 1 and "Traceback" not in output
    assert not list(tmp_path.glob("runs/multirun/*/*/metrics.csv"))


def test_a_sweep_that_falls_back_warns_once_and_compare_shows_it(tmp_path, mirror, capsys):
    env = offline_defaults(tmp_path, mirror)
    proc = run_cli("experiments.train", "-m", "epochs=1", "lr=0.1,0.5", cwd=tmp_path, env=env, check=0)
    output = proc.stdout + proc.stderr
    launcher_lines = [line for line in output.splitlines() if "bundled MNIST sample" in line]
    assert len(launcher_lines) == 1
    assert "full MNIST not found" not in output  # the jobs do not each say it again
    runs = load_runs(tmp_path / "runs")
    assert runs["data_used"].tolist() == ["mnist_sample"] * 2 and runs["n_train"].tolist() == [8333] * 2
    assert compare_main([str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "data_used" in out.splitlines()[1] and "did not all train on the same data, or on the data they were" in out


def test_every_job_of_a_grid_is_checked_before_the_first_starts(tmp_path):
    proc = run_cli("experiments.train", "-m", "data=digits", "lr=0.1,-1", "hidden=8,0", cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "3 job(s) would fail" in output and "no job was started" in output
    # each bad value once, with the jobs it spoils, numbered as Hydra numbers them: the last swept key varies fastest
    assert "  hidden=0 is not allowed: must be an integer >= 1" in output
    assert "(2 jobs; the first: job 1: data=digits,lr=0.1,hidden=0)\n" in output
    assert (
        "  lr=-1 is not allowed: must be a finite number > 0 (2 jobs; the first: job 2: data=digits,lr=-1,hidden=8)\n"
        in output
    )
    assert "Traceback" not in output and not list(tmp_path.glob("runs/multirun/*/*/metrics.csv"))
