"""Reading many runs: compare, load_runs and load_history on sweeps of 1,000 and 10,000 runs.

    python -m benchmarks.reading                 # about 2 minutes on 2 cores
    python -m benchmarks.reading --runs 1000 10000 --rounds 3
    python -m benchmarks.reading --only three     # compare with importance; --html --plot on 300 runs

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


def copies_of(run: Path, sweep: Path, n: int, seeds: int = 1, three: bool = False) -> Path:
    """`n` run folders in `sweep`, each `run` with lr = 0.001 * (its configuration's number + 1),
    `seeds` runs per lr (seed 0, 1, ...); with `three`, hidden and batch_size vary too (each run a
    configuration of lr x hidden x batch_size) and best_val_acc is a function of the three, so that
    importance has something to share. Files a reader does not change are hard links."""
    result = json.loads((run / "result.json").read_text())
    config = (run / ".hydra" / "config.yaml").read_text()
    lines = {key: next(line for line in config.splitlines() if line.startswith(f"{key}:"))
             for key in ("lr", "seed", "hidden", "batch_size")}  # fmt: skip
    for i in range(n):
        lr, seed = 0.001 * (i // seeds + 1), i % seeds
        values = {"lr": lr, "seed": seed}
        if three:
            values.update(lr=round(0.01 * (1 + i % 25), 3), hidden=[32, 64, 128, 256][i // 25 % 4],
                          batch_size=[16, 32, 64, 128][i // 100 % 4], seed=i // 400)  # fmt: skip
        folder = sweep / f"{i}_{','.join(f'{k}={v:g}' for k, v in values.items())}"
        (folder / ".hydra").mkdir(parents=True)
        copy = {**result, "hyperparameters": {**result["hyperparameters"], **values}}
        if three:  # the learning rate matters most, then the batch size; the width hardly
            copy["best_val_acc"] = (
                0.9
                - 2 * (values["lr"] - 0.15) ** 2
                - 2e-4 * values["batch_size"]
                + (1e-5 * values["hidden"] + 1e-4 * ((i * 7919) % 13))
            )
        (folder / "result.json").write_text(json.dumps(copy, indent=2))
        written = config
        for key, value in values.items():
            written = written.replace(lines[key], f"{key}: {value}")
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


def compare_importance(sweep: Path) -> None:
    """compare as a user runs it, its ranking and importance (PED-ANOVA) printed."""
    subprocess.run([sys.executable, "-m", "experiments.compare", str(sweep)], capture_output=True, check=True)


def compare_page(sweep: Path) -> None:
    """compare --html --plot: the page and the figures, importance included."""
    out = sweep.parent
    command = [sys.executable, "-m", "experiments.compare", str(sweep), "--html", str(out / "r.html"),
               "--plot", str(out / "c.png")]  # fmt: skip
    subprocess.run(command, capture_output=True, check=True)


READERS = {compare_csv: "compare --csv", load_runs: "load_runs", load_history: "load_history",
           compare_importance: "compare", compare_page: "compare --html --plot"}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reading", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000], help="sweep sizes (default 1000 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every measurement (default 3)")
    only = "only the sweeps over lr, or only those of three hyperparameters (compare with importance; a page of 300)"
    parser.add_argument("--only", choices=["lr", "three"], help=only)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = tmp / "run"
        made = train_command("data=digits", "epochs=10", f"hydra.run.dir={run}")
        subprocess.run(made, capture_output=True, check=True)
        (run / ".run.lock").unlink(missing_ok=True)
        sweeps = {}  # (runs, seeds or 'three') -> (the sweep, its readers)
        for n in args.runs if args.only != "three" else []:
            sweeps[(n, 1)] = copies_of(run, tmp / f"lr_{n}" / "sweep", n), (compare_csv, load_runs, load_history)
            sweeps[(n, 3)] = copies_of(run, tmp / f"seeds_{n}" / "sweep", n, seeds=3), (compare_csv, load_runs,
                                                                                       load_history)  # fmt: skip
        for n in args.runs if args.only != "lr" else []:
            sweeps[(n, "three")] = copies_of(run, tmp / f"three_{n}" / "sweep", n, three=True), (compare_importance,)
        if args.only != "lr":
            sweeps[(300, "three")] = copies_of(run, tmp / "page" / "sweep", 300, three=True), (compare_page,)
        times = {}
        for _ in range(args.rounds):
            for (n, seeds), (sweep, readers) in sweeps.items():
                for read in readers:
                    times.setdefault((n, seeds, READERS[read]), []).append(timed(lambda: read(sweep)))  # noqa: B023
        print(
            f"copies of one real run (data=digits epochs=10), {os.cpu_count()} cores; seconds, median (range) of "
            f"{args.rounds} turns; compare as a fresh process, its imports included:"
        )
        for (n, seeds, name), seconds in times.items():
            if seeds == "three":
                configurations = "lr, hidden, batch"
            else:
                configurations = f"{n // seeds:,} lr x {seeds} seed{'s' * (seeds > 1)}"
            print(f"  {n:>6,} runs ({configurations:<18}) {name:<21} {median_and_range(seconds)} s")
        shutil.rmtree(tmp / "run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
