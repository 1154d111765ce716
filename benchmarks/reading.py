"""Reading many runs: compare, load_runs and load_history on sweeps of 1,000 and 10,000 runs.

    python -m benchmarks.reading                 # about 2 minutes on 2 cores
    python -m benchmarks.reading --runs 1000 10000 --rounds 3

The runs are copies of one real run (experiments.train data=digits epochs=10, made
first), each with its learning rate changed in result.json and .hydra/config.yaml,
as a sweep over lr would write them; a second set has 3 seeds per learning rate
(what compare then summarises with its statistics). `compare --csv` runs as a user
runs it (a fresh process: its imports included); load_runs and load_history are
timed in this process. The sizes take turns in each round; medians with the range.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench import median_and_range, train_command
from experiments.results.runs import load_history, load_runs

SHARED = ("metrics.csv", "model.npz", "train.log", ".hydra/hydra.yaml", ".hydra/overrides.yaml")


def copies_of(run: Path, sweep: Path, n: int, seeds: int = 1) -> Path:
    """`n` run folders in `sweep`, each `run` with lr = 0.001 * (its configuration's number + 1),
    `seeds` runs per lr (seed 0, 1, ...). Files a reader does not change are hard links."""
    result = json.loads((run / "result.json").read_text())
    config = (run / ".hydra" / "config.yaml").read_text()
    lr_line = next(line for line in config.splitlines() if line.startswith("lr:"))
    seed_line = next(line for line in config.splitlines() if line.startswith("seed:"))
    for i in range(n):
        lr, seed = 0.001 * (i // seeds + 1), i % seeds
        folder = sweep / f"{i}_lr={lr:g},seed={seed}"
        (folder / ".hydra").mkdir(parents=True)
        copy = {**result, "hyperparameters": {**result["hyperparameters"], "lr": lr, "seed": seed}}
        (folder / "result.json").write_text(json.dumps(copy, indent=2))
        written = config.replace(lr_line, f"lr: {lr}").replace(seed_line, f"seed: {seed}")
        (folder / ".hydra" / "config.yaml").write_text(written)
        for name in SHARED:
            os.link(run / name, folder / name)
    return sweep


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def compare_csv(sweep: Path) -> None:
    command = [sys.executable, "-m", "experiments.compare", str(sweep), "--csv", str(sweep.parent / "board.csv")]
    subprocess.run(command, capture_output=True, check=True)


READERS = {compare_csv: "compare --csv", load_runs: "load_runs", load_history: "load_history"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reading", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000], help="sweep sizes (default 1000 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every measurement (default 3)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = tmp / "run"
        made = train_command("data=digits", "epochs=10", f"hydra.run.dir={run}")
        subprocess.run(made, capture_output=True, check=True)
        (run / ".run.lock").unlink(missing_ok=True)
        sweeps = {}
        for n in args.runs:
            sweeps[(n, 1)] = copies_of(run, tmp / f"lr_{n}" / "sweep", n)
            sweeps[(n, 3)] = copies_of(run, tmp / f"seeds_{n}" / "sweep", n, seeds=3)
        times = {}
        for _ in range(args.rounds):
            for (n, seeds), sweep in sweeps.items():
                for read in (compare_csv, load_runs, load_history):
                    times.setdefault((n, seeds, READERS[read]), []).append(timed(lambda: read(sweep)))  # noqa: B023
        print(
            f"copies of one real run (data=digits epochs=10), {os.cpu_count()} cores; seconds, median (range) of "
            f"{args.rounds} turns; compare --csv as a fresh process, its imports included:"
        )
        for (n, seeds, name), seconds in times.items():
            configurations = f"{n // seeds:,} lr x {seeds} seed{'s' * (seeds > 1)}"
            print(f"  {n:>6,} runs ({configurations:<18}) {name:<14} {median_and_range(seconds)} s")
        shutil.rmtree(tmp / "run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
