"""Many workers on one study (experiments/sweep/search/workers.py, experiments/sweep/search/study.py): 16 of
them, on a real PostgreSQL server (started here: benchmarks/postgresql.py), on Optuna's journal
file and on SQLite, reach exactly n_trials finished trials, none repeated, none lost, none past
the count, with a worker killed and a trial's process killed in the middle; and on the
journal file as SLURM array jobs on the one-node cluster (scripts/local_slurm.sh). Each storage counts
and asks under a lock on the storage itself (an advisory lock on the server; an flock beside a
file), so the count holds wherever the workers run. A worker killed mid-trial has its trial
continued by another (interrupted, then resumed from its checkpoint); a trial's process killed
alone (the out-of-memory killer) fails, in the study and in its run's result.json alike."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from benchmarks.postgresql import postgresql_missing, postgresql_server
from experiments.sweep.search.study import opened
from helpers import forked_jobs, metrics, slurm_missing, worker_process

pytestmark = pytest.mark.slow  # 16 workers on 2 cores: about a minute a storage

WORKERS, TRIALS, EPOCHS = 16, 24, 20
SEARCH = [
    "experiments.train", "hparams_search=optuna", "hydra.sweeper.params=null", "hydra.launcher.cpus_per_task=1",
    f"hydra.sweeper.n_jobs={WORKERS}", "hydra.sweeper.pruner.name=none",
    "hydra.sweeper.sampler.name=random", "data=mnist_sample", "hidden=32", f"epochs={EPOCHS}",
    "lr=interval(0.05,0.3)", f"hydra.sweeper.n_trials={TRIALS}", "hydra.sweep.dir=sweep",
]  # fmt: skip


LOCAL = ["hydra/launcher=submitit_local"]  # the workers as processes of this machine
SLURM = ["hydra/launcher=slurm", "hydra.launcher.partition=cpu", "hydra.launcher.mem_gb=1"]  # the one-node cluster


@pytest.fixture(params=["postgresql", "journal", "sqlite", "journal on SLURM"])
def storage(request, tmp_path):
    """The study's storage URL, and the launcher overrides its workers run under."""
    if request.param == "journal on SLURM":  # real array jobs: 2 run at a time on its 2 cores, the rest queue
        if slurm_missing():
            pytest.skip(slurm_missing())
        yield f"journal:///{tmp_path / 'search.log'}", SLURM
    elif request.param == "postgresql":
        if postgresql_missing():
            pytest.skip(postgresql_missing())
        with postgresql_server() as url:
            yield url, LOCAL
    elif request.param == "journal":
        yield f"journal:///{tmp_path / 'search.log'}", LOCAL
    else:
        yield f"sqlite:///{tmp_path / 'search.db'}", LOCAL


def study_trials(storage: str) -> list:
    try:
        return optuna.load_study(study_name="mlp", storage=opened(storage)).trials
    except (KeyError, ValueError):  # not created yet
        return []


def epochs_done(run_dir: Path) -> int:
    try:
        return len((run_dir / "metrics.csv").read_text().splitlines()) - 1
    except OSError:
        return 0


def trial_process(lock: Path) -> int:
    """The process running the trial of the worker holding `lock`: the job it forked."""
    (job,) = forked_jobs(worker_process(lock))
    return job


def two_running_trials(tmp_path, proc, storage) -> tuple:
    """Two trials of different workers, each a few epochs in: (its run folder, its holder) each."""
    deadline = time.monotonic() + 240
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        running = {
            t.number: t.user_attrs.get("held_by")
            for t in study_trials(storage)
            if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs.get("held_by")
        }
        going = []
        for number, holder in sorted(running.items()):
            folders = list((tmp_path / "sweep").glob(f"{number}_*"))
            if folders and 2 <= epochs_done(folders[0]) <= EPOCHS // 2 and holder not in [h for _, h in going]:
                going.append((folders[0], holder))
        if len(going) >= 2:
            return going[0], going[1]
        time.sleep(0.1)


def test_sixteen_workers_reach_exactly_n_trials_with_a_worker_and_a_trial_killed(tmp_path, storage):
    storage, launcher = storage
    proc = subprocess.Popen([sys.executable, "-m", *SEARCH, *launcher, f"hydra.sweeper.storage={storage}"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    (worker_run, worker), (job_run, job_worker) = two_running_trials(tmp_path, proc, storage)
    killed_worker = worker_process(tmp_path / "sweep" / worker)
    killed_trial = trial_process(tmp_path / "sweep" / job_worker)
    os.kill(killed_worker, signal.SIGKILL)  # a worker: its trial goes on elsewhere
    os.kill(killed_trial, signal.SIGKILL)  # a trial's process alone: that trial fails
    output, _ = proc.communicate(timeout=600)
    assert "Traceback" not in output, output[-5000:]

    trials = study_trials(storage)
    states = [t.state.name for t in trials]
    assert len(trials) == TRIALS and [t.number for t in trials] == list(range(TRIALS)), states  # none past the count
    assert states.count("FAIL") == 1 and states.count("COMPLETE") == TRIALS - 1, states  # none lost, none running
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == TRIALS  # none asked twice
    folders = sorted((tmp_path / "sweep").glob("[0-9]*_*"), key=lambda f: int(f.name.split("_")[0]))
    assert [int(f.name.split("_")[0]) for f in folders] == list(range(TRIALS))
    for trial, folder in zip(trials, folders):  # the study and the run folders agree on every trial
        result = json.loads((folder / "result.json").read_text())
        assert result["trial"]["state"] == {"COMPLETE": "completed", "FAIL": "failed"}[trial.state.name], folder
    killed = json.loads((job_run / "result.json").read_text())
    assert killed["status"] == "failed" and killed["signal"] == "SIGKILL" and killed["trial"]["state"] == "failed"
    continued = json.loads((worker_run / "result.json").read_text())
    assert continued["status"] == "completed" and continued["trial"]["state"] == "completed"
    assert [int(row["epoch"]) for row in metrics(worker_run)] == list(range(1, EPOCHS + 1))  # from its checkpoint
    assert f"worker {worker.removeprefix('.worker-').removesuffix('.lock')} failed" in output
