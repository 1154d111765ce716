"""A zoo of run folders, one of every kind a user ends up with, made by the real
commands (small and fast: digits or the bundled sample, a few epochs). Every
reader is tested on every member and on the whole zoo at once (tests/test_zoo.py).

A new kind of run is one line in MEMBERS: its name and how it is made. A member
is the folder a command wrote (a run, or a sweep holding its jobs); `kinds`
below says which of its run folders are of that kind.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

from helpers import run_cli, start_and_stop

FAST = ["data=digits", "hidden=16"]
SLOW = [*FAST, "epochs=200"]  # long enough to stop it mid-way, short enough to resume


def train(*args, check=0):
    return lambda zoo, name: run_cli("experiments.train", *args, f"hydra.run.dir={name}", cwd=zoo, check=check)


def sweep(*args, check=0):
    return lambda zoo, name: run_cli("experiments.train", "-m", *args, f"hydra.sweep.dir={name}", cwd=zoo, check=check)


def stopped(signum, *args, sweep_job=False):
    """A run (or a one-job sweep) stopped by `signum` after its first epochs."""

    def make(zoo, name):
        if sweep_job:
            args_ = ["-m", *args, f"hydra.sweep.dir={name}"]
            start_and_stop(zoo, args_, zoo / name / "0_", signum, after_rows=2, glob=True)
        else:
            start_and_stop(zoo, [*args, f"hydra.run.dir={name}"], zoo / name, signum, after_rows=2)

    return make


def resumed(*args):
    def make(zoo, name):
        start_and_stop(zoo, [*args, f"hydra.run.dir={name}"], zoo / name, signal.SIGTERM, after_rows=2)
        run_cli("experiments.train", f"hydra.run.dir={name}", "resume=true", cwd=zoo, check=0)

    return make


def reproduced(source: str):
    """experiments.reproduce of the first job of another member, a sweep, into its default folder
    (SWEEP_reproduced/JOB): the member's name must be SOURCE_reproduced."""

    def make(zoo, name):
        job = run_folders(zoo / source)[0]
        run_cli("experiments.reproduce", str(job.relative_to(zoo)), cwd=zoo, check=0)

    return make


def edited(source: str, change):
    """A copy of another member's run, its result.json changed by `change(dict) -> bytes`."""

    def make(zoo, name):
        shutil.copytree(zoo / source, zoo / name)
        result = zoo / name / "result.json"
        result.write_bytes(change(json.loads(result.read_text())))

    return make


def old_format(result: dict) -> bytes:
    """result.json as the first versions wrote it: no hyperparameters, data or provenance."""
    kept = ("status", "test_acc", "test_loss", "best_val_acc", "epochs_completed")
    return json.dumps({k: result[k] for k in kept}).encode()


def paused(result: dict) -> bytes:
    """result.json of a run paused at a rung of successive halving (sweep/grid/halving.py), its checkpoint kept."""
    return json.dumps({**{k: v for k, v in result.items() if k != "signal"}, "status": "paused"}).encode()


# A search with a storage whose trials the median pruner stops (its grid sampler: always the same ones)
PRUNED_SEARCH = [
    *FAST, "epochs=3", "hparams_search=optuna", "hydra.sweeper.params=null", "lr=choice(0.5,0.0001,0.3)",
    "hydra.sweeper.sampler.name=grid", "hydra.sweeper.n_trials=3", "hydra.sweeper.pruner.name=median",
    "+hydra.sweeper.pruner.n_startup_trials=1",
]  # fmt: skip

# name -> how it is made (in this order: `edited` members copy earlier ones)
MEMBERS = {
    "single": train(*FAST, "epochs=2", "schedule=cosine"),
    "grid": sweep(*FAST, "epochs=2", "lr=0.1,0.5", "optimizer=sgd,momentum"),  # a setting only some runs have
    "seeds": sweep(*FAST, "epochs=2", "seed=0,1", "hidden=8,[16,8]"),  # a seed group; a deeper network
    "search": sweep(*PRUNED_SEARCH, "hydra.launcher.n_jobs=1", "hydra.sweeper.storage=sqlite:///search.db"),
    "seed_trials": sweep(  # 2 seeds a trial; the pruner stops a trial: its seeds judged together
        *PRUNED_SEARCH,
        "hydra.sweeper.seeds=2",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.storage=sqlite:///seed_trials.db",
    ),
    "warm_started": sweep(  # a search whose study starts from the grid's runs (each a finished trial)
        *FAST,
        "epochs=2",
        "hparams_search=optuna",
        "hydra.sweeper.params=null",
        "lr=choice(0.1,0.5)",
        "optimizer=choice(sgd,momentum)",
        "hydra.sweeper.warm_start=[grid]",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.storage=sqlite:///warm_started.db",
    ),  # fmt: skip
    "infeasible": sweep(  # a constrained search whose every trial breaks its limit (a loss is never 0)
        *FAST,
        "epochs=1",
        "hparams_search=optuna",
        "hydra.sweeper.params=null",
        "lr=choice(0.1,0.5)",
        "hydra.sweeper.sampler.name=grid",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.constraints={train_loss: '<=0'}",
    ),  # fmt: skip
    "rerun_seed": sweep(*FAST, "epochs=1", "seed=0", "lr=0.1,0.1"),  # the same configuration and seed twice
    "seeds_reproduced": reproduced("seeds"),  # a copy of a seed group's job, beside the sweep (reproduce's default)
    "halved": sweep(*FAST, "epochs=3", "lr=0.05,0.1,0.5", "hydra.sweeper.pruner.name=halving"),  # pruned at a rung
    "diverged": train(*FAST, "epochs=2", "lr=1000", "activation=relu", "init_scale=10"),
    "no_weights": train(*FAST, "epochs=1", "save_weights=false", "logger=tensorboard"),
    "sample": train("data=mnist_sample", "hidden=16", "epochs=1"),  # another data set
    "interrupted": stopped(signal.SIGTERM, *SLOW),
    "killed": stopped(signal.SIGKILL, *SLOW),  # no result.json at all
    "killed_job": stopped(signal.SIGKILL, *SLOW, sweep_job=True),  # the launcher records it failed
    "resumed": resumed(*SLOW),
    "failed": sweep(*FAST, "epochs=1", "data.val_size=100000", check=1),  # found only as the job loads its data
    "paused": edited("interrupted", paused),  # a halving stopped between rungs leaves these
    "damaged": edited("single", lambda result: b'{"status": "completed", "best_val'),
    "old_format": edited("single", old_format),
    "not_finite": edited("single", lambda result: json.dumps({**result, "best_val_acc": float("inf")}).encode()),
}


def build(zoo: Path) -> dict[str, Path]:
    """Make every member under `zoo`; returns name -> its folder (those that exist)."""
    for name, make in MEMBERS.items():
        make(zoo, name)
    return {name: zoo / name for name in MEMBERS if (zoo / name).exists()}


def run_folders(member: Path) -> list[Path]:
    """The run folders a member holds: itself, or a sweep's jobs."""
    from experiments.results.runs import find_run_dirs

    return find_run_dirs(member)
