"""A search on SLURM: workers (experiments/sweep/search/workers.py) against batches, on a real cluster.

    python -m benchmarks.workers                 # 64 trials, 2 workers, one round: about 15 minutes
    python -m benchmarks.workers --rounds 3 --trials 32

Needs a SLURM partition named cpu (scripts/local_slurm.sh makes one on this machine). Each
search runs as a user runs it (a fresh process, hydra/launcher=slurm, a journal storage), on
the bundled MNIST sample, trials of 40 or 160 epochs (random sampler, so both ways run the
same trials): "batches" is `hydra.sweeper.batches=true` (n_jobs trials submitted as one
array job and all waited for, then the next: what Hydra's submitit launcher allows),
"workers" the default. Measured from each run's own files (when it ended: its train.log's
last line; how long it ran: its result.json's wall time, data loading included): the share
of the workers' time spent in runs from the first run's start to the last one's (the time
after it is the last run's alone), and the wall time. The ways take turns in every round;
medians with the range.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd

from benchmarks.bench import train_command
from benchmarks.launcher import spread, timed_run

WORKERS = 2
SEARCH = [
    "hparams_search=optuna", "data=mnist_sample", "hidden=64", "hydra.sweeper.params=null",
    "epochs=choice(40, 160)", "lr=tag(log, interval(0.05, 0.5))", "hydra.sweeper.sampler.name=random",
    f"hydra.sweeper.n_jobs={WORKERS}", "hydra/launcher=slurm", "hydra.launcher.partition=cpu",
    "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1", "hydra.sweeper.pruner.name=none",  # as batches
]  # fmt: skip
WAYS = {"batches": ["hydra.sweeper.batches=true"], "workers": []}
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def run_span(run_dir: Path) -> tuple[float, float]:
    """When a run began and ended (seconds since the epoch): its train.log's last line, less its
    wall_time_s (which counts from before its data was loaded)."""
    stamps = [LOG_TIME.match(line) for line in (run_dir / "train.log").read_text().splitlines()]
    end = [datetime.strptime(s.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() for s in stamps if s][-1]
    return end - json.loads((run_dir / "result.json").read_text())["wall_time_s"], end


def busy_until_last_start(sweep_dir: Path, workers: int) -> float:
    """Share of `workers` workers' time spent in runs, from the first run's start to the last one's."""
    spans = [run_span(p) for p in sweep_dir.glob("[0-9]*") if (p / "train.log").is_file()]
    first, last = min(s for s, _ in spans), max(s for s, _ in spans)
    busy = sum(max(0.0, min(end, last) - max(start, first)) for start, end in spans)
    return busy / (workers * (last - first))


def compare(workdir: Path, rounds: int, trials: int) -> pd.DataFrame:
    rows = {way: {"busy": [], "wall": []} for way in WAYS}
    for round_ in range(rounds):
        for way, options in WAYS.items():
            sweep_dir = workdir / f"{way}{round_}"
            storage = f"hydra.sweeper.storage=journal:///{workdir / f'{way}{round_}.log'}"
            command = train_command(*SEARCH, *options, storage, f"hydra.sweeper.n_trials={trials}",
                                    f"hydra.sweep.dir={sweep_dir}")  # fmt: skip
            _, wall, _ = timed_run(command)
            rows[way]["busy"].append(100 * busy_until_last_start(sweep_dir, WORKERS))
            rows[way]["wall"].append(wall)
            print(f"round {round_ + 1} {way}: {rows[way]['busy'][-1]:.1f}% busy, {wall:.1f} s", file=sys.stderr)
    return pd.DataFrame(
        [
            {"search": way, "workers_in_runs": spread(r["busy"]) + " %", "wall_s": spread(r["wall"])}
            for way, r in rows.items()
        ]
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--trials", type=int, default=64)
    args = parser.parse_args(argv)
    # In /tmp, which the one-node cluster's jobs see: a folder inside this repository would have each
    # run's provenance (git diff of untracked files) read every earlier run's files.
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        table = compare(Path(tmp), args.rounds, args.trials)
    print(f"A {args.trials}-trial search on SLURM, {WORKERS} workers (trials of 40 or 160 epochs on the MNIST sample):")
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
