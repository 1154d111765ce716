"""Every run says where it came from: code, libraries, BLAS, machine, data files."""

import hashlib
import json
import socket
import subprocess

import numpy as np
import pandas as pd
import pytest

from experiments.results.runs import load_runs
from helpers import MNIST_SAMPLE, REPO, run_cli, small_filesystem


def git(*args):
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout


def test_a_run_records_its_code_libraries_blas_machine_and_data_files(tmp_path):
    run_cli("experiments.train", "data=mnist_sample", "epochs=1", "hydra.run.dir=run", cwd=tmp_path, check=0)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    about = result["provenance"]
    if (REPO / ".git").exists():
        assert about["code"]["commit"] == git("rev-parse", "HEAD").strip()
        changed = bool(git("status", "--porcelain").strip())
        assert about["code"]["uncommitted_changes"] == changed
        assert (tmp_path / "run" / "code.diff").is_file() == changed  # the changes, beside the run
        if changed:
            diff = (tmp_path / "run" / "code.diff").read_bytes()
            assert hashlib.md5(diff).hexdigest() == about["code"]["diff_md5"]
    assert about["libraries"]["numpy"] == np.__version__ and about["python"].count(".") == 2
    assert about["host"] == socket.gethostname() and about["cpu"]
    assert about["blas"] and all(pool["threads"] == 1 for pool in about["blas"])  # the run's one thread
    files = result["data"]["files"]
    for name, recorded in files.items():
        assert recorded["md5"] == hashlib.md5((MNIST_SAMPLE / name).read_bytes()).hexdigest()
    assert files["t10k-labels-idx1-ubyte.gz"]["samples"] == 10000


@pytest.mark.parametrize(
    "column, values, what",
    [
        ("code", ["1234567890", "1234567890+changes 9f8e7d"], "2 code versions"),
        ("libraries", ["numpy 2.4.6", "numpy 2.3.0"], "2 sets of library versions"),
        ("data_files", ["f:aa", "f:bb"], "2 sets of data files"),
    ],
)
def test_compare_says_when_a_table_mixes_code_libraries_or_data_files(column, values, what):
    from experiments.results.ranking import notes

    same = {"code": "1234567890", "libraries": "numpy 2.4.6", "data_files": "f:aa"}
    runs = pd.DataFrame(
        {"run": ["a", "b"], "status": "completed", "best_val_acc": 0.9, "problem": None, "seed": [0, 1],
         "data.name": "digits", "data_used": "digits", "n_train": 1000, **same, column: values}
    )  # fmt: skip
    (said,) = notes(runs)  # that one, and nothing about the columns that agree
    assert said == f"these runs ran on {what} (column {column}): {values[0]}; {values[1]}"
    assert notes(runs.assign(**{column: values[0]})) == []  # all alike: nothing to say


@pytest.mark.slow
def test_reproduce_runs_a_run_again_and_says_identical_or_where_it_first_differs(tmp_path):
    run_cli(
        "experiments.train", "-m", "data=digits", "epochs=3", "lr=0.1,0.5", "hydra.sweep.dir=s", cwd=tmp_path, check=0
    )
    (job,) = (tmp_path / "s").glob("1_*")  # a job of a sweep reproduces as a run does
    proc = run_cli("experiments.reproduce", str(job), "--out", "again", cwd=tmp_path, check=0)
    assert (
        f"identical: again has the same metrics.csv (but epoch times), model.npz and test scores as {job}"
        in proc.stdout
    )
    assert "running again: python -m experiments.train data=digits epochs=3 lr=0.5 hydra.run.dir=again" in proc.stdout
    # By default the copy goes outside the sweep, which it would join as one more seed.
    proc = run_cli("experiments.reproduce", str(job), cwd=tmp_path, check=0)
    assert f"identical: {tmp_path / 's_reproduced' / job.name} has the same" in proc.stdout
    assert len(load_runs(tmp_path / "s")) == 2
    # The record altered, as if the first run had come out otherwise: the first difference is named.
    metrics = (job / "metrics.csv").read_text().splitlines()
    fields = metrics[2].split(",")
    fields[5] = "0.123"  # epoch 2's val_acc
    (job / "metrics.csv").write_text("\n".join([*metrics[:2], ",".join(fields), *metrics[3:]]) + "\n")
    proc = run_cli("experiments.reproduce", str(job), "--out", "again2", cwd=tmp_path, check=1)
    assert "not identical: first difference in metrics.csv, epoch 2, val_acc: 0.123 then" in proc.stdout
    proc = run_cli("experiments.reproduce", str(tmp_path / "s"), cwd=tmp_path, check=2)  # a sweep's folder
    assert "is not a run's folder: it has no readable .hydra/overrides.yaml" in proc.stderr
    run_cli("experiments.reproduce", str(job), "--out", "again", cwd=tmp_path, check=2)  # never over an earlier one


def test_compare_filters_runs_by_any_column_code_included(tmp_path, capsys):
    from experiments.compare import main as compare_main
    from experiments.run.provenance import code_label

    run_cli(
        "experiments.train", "-m", "data=digits", "epochs=1", "lr=0.1,0.5", "hydra.sweep.dir=s", cwd=tmp_path, check=0
    )
    label = code_label(json.loads(next((tmp_path / "s").glob("0_*/result.json")).read_text())["provenance"])
    assert compare_main([str(tmp_path / "s"), "--where", f"code={label}", "--where", "lr=0.5"]) == 0
    assert "(1 run found in" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        compare_main([str(tmp_path / "s"), "--where", "code=0000000000"])
    assert refused.value.code == 2 and "--where code=0000000000: no run has it" in capsys.readouterr().err


def test_a_code_diff_the_disk_has_no_room_for_is_said_in_the_record_and_the_run_goes_on(tmp_path, monkeypatch):
    """Uncommitted changes bigger than the room left: code.diff is not saved (result.json says so),
    no half-written file is left, and nothing is raised (the run's next write reports the full disk)."""
    from experiments.run import provenance

    monkeypatch.setattr(provenance, "code_version", lambda: {"commit": "0" * 40, "uncommitted_changes": True})
    monkeypatch.setattr(provenance, "code_diff", lambda: "+ a changed line\n" * 20_000)  # 320 kB
    with small_filesystem(tmp_path / "disk", "64k") as disk:
        recorded = provenance.record(disk)
        assert recorded["code"]["diff"] == "not saved: No space left on device"
        assert list(disk.iterdir()) == []


def test_outputs_left_in_the_checkout_are_not_code_and_never_enter_code_diff(tmp_path, monkeypatch):
    """A model.npz saved by the README's snippet, a compare page, a figure, a big file: a command's
    outputs in the checkout are not changed code; a new source file is, and its diff is kept."""
    from experiments.run import provenance

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    git = ["git", "-C", str(checkout), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (checkout / "train.py").write_text("print('hello')\n")
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    np.savez(checkout / "model.npz", w=np.zeros(10))
    (checkout / "research.html").write_text("<html>" + "x" * 900_000 + "</html>")
    (checkout / "research.png").write_bytes(b"\x89PNG" + b"0" * 100)
    (checkout / "big_notes.txt").write_text("x" * 300_000)
    monkeypatch.setattr(provenance, "CHECKOUT", checkout)

    def asked():
        for cached in (provenance.untracked, provenance.code_version, provenance.code_diff):
            cached.cache_clear()
        return provenance.code_version()

    try:
        outputs_are_not_code(asked, checkout)
    finally:  # the real checkout's answers are asked again, not these
        for cached in (provenance.untracked, provenance.code_version, provenance.code_diff):
            cached.cache_clear()


def outputs_are_not_code(asked, checkout):
    from experiments.run import provenance

    version = asked()
    assert version["uncommitted_changes"] is False
    assert version["not_code"].startswith("4 untracked file(s) that are not source, left out: ")
    for name in ("model.npz", "research.html", "research.png", "big_notes.txt"):
        assert name in version["not_code"]
    (checkout / "helper.py").write_text("x = 1\n")  # new code
    assert asked()["uncommitted_changes"] is True
    diff = provenance.code_diff()
    assert "+x = 1" in diff and "model.npz" not in diff and "research" not in diff and len(diff) < 1000
