"""A search's workers (experiments/sweep/search/workers.py): on submitit's local executor here, and
on the real one-node SLURM cluster when it is up (scripts/local_slurm.sh; .ci/run starts it).
Each worker asks, runs and tells trials until the study holds n_trials; a worker killed or
requeued mid-trial has its trial continued from the trial's checkpoint, counted once."""

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

from experiments.run.files import folder_in_use
from helpers import metrics, run_cli, slurm_missing, worker_process

SEARCH = ["experiments.train", "hparams_search=optuna", "hydra.sweeper.params=null", "hydra.sweeper.n_jobs=2",
          "hydra.sweeper.pruner.name=none"]  # fmt: skip
LOCAL = ["hydra/launcher=submitit_local", "hydra.launcher.cpus_per_task=1"]
SLURM = ["hydra/launcher=slurm", "hydra.launcher.partition=cpu", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=1"]  # fmt: skip
# Trials of 40 epochs of 0.06 s: long enough to be stopped in the middle.
LONG_TRIALS = ["data=mnist_sample", "hidden=64", "epochs=40", "lr=interval(0.05,0.2)", "hydra.sweeper.n_trials=4"]


def journal(tmp_path) -> list[str]:
    return [f"hydra.sweeper.storage=journal:///{tmp_path / 'search.log'}"]


def trials(tmp_path) -> list:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "search.log")))
    return optuna.load_study(study_name="mlp", storage=storage).trials


def holder_of(tmp_path, number: int) -> str | None:
    try:
        return trials(tmp_path)[number].user_attrs.get("held_by")
    except (KeyError, IndexError, OSError):  # the study, or the trial, not there yet
        return None


def test_a_search_on_slurm_without_a_storage_is_refused_before_any_job(tmp_path):
    proc = run_cli(*SEARCH, *SLURM, "data=digits", "lr=interval(0.1,1)", cwd=tmp_path, check=2)
    assert "give hydra.sweeper.storage=journal:///" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_workers_fill_the_study_each_trial_once_and_a_launch_again_adds_workers(tmp_path):
    search = [*SEARCH, *LOCAL, *journal(tmp_path), "data=digits", "epochs=2", "lr=interval(0.05,1)"]
    run_cli(*search, "hydra.sweeper.n_trials=6", "hydra.sweep.dir=first", cwd=tmp_path, check=0)
    first = trials(tmp_path)
    assert [t.state.name for t in first] == ["COMPLETE"] * 6
    assert len({t.user_attrs["held_by"] for t in first}) == 2  # each worker ran trials
    assert sorted(p.name.split("_")[0] for p in (tmp_path / "first").glob("[0-9]*")) == [str(n) for n in range(6)]
    # Not in batches: a worker asked its next trial while the other's was still running.
    assert any(b.datetime_start < a.datetime_complete for i, b in enumerate(first) for a in first[:i])

    # Launched again on the same study, returning at once: its workers add the trials up to n_trials=8.
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"  # the sweep's MLflow parent run: ended by its workers
    proc = run_cli(*search, "hydra.sweeper.n_trials=8", "hydra.sweeper.wait=false", "hydra.sweep.dir=second",
                   "logger=mlflow", f"logger.mlflow.tracking_uri={tracking}", cwd=tmp_path, check=0)  # fmt: skip
    assert "Follow them:" in proc.stderr and "Launching again adds workers" in proc.stderr
    assert "ran no trial" not in proc.stderr  # no summary of a sweep whose workers have just started
    deadline = time.monotonic() + 120
    while sum(t.state.is_finished() for t in trials(tmp_path)) < 8:
        assert time.monotonic() < deadline, [t.state.name for t in trials(tmp_path)]
        time.sleep(0.5)
    locks = list((tmp_path / "second").glob(".worker-*.lock"))
    assert len(locks) == 2
    while any(folder_in_use(lock.parent, lock.name) for lock in locks):  # the workers exit once nothing is left
        assert time.monotonic() < deadline
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert [t.state.name for t in trials(tmp_path)] == ["COMPLETE"] * 8
    assert sorted(p.name.split("_")[0] for p in (tmp_path / "second").glob("[0-9]*")) == ["6", "7"]
    client = pytest.importorskip("mlflow.tracking").MlflowClient(tracking)
    runs = client.search_runs([client.get_experiment_by_name("mnist-from-scratch").experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.status == "FINISHED" and len(runs) == 3  # the parent, ended; a child per trial


def stop_a_worker_mid_trial(tmp_path, launcher: list[str], stop) -> subprocess.Popen:
    """Launch a 4-trial search on 2 workers; once trial 0 has run 3 epochs, `stop(worker name)`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", *SEARCH, *launcher, *journal(tmp_path), *LONG_TRIALS, "hydra.sweep.dir=sweep"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (
        list(tmp_path.glob("sweep/0_*/metrics.csv"))
        and len(next(tmp_path.glob("sweep/0_*/metrics.csv")).read_text().splitlines()) > 3
        and holder_of(tmp_path, 0)
    ):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.05)
    stopped = holder_of(tmp_path, 0)
    stop(stopped.removeprefix(".worker-").removesuffix(".lock"))
    return proc, stopped


def continued_once(tmp_path, stopped: str) -> None:
    """Trial 0, stopped after some epochs, continued from its checkpoint and counted once."""
    (run_dir,) = tmp_path.glob("sweep/0_*")
    log = (run_dir / "train.log").read_text()
    assert "interrupted" in log and "resuming after epoch" in log  # (by SIGTERM, or "while saving")
    assert [int(row["epoch"]) for row in metrics(run_dir)] == list(range(1, 41))  # no epoch twice, none lost
    held = trials(tmp_path)
    assert [t.state.name for t in held] == ["COMPLETE"] * 4 and len(list(tmp_path.glob("sweep/[0-9]*"))) == 4


@pytest.mark.slow
def test_a_worker_killed_mid_trial_has_its_trial_continued_by_another_and_counted_once(tmp_path):
    def kill(name):  # the worker's process, as the kernel's out-of-memory killer would: its trial's gets SIGTERM
        os.kill(worker_process(tmp_path / "sweep" / f".worker-{name}.lock"), signal.SIGKILL)

    proc, killed = stop_a_worker_mid_trial(tmp_path, LOCAL, kill)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    continued_once(tmp_path, killed)
    assert holder_of(tmp_path, 0) != killed  # the other worker took it over
    said = f"worker {killed.removeprefix('.worker-').removesuffix('.lock')} failed"
    assert said in output and output.index(said) < output.index("study: 4/4 trials finished")  # said as it died


@pytest.mark.slow
@pytest.mark.skipif(slurm_missing() is not None, reason=str(slurm_missing()))
def test_a_worker_requeued_on_slurm_has_its_trial_continued_from_its_checkpoint_and_counted_once(tmp_path):
    proc, requeued = stop_a_worker_mid_trial(
        tmp_path, SLURM, lambda name: subprocess.run(["scontrol", "requeue", name], check=True)
    )
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    continued_once(tmp_path, requeued)


@pytest.mark.slow
def test_every_worker_killed_the_printed_command_continues_the_search_from_its_trials_checkpoints(tmp_path):
    def kill_all(_):
        for lock in (tmp_path / "sweep").glob(".worker-*.lock"):
            os.kill(worker_process(lock), signal.SIGKILL)

    proc, _ = stop_a_worker_mid_trial(tmp_path, LOCAL, kill_all)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in output, output
    command = output.split("Workers that go on: ")[1].split()  # python -m experiments.train -m ... resume=true
    assert command[:3] == ["python", "-m", "experiments.train"]
    run_cli(*command[2:], cwd=tmp_path, check=0)
    held = trials(tmp_path)
    assert [t.state.name for t in held] == ["COMPLETE"] * 4 and len(list(tmp_path.glob("sweep/[0-9]*"))) == 4
    assert "resuming after epoch" in next(tmp_path.glob("sweep/0_*/train.log")).read_text()
    # Resumed where it ran (sweep.json keeps the launcher's overrides): by workers, not this machine's launcher.
    assert all(t.user_attrs["held_by"].startswith(".worker-") for t in held)
