"""`python -m experiments.train` end to end, through the real CLI in a subprocess."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from experiments.run.provenance import CODE_DIFF
from helpers import MNIST_SAMPLE, run_cli, single_run_dir, small_filesystem, weights
from nn_core import load_network

HEADER = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s"]
RESULT_KEYS = {
    "status",
    "epochs_completed",
    "best_val_acc",
    "final_val_acc",
    "test_acc",
    "test_loss",
    "wall_time_s",
    "hyperparameters",
}


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def read_result(run_dir):
    return json.loads((run_dir / "result.json").read_text())


def test_digits_run_writes_every_file(tmp_path):
    proc = run_cli("experiments.train", "data=digits", "epochs=4", "lr=0.5", "hidden=32", cwd=tmp_path, check=0)
    run_dir = single_run_dir(tmp_path)
    rows = read_metrics(run_dir)
    assert list(rows[0]) == HEADER and [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    result = read_result(run_dir)
    assert RESULT_KEYS <= set(result)
    assert result["status"] == "completed" and result["epochs_completed"] == result["weights_epoch"] == 4
    assert result["hyperparameters"]["lr"] == 0.5 and result["hyperparameters"]["data"]["name"] == "digits"
    assert result["final_val_acc"] == pytest.approx(float(rows[-1]["val_acc"]))
    # The best epoch is the one of lowest validation loss (what early stopping keeps), and best_val_acc is its accuracy.
    best = min(rows, key=lambda r: float(r["val_loss"]))
    assert result["best_epoch"] == int(best["epoch"]) and result["best_val_acc"] == pytest.approx(
        float(best["val_acc"])
    )
    assert 0.5 < result["test_acc"] <= 1
    network, about = load_network(run_dir / "model.npz")
    assert [layer.params["W"].shape for layer in network.trainable] == [(64, 32), (32, 10)]
    assert (about["activation"], about["pixel_max"], about["data"]) == ("sigmoid", 16.0, "digits")
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    log = (run_dir / "train.log").read_text()
    assert log.count("epoch ") >= 4 and "val_acc" in log
    assert "test_acc" in proc.stdout + proc.stderr


def test_mnist_sample_reaches_reference_accuracy(tmp_path):
    run_cli("experiments.train", "data=mnist_sample", "epochs=10", cwd=tmp_path, check=0)
    run_dir = single_run_dir(tmp_path)
    result = read_result(run_dir)
    assert len(read_metrics(run_dir)) == 10
    assert result["status"] == "completed"
    assert result["test_acc"] >= 0.90, result


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    def metrics(seed, name):
        run_cli(
            "experiments.train",
            "data=digits",
            "epochs=3",
            f"seed={seed}",
            f"hydra.run.dir={name}",
            cwd=tmp_path,
            check=0,
        )
        return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in read_metrics(tmp_path / name)]

    first, again, other = metrics(7, "a"), metrics(7, "b"), metrics(8, "c")
    assert first == again
    assert first != other
    for same, again_ in zip(weights(tmp_path / "a"), weights(tmp_path / "b"), strict=True):
        np.testing.assert_array_equal(same, again_)  # every layer's weights and biases


def test_divergence_is_a_result_not_a_crash(tmp_path):
    proc = run_cli("experiments.train", "data=digits", "epochs=5", "lr=1e38", cwd=tmp_path, check=0)
    run_dir = single_run_dir(tmp_path)
    result = read_result(run_dir)
    assert result["status"] == "diverged" and result["epochs_completed"] == 1
    assert result["test_acc"] is None
    assert "diverged" in proc.stdout + proc.stderr


@pytest.mark.parametrize("signum, code, name", [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_interrupt_keeps_rows_and_says_interrupted(tmp_path, signum, code, name):
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.train", "data=digits", "epochs=100000", "hydra.run.dir=run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics = tmp_path / "run" / "metrics.csv"
    deadline = time.monotonic() + 60
    while not (metrics.exists() and len(metrics.read_text().splitlines()) > 3):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read() if proc.poll() else "timeout"
        time.sleep(0.05)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, output
    result = read_result(tmp_path / "run")
    rows = read_metrics(tmp_path / "run")
    assert result["status"] == "interrupted" and result["signal"] == name
    assert result["epochs_completed"] == len(rows) >= 3
    assert (tmp_path / "run" / "model.npz").is_file()
    assert "interrupted" in output and "Traceback" not in output


@pytest.mark.parametrize("fallback", [True, False])
def test_interrupted_download_leaves_nothing_that_passes_for_complete(tmp_path, idx_folder, mirror, fallback):
    name = "train-images-idx3-ubyte.gz"
    mirror.files[name] = (idx_folder / name).read_bytes()
    mirror.stall[name] = 1000
    if fallback:  # the defaults, on this machine's cache and mirror: the fallback may stand in
        cache, named = tmp_path / "data" / "mnist", []
        env = {
            **os.environ,
            "MNIST_FROM_SCRATCH_DATA": str(tmp_path / "data"),
            "MNIST_FROM_SCRATCH_MIRRORS": mirror.url,
        }
    else:  # a folder and mirrors named: that data or an error
        cache, env = tmp_path / "cache", None
        named = [f"data.root={cache}", f"data.mirrors=[{mirror.url}]", "data.fallback=false"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.train", *named, "hydra.run.dir=run"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (cache.is_dir() and any(cache.iterdir())):  # the download has begun
        assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read() if proc.poll() else "timeout"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, output
    assert list(cache.iterdir()) == [] and "Traceback" not in output
    if fallback:  # the run itself fetches its data, and records the interrupt
        result = read_result(tmp_path / "run")
        assert result["status"] == "interrupted" and result["epochs_completed"] == 0
    else:  # without a fallback the data is fetched before the run starts: nothing of a run was written
        assert "interrupted: the run had not started" in output and not (tmp_path / "run").exists()


def test_a_run_directory_is_never_shared(tmp_path):
    run_cli("experiments.train", "data=digits", "epochs=1", "hydra.run.dir=same", cwd=tmp_path, check=0)
    before = {p: p.read_bytes() for p in (tmp_path / "same").rglob("*") if p.is_file()}
    proc = run_cli("experiments.train", "data=digits", "epochs=2", "hidden=16", "hydra.run.dir=same", cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "already holds a run; nothing in it was changed" in output
    assert "Traceback" not in output
    # not a byte of the first run's files changed, .hydra/config.yaml included
    assert {p: p.read_bytes() for p in (tmp_path / "same").rglob("*") if p.is_file()} == before


def test_a_run_that_fails_its_checks_leaves_no_directory(tmp_path, mirror):
    for args, message in (
        (["lr=-1"], "lr=-1 is not allowed"),
        (
            ["lr=${oc.env:NO_SUCH_VARIABLE}"],
            "lr cannot be resolved: KeyError raised while resolving interpolation: "
            "\"Environment variable 'NO_SUCH_VARIABLE' not found\"",
        ),
        ([f"data.root={tmp_path / 'empty'}", f"data.mirrors=[{mirror.url}]", "data.fallback=false"], "No mnist data"),
        (["data=digits", "data.val_size=2000"], "gives 2000 validation samples out of 1437"),  # seen as data loads
    ):
        proc = run_cli("experiments.train", *args, cwd=tmp_path)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 2 and message in output and "Traceback" not in output, output
    assert not (tmp_path / "runs").exists()
    # A folder the user named that was there before keeps what it held, and only that.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    run_cli("experiments.train", "data=digits", "data.val_size=2000", "hydra.run.dir=mine", cwd=tmp_path, check=2)
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_default_run_directories_are_distinct(tmp_path):
    """Two runs started at the same moment (names by the second alone would be one folder) get
    a folder each, each a whole run of its own, each said by its own command."""
    command = [sys.executable, "-m", "experiments.train", "data=digits", "epochs=1"]
    procs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]  # fmt: skip
    said = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], said
    folders = sorted(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert len(folders) == 2
    for folder in folders:
        assert json.loads((folder / "result.json").read_text())["status"] == "completed"
        assert len(list(folder.glob("model.npz"))) == 1 and (folder / "metrics.csv").read_text().count("\n") == 2
    assert sorted(next(f.name for f in folders if str(f) in text) for text in said) == [f.name for f in folders]


def test_deeper_network_adam_step_schedule_and_early_stopping_from_the_cli(tmp_path):
    run_cli(
        "experiments.train",
        "data=digits",
        "hidden=[32,16]",
        "activation=tanh",
        "init=xavier",
        "optimizer=adam",
        "lr=0.01",
        "schedule=step",
        "schedule.step_size=2",
        "schedule.gamma=0.9",
        "epochs=60",
        "patience=3",
        "dtype=float64",
        cwd=tmp_path,
        check=0,
    )
    run_dir = single_run_dir(tmp_path)
    rows = read_metrics(run_dir)
    assert [float(r["lr"]) for r in rows[:5]] == pytest.approx([0.01, 0.01, 0.009, 0.009, 0.0081])
    result = read_result(run_dir)
    assert result["stopped_early"] and result["epochs_completed"] < 60
    best = min(rows, key=lambda r: float(r["val_loss"]))
    assert result["best_epoch"] == result["weights_epoch"] == int(best["epoch"])
    # every best_* number describes that one epoch
    assert (result["best_val_acc"], result["best_val_loss"]) == (float(best["val_acc"]), float(best["val_loss"]))
    network, about = load_network(run_dir / "model.npz")
    assert [layer.params["W"].shape for layer in network.trainable] == [(64, 32), (32, 16), (16, 10)]
    assert about["activation"] == "tanh" and network.dtype == np.float64


@pytest.mark.slow
def test_mnist_sample_preset_reaches_98_5_percent(tmp_path):
    run_cli("experiments.train", "+experiment=mnist_sample", cwd=tmp_path, check=0, timeout=900)
    result = read_result(single_run_dir(tmp_path))
    hyperparameters = result["hyperparameters"]
    assert (
        hyperparameters["hidden"] == [1024, 512]
        and hyperparameters["augment"]["shift"] == 2
        and hyperparameters["batch_norm"]
    )
    assert result["data"]["name"] == "mnist_sample" and result["data"]["n_train"] == 9000
    assert result["test_acc"] >= 0.985, result


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow
@pytest.mark.skipif(
    not (FASHION / "t10k-labels-idx1-ubyte.gz").is_file(), reason="apt-get install dataset-fashion-mnist"
)
def test_fashion_mnist_preset_reaches_90_5_percent(tmp_path):
    run_cli("experiments.train", "+experiment=fashion_mnist", cwd=tmp_path, check=0, timeout=900)
    result = read_result(single_run_dir(tmp_path))
    assert result["hyperparameters"]["batch_norm"] and result["hyperparameters"]["label_smoothing"] == 0.1
    assert result["data"]["name"] == "fashion_mnist" and result["data"]["n_train"] == 55000
    assert result["test_acc"] >= 0.905, result


def test_history_keeps_each_epochs_scheduled_lr(tmp_path):
    from experiments.results.runs import load_history

    run_cli("experiments.train", "data=digits", "epochs=4", "schedule=cosine", "lr=0.2", cwd=tmp_path, check=0)
    history = load_history(tmp_path / "runs")
    assert history["lr"].tolist() == pytest.approx([float(r["lr"]) for r in read_metrics(single_run_dir(tmp_path))])
    assert history["lr"].tolist() == pytest.approx(
        [0.2, 0.2 * (1 + np.cos(np.pi / 4)) / 2, 0.1, 0.2 * (1 + np.cos(3 * np.pi / 4)) / 2]
    )
    assert (history["lr_config"] == 0.2).all()


def test_paths_and_sizes_that_cannot_work_get_one_line_each(tmp_path):
    (tmp_path / "a_file").write_text("")
    for args, message in (
        (["data.root=a_file"], "data.root=a_file is a file; it must be the folder"),
        (["data=digits", "hydra.run.dir=a_file/run"], "hydra.run.dir=a_file/run cannot be written"),
        (["data=digits", "hidden=[100000000]"], "with batch_size=32 needs about "),  # thousands of GiB
    ):
        proc = run_cli("experiments.train", "epochs=1", *args, cwd=tmp_path, timeout=60)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 2 and message in output and "Traceback" not in output, output
    assert "Make hidden or batch_size smaller" in output and "GiB is available" in output
    assert "data digits from" not in output  # refused before any data was loaded
    sweep = run_cli("experiments.train", "-m", "data=digits", "hidden=16,[100000000]", cwd=tmp_path, timeout=60)
    said = sweep.stdout + sweep.stderr
    assert sweep.returncode == 2 and "the grid's largest job: hidden=[100000000] with batch_size=32 needs" in said, said
    assert "(job 1: data=digits,hidden=[100000000])" in said


def test_a_preset_on_other_data_is_warned_about(tmp_path):
    proc = run_cli("experiments.train", "+experiment=mnist_sample", "data=digits", "epochs=1", cwd=tmp_path, check=0)
    assert (
        "+experiment=mnist_sample was tuned for data=mnist_sample; this run trains on digits (437 training samples)"
        in proc.stdout + proc.stderr
    )


def test_early_stopping_says_which_epoch_it_kept(tmp_path):
    proc = run_cli("experiments.train", "data=digits", "lr=8", "epochs=60", "patience=2", cwd=tmp_path, check=0)
    result = read_result(single_run_dir(tmp_path))
    assert result["stopped_early"]
    assert (
        f"early stopping after epoch {result['epochs_completed']}: no lower validation loss for 2 epochs; "
        f"keeping epoch {result['weights_epoch']}'s weights"
    ) in proc.stdout + proc.stderr


def test_shell_completion_without_a_shell_is_one_line(tmp_path):
    proc = run_cli("experiments.train", "--shell-completion", cwd=tmp_path)
    assert proc.returncode == 2 and "takes install=SHELL" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.7, 1.0, 1.5])
def test_ctrl_c_in_the_first_second_is_one_line(tmp_path, delay):
    """Whether it lands during the imports or the first epochs: exit 130, one line, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.train", "data=digits", "epochs=100000"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted" in output and "Traceback" not in output and "each job's result.json" not in output


def test_ctrl_c_before_a_sweeps_first_job_is_one_line_and_writes_nothing(tmp_path):
    """While Hydra starts (its plugins, the config) a stop signal waits for the checks: once it
    landed inside OmegaConf and came out as an AttributeError's traceback."""
    command = [sys.executable, "-m", "experiments.train", "-m", "data=digits", "epochs=100000", "lr=0.1,0.2"]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in output, output
    assert "interrupted: the sweep had not started its jobs; nothing was written" in output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "overrides, message",
    [
        ("lr=[1,", "lr=[1, does not parse: no viable alternative at input '[1,'"),
        ("lrr=0.1", "unknown config key 'lrr'; did you mean lr? (known keys: hidden,"),
        ("data=cifar", "data=cifar is not one of digits, fashion_mnist, mnist, mnist_sample"),
        ("optimizer.beta1=0.8", "optimizer.beta1 does not apply to optimizer=sgd (it takes weight_decay)"),
        (
            "optimizer=adam optimizer.momentum=0.9",
            "optimizer.momentum does not apply to optimizer=adam (it takes beta1",
        ),
        ("-m lr=0.1, 0.5", "a sweep's values are one argument, without spaces: lr=0.1,0.5"),
        ("+experiment=cifar", "experiment=cifar is not one of fashion_mnist, mnist_sample"),
        ("experiment=mnist_sample", "a preset is added with a +: +experiment=mnist_sample"),
        ("-m optimizer=adam,sgd optimizer.beta1=0.8", "optimizer.beta1 does not apply to optimizer=sgd"),
        ("lr=0.1,0.2", "lr=0.1,0.2 names several values, a sweep: add -m"),
        ("optimizer.momentun=0.5", "unknown config key 'optimizer.momentun'; did you mean optimizer.momentum?"),
        (
            "hparams_search=optuna hydra.sweeper.n_trial=5",
            "unknown sweeper setting 'hydra.sweeper.n_trial'; did you mean hydra.sweeper.n_trials?",
        ),
        (  # Hydra's own advice for the line above, followed
            "hparams_search=optuna +hydra.sweeper.n_trial=5",
            "unknown sweeper setting 'hydra.sweeper.n_trial'; did you mean hydra.sweeper.n_trials?",
        ),
        ("-m lr=0.1,0.2 hydra.sweeper.max_batch=2", "did you mean hydra.sweeper.max_batch_size?"),
    ],
)
def test_a_command_line_that_cannot_work_is_one_line_saying_what_to_type_and_exit_2(tmp_path, overrides, message):
    proc = run_cli("experiments.train", *overrides.split(" "), cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and message in output and "Traceback" not in output, output
    assert "To append to your config" not in output and "Config search path" not in output
    assert not (tmp_path / "runs").exists()


def test_a_loss_that_explodes_but_stays_finite_is_divergence(tmp_path):
    proc = run_cli("experiments.train", "data=digits", "lr=1e6", "init_scale=100", "epochs=10", cwd=tmp_path, check=0)
    result = read_result(single_run_dir(tmp_path))
    rows = read_metrics(single_run_dir(tmp_path))
    assert result["status"] == "diverged" and result["epochs_completed"] == 1 and result["test_acc"] is None
    assert all(np.isfinite(float(rows[0][k])) for k in ("train_loss", "val_loss"))  # finite, and still stopped
    assert "more than diverge_factor=10 times" in proc.stdout + proc.stderr


@pytest.fixture
def small_disk(tmp_path):
    with small_filesystem(tmp_path / "disk", "400k") as disk:
        yield disk


def test_a_full_disk_stops_the_run_with_one_line_keeping_every_complete_file(tmp_path, small_disk):
    # 64-1000-1000-10: a checkpoint of about 8 MB cannot fit; the metrics rows and result.json can
    proc = run_cli(
        "experiments.train",
        "data=digits",
        "hidden=[1000,1000]",
        "epochs=5",
        f"hydra.run.dir={small_disk / 'run'}",
        cwd=tmp_path,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert f"cannot write {small_disk / 'run' / 'checkpoint.npz'}: No space left on device" in output
    assert "Traceback" not in output and "Logging error" not in output
    result = read_result(small_disk / "run")
    assert result["status"] == "failed" and "No space left on device" in result["error"]
    rows = read_metrics(small_disk / "run")
    assert len(rows) == result["epochs_completed"] == 1 and all(rows[0].values())  # the finished epoch, whole
    written = {p.name for p in (small_disk / "run").iterdir() if not p.name.startswith(".")} - {CODE_DIFF}
    assert sorted(written) == ["metrics.csv", "result.json", "train.log"]  # no partial checkpoint or model
    assert not list((small_disk / "run").glob(".*.tmp"))


def test_a_signal_during_the_final_save_waits_for_the_files(tmp_path):
    """Ctrl-C or SIGTERM while the run's files are written is honoured only once they are whole."""
    from experiments.run.signals import Terminated, signals_held

    usual = signal.getsignal(signal.SIGINT)  # default_int_handler; SIG_IGN where pytest was started with `&`
    for signum, raised in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)):
        written = []
        with pytest.raises(raised):
            with signals_held():
                os.kill(os.getpid(), signum)
                time.sleep(0.05)  # the signal has arrived; the write goes on regardless
                written.append("whole file")
        assert written == ["whole file"]
    assert signal.getsignal(signal.SIGINT) is usual  # the usual handling is back


# Runs the command line with a SIGTERM sent to itself as the run's files are saved, or just after.
STOPPED_AS_IT_FINISHES = """
import os, signal, sys
import experiments.run.files as files
import experiments.train as command

when, sys.argv[1:] = sys.argv[1], sys.argv[2:]
stop = lambda: os.kill(os.getpid(), signal.SIGTERM)
if when == "while its files are saved":
    finish = files.RunFiles.finish
    files.RunFiles.finish = lambda self, result: (stop(), finish(self, result))
else:
    train = command.train
    command.train = lambda *args: (train(*args), stop())[0]
command.cli()
"""


@pytest.mark.parametrize("when", ["while its files are saved", pytest.param("just after", marks=pytest.mark.slow)])
def test_a_stop_that_comes_as_the_run_finishes_leaves_it_completed_and_exit_0(tmp_path, when):
    proc = subprocess.run(
        [sys.executable, "-c", STOPPED_AS_IT_FINISHES, when, "data=digits", "epochs=2", "hydra.run.dir=run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert (proc.returncode, result["status"]) == (0, "completed"), proc.stderr
    assert "SIGTERM came as the run finished" in proc.stdout + proc.stderr


@pytest.mark.parametrize("how", ["swallowed by a library", "turned into an ImportError"])
def test_an_early_ctrl_c_that_goes_astray_still_ends_the_run_as_interrupted(tmp_path, monkeypatch, how):
    """Seen at start-up: Ctrl-C inside a library's broad `except` vanished (the run trained on), and
    inside a compiled module's import it came out as 'ImportError: initialization failed'."""
    import nn_core
    from experiments.run import signals
    from experiments.run.task import train
    from helpers import composed

    load = nn_core.load_dataset

    def interrupted_load(*args, **kwargs):
        signals.pending.append(signal.SIGINT)  # what the handler notes before raising KeyboardInterrupt
        if how == "turned into an ImportError":
            raise ImportError("initialization failed")
        return load(*args, **kwargs)  # the KeyboardInterrupt was caught and dropped on the way

    monkeypatch.setattr(nn_core, "load_dataset", interrupted_load)
    result = train(composed("data=digits", "epochs=5"), tmp_path)
    assert result["status"] == "interrupted" and result["signal"] == "SIGINT"
    assert result["epochs_completed"] == (1 if how == "swallowed by a library" else 0)
    assert not signals.pending  # dealt with


UNPRIVILEGED = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.slow
def test_a_data_folder_or_output_the_process_may_not_read_or_write_is_one_line(tmp_path):
    """As a user without root: root's capabilities to ignore permissions dropped (setpriv)."""
    import shutil

    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to drop the capabilities that ignore permissions")
    data = tmp_path / "data"
    shutil.copytree(MNIST_SAMPLE, data)
    data.chmod(0o000)
    try:
        proc = subprocess.run(
            [*UNPRIVILEGED, sys.executable, "-m", "experiments.train", f"data.root={data}", "hydra.run.dir=run"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        data.chmod(0o755)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "cannot be read (Permission denied)" in output and "Traceback" not in output
    assert not (tmp_path / "run").exists()

    run_cli("experiments.train", "data=digits", "epochs=1", "hydra.run.dir=done", cwd=tmp_path, check=0)
    (tmp_path / "locked").mkdir(mode=0o555)
    proc = subprocess.run(
        [*UNPRIVILEGED, sys.executable, "-m", "experiments.compare", "done", "--html", "locked/report.html"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert "cannot write locked/report.html: Permission denied" in proc.stderr
    assert list((tmp_path / "locked").iterdir()) == []


def test_a_disk_too_full_to_start_on_is_one_line_and_nothing_written(tmp_path):
    """Below ROOM_NEEDED free, Hydra's own record (written where no check can catch its error) would fail."""
    with small_filesystem(tmp_path / "disk", "32k") as disk:
        for args in (["hydra.run.dir=" + str(disk / "run")], ["-m", "lr=0.1,0.2", f"hydra.sweep.dir={disk / 's'}"]):
            proc = run_cli("experiments.train", *args, "data=digits", "epochs=1", cwd=tmp_path)
            said = proc.stdout + proc.stderr
            assert proc.returncode == 2 and "Traceback" not in said, said
            assert "its disk has" in said and "kB free; a run needs at least 64 kB" in said
            assert list(disk.iterdir()) == []
