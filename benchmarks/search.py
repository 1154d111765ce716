"""What a search's compute buys: how much of it is training, how busy the cores
stay, how soon it finds a good configuration with each pruner, and what halving
saves a grid.

    python -m benchmarks.search                 # about 30 minutes on 2 cores
    python -m benchmarks.search --only quality  # the pruners' time to quality, 5 sampler seeds: 22 minutes
    python -m benchmarks.search --only grids    # what halving saves a grid: 2 minutes

Each search runs as a user runs it (a fresh process, 2 workers) on the bundled
MNIST sample. Its figures come from its own files and log: each job's
metrics.csv (`epoch_time_s`: the time it trained), result.json (its best
validation accuracy), and the launcher's debug log of when each job started
and ended. "Batches" is `hydra.sweeper.batches=true`: n_jobs trials asked, all
of them waited for, then the next (what hydra-optuna-sweeper does); "ours" asks
a trial the moment a worker is free. The compared ways take turns in every
round; medians are shown with the range.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.bench import train_command
from benchmarks.launcher import busy_share, job_times, spread, timed_run
from experiments.results.ranking import summarize
from experiments.results.runs import load_runs

WORKERS = 2
# Unpruned unless a way names its pruner (a search's default prunes with hyperband)
SEARCH = [
    "hparams_search=optuna", "data=mnist_sample", f"hydra.launcher.n_jobs={WORKERS}", "hydra.sweeper.pruner.name=none",
]  # fmt: skip
VERBOSE = "hydra.verbose=experiments.sweep.launch.pool"  # the 'job N starts / ended' lines
WAYS = {
    "batches": ["hydra.sweeper.batches=true"],
    "ours": [],
}
# Like the presets': ReLU, He initialisation, Nesterov momentum, a cosine schedule.
PRESET_LIKE_SPACE = [
    "activation=relu", "init=he", "optimizer=nesterov", "schedule=cosine", "epochs=9", "hydra.sweeper.params=null",
    "lr=tag(log, interval(0.01, 0.5))", "hidden=choice(64, 128, 256)", "batch_size=choice(32, 64, 128)",
    "optimizer.weight_decay=tag(log, interval(0.00001, 0.01))", "dropout=interval(0.0, 0.5)",
]  # fmt: skip
GRIDS = {  # name -> (its overrides, the keys that tell its configurations apart)
    "grid of 27 configurations x 3 seeds, data=mnist_sample, 9 epochs": (
        ["data=mnist_sample", "seed=0,1,2", "lr=0.03,0.1,0.3", "hidden=32,128,256", "batch_size=32,64,128", "epochs=9"],
        ["lr", "hidden", "batch_size"],
    ),
    "the README's grid, 6 configurations, data=digits, 10 epochs": (
        ["data=digits", "lr=0.05,0.1,0.5", "hidden=32,64"],
        ["lr", "hidden"],
    ),
}
HALVING = ["hydra.sweeper.pruner.name=halving"]  # synchronous over a grid: rungs at 1, 3, 9... (reduction_factor 3)


def epoch_seconds(sweep_dir: Path) -> tuple[float, int]:
    """The seconds every job of a sweep spent in its epochs, and how many epochs."""
    seconds, epochs = 0.0, 0
    for metrics in sweep_dir.glob("*/metrics.csv"):
        with open(metrics, newline="") as f:
            times = [float(row["epoch_time_s"]) for row in csv.DictReader(f)]
        seconds, epochs = seconds + sum(times), epochs + len(times)
    return seconds, epochs


def run_search(sweep_dir: Path, *overrides: str) -> tuple[float, float, list[str]]:
    """Run a sweep; return when it started (seconds since the epoch), its wall time, its log."""
    started = time.time()
    _, wall, lines = timed_run(train_command("-m", *overrides, VERBOSE, f"hydra.sweep.dir={sweep_dir}"))
    return started, wall, lines


def training_share(workdir: Path, rounds: int) -> pd.DataFrame:
    """The issue's 16-trial search (the default space, epochs=6): the share of the 2 cores'
    wall time its trials spent training, and of the workers' time in jobs."""
    rows = {way: {"wall": [], "training": [], "busy": []} for way in ("batches", "ours")}
    for round_ in range(rounds):
        for way in rows:
            sweep_dir = workdir / f"share{round_}_{way}"
            _, wall, lines = run_search(sweep_dir, *SEARCH, *WAYS[way], "epochs=6", "hydra.sweeper.n_trials=16")
            rows[way]["wall"].append(wall)
            rows[way]["training"].append(epoch_seconds(sweep_dir)[0] / (WORKERS * wall))
            rows[way]["busy"].append(busy_share(lines, WORKERS))
    return pd.DataFrame(
        [
            {
                "search": way,
                "wall_s": spread(r["wall"]),
                "cores_training": spread([100 * share for share in r["training"]]) + " %",
                "workers_in_jobs": spread([100 * share for share in r["busy"]]) + " %",
            }
            for way, r in rows.items()
        ]
    )


def busy_cores(workdir: Path, rounds: int) -> pd.DataFrame:
    """16 trials of 2 or 8 epochs (random sampler, the same trials both ways): the workers'
    busy share until the last trial started."""
    rows = {way: [] for way in ("batches", "ours")}
    space = ["hidden=64", "hydra.sweeper.params=null", "epochs=choice(2, 8)", "lr=tag(log, interval(0.05, 0.5))",
             "hydra.sweeper.sampler.name=random", "hydra.sweeper.n_trials=16"]  # fmt: skip
    for round_ in range(rounds):
        for way in rows:
            _, _, lines = run_search(workdir / f"busy{round_}_{way}", *SEARCH, *WAYS[way], *space)
            rows[way].append(busy_share(lines, WORKERS))
    return pd.DataFrame(
        [{"search": way, "workers_in_jobs": spread([100 * s for s in shares]) + " %"} for way, shares in rows.items()]
    )


def trial_values(sweep_dir: Path, lines: list[str], started: float) -> list[tuple[float, float]]:
    """(seconds after the command started, best validation accuracy) of each completed trial, by when it ended."""
    _, ends = job_times(lines)
    values = []
    for result_file in sweep_dir.glob("*/result.json"):
        result = json.loads(result_file.read_text())
        if result.get("status") == "completed":
            number = int(result_file.parent.name.split("_")[0])
            values.append((ends[number] - started, result["best_val_acc"]))
    return sorted(values)


# The pruners, each with its settings, given three times the trials of the unpruned search:
# what a pruned search is for, trying more configurations in the same time.
PRUNERS = {
    "median": ["hydra.sweeper.pruner.name=median"],
    "median, warm-up 3 epochs": ["hydra.sweeper.pruner.name=median", "+hydra.sweeper.pruner.n_warmup_steps=3"],
    "halving": ["hydra.sweeper.pruner.name=halving", "+hydra.sweeper.pruner.reduction_factor=3"],
    "halving from epoch 3": [
        "hydra.sweeper.pruner.name=halving", "+hydra.sweeper.pruner.reduction_factor=3",
        "+hydra.sweeper.pruner.min_resource=3",
    ],
    "hyperband": ["hydra.sweeper.pruner.name=hyperband"],
}  # fmt: skip
QUALITY_WAYS = {
    "batches": (WAYS["batches"], 32),
    "ours": (WAYS["ours"], 32),
    **{f"ours, {name}, 96 trials": (options, 96) for name, options in PRUNERS.items()},
}


def time_to_quality(workdir: Path, seeds: int) -> tuple[pd.DataFrame, str]:
    """A 32-trial TPE search over a preset-like space, `seeds` sampler seeds, with and without
    batches, and each pruner given 96 trials; how soon each reaches the unpruned search's best."""
    found = {way: [] for way in QUALITY_WAYS}
    for seed in range(seeds):
        for way, (options, trials) in QUALITY_WAYS.items():
            sweep_dir = workdir / f"quality{seed}_{way.replace(', ', '_').replace(' ', '_')}"
            started, wall, lines = run_search(
                sweep_dir, *SEARCH, *options, *PRESET_LIKE_SPACE, f"hydra.sweeper.n_trials={trials}",
                f"hydra.sweeper.sampler.seed={seed}",
            )  # fmt: skip
            seconds, epochs = epoch_seconds(sweep_dir)
            found[way].append(
                {"wall": wall, "values": trial_values(sweep_dir, lines, started), "epochs": epochs, "dir": sweep_dir}
            )
    # The bar: the unpruned search's best validation accuracy, at the low end of its seeds' spread.
    bar = min(max(v for _, v in search["values"]) for search in found["ours"])
    rows = []
    for way, searches in found.items():
        reached = [next((t for t, v in s["values"] if v >= bar), None) for s in searches]
        rows.append(
            {
                "search": way,
                "wall_s": spread([s["wall"] for s in searches]),
                "best_val_acc": spread([100 * max(v for _, v in s["values"]) for s in searches]) + " %",
                "epochs_trained": spread([s["epochs"] for s in searches]),
                f"s_to_reach_{100 * bar:.2f}%": reach(reached),
            }
        )
    unpruned_wall = statistics.median(s["wall"] for s in found["ours"])
    verdicts = [crossing([s["dir"] for s in found["ours"]])]
    for way in QUALITY_WAYS:
        if way == "batches":
            continue
        shares = [next((t / unpruned_wall for t, v in s["values"] if v >= bar), None) for s in found[way]]
        verdicts.append(
            f"{way}: {100 * bar:.2f}% (the unpruned searches' lowest best) reached after {median_reach(shares)} "
            f"of the unpruned search's median wall time; those that reached it: {reach(shares)}"
        )
    return pd.DataFrame(rows), "\n".join(verdicts)


def median_reach(shares: list) -> str:
    """The median of the shares of time that reached a bar, a search that never did counting as
    never (infinite): over 5 seeds, the median is reached if 3 of them reached it."""
    ordered = sorted(float("inf") if s is None else s for s in shares)
    middle = statistics.median(ordered)
    return "never (the median)" if middle == float("inf") else f"{middle:.2f} (the median of {len(shares)} seeds)"


def crossing(sweep_dirs: list[Path]) -> str:
    """Whether learning curves cross in these searches: the share of pairs of completed trials
    whose order after epoch 1 differs from their order by best validation accuracy, and where
    each search's best trial ranked after epoch 1 (1 = first)."""
    discordant, pairs, ranks = 0, 0, []
    for sweep_dir in sweep_dirs:
        results = {path.parent: json.loads(path.read_text()) for path in sweep_dir.glob("*/result.json")}
        runs = [(first_epoch_acc(run), r["best_val_acc"]) for run, r in results.items() if r["status"] == "completed"]
        for i, (first_a, best_a) in enumerate(runs):
            for first_b, best_b in runs[i + 1 :]:
                pairs += 1
                discordant += (first_a - first_b) * (best_a - best_b) < 0
        best_first = max(runs, key=lambda run: run[1])[0]
        ranks.append(1 + sum(first > best_first for first, _ in runs))
    return (
        f"curves cross: {100 * discordant / pairs:.0f}% of pairs of unpruned trials rank the other way after "
        f"epoch 1 than at their best; each search's best trial ranked {', '.join(map(str, ranks))} after epoch 1"
    )


def first_epoch_acc(run_dir: Path) -> float:
    with open(run_dir / "metrics.csv", newline="") as f:
        return float(next(csv.DictReader(f))["val_acc"])


def reach(times: list) -> str:
    """Median and range of the times that reached a bar, and how many never did."""
    reached = [t for t in times if t is not None]
    missed = len(times) - len(reached)
    return (spread(reached) if reached else "-") + (f", {missed} of {len(times)} never" if missed else "")


def configuration(row, keys) -> str:
    return " ".join(f"{key}={row[key]}" for key in keys)


def grid_halving(workdir: Path, grid: list[str], keys: list[str], rounds: int) -> tuple[pd.DataFrame, str]:
    """Every epoch of every job of `grid`, then the same grid with successive halving; the
    share of epoch-seconds halving spent, and whether its winner is the full grid's best or
    tied with it (over seeds: summarize's tied_with_best; without seeds, the best itself)."""
    rows = {way: {"wall": [], "seconds": [], "epochs": []} for way in ("full grid", "with halving")}
    verdicts = []
    for round_ in range(rounds):
        winners = {}
        for way in rows:
            sweep_dir = workdir / f"grid{round_}_{way.replace(' ', '_')}"
            _, wall, _ = run_search(sweep_dir, *grid, *(HALVING if "halving" in way else []))
            seconds, epochs = epoch_seconds(sweep_dir)
            rows[way]["wall"].append(wall)
            rows[way]["seconds"].append(seconds)
            rows[way]["epochs"].append(epochs)
            winners[way] = summarize(load_runs(sweep_dir))
        full, halved = winners["full grid"], winners["with halving"]
        tied = full[(full["tied_with_best"] == True) | (full.index == 1)]  # noqa: E712 (None: no seeds to test)
        winner = configuration(halved.iloc[0], keys)
        inside = winner in {configuration(row, keys) for _, row in tied.iterrows()}
        verdicts.append(
            f"round {round_ + 1}: halving's winner {winner} is {'inside' if inside else 'OUTSIDE'} the full "
            f"grid's {len(tied)} configuration(s) tied with its best ({configuration(full.iloc[0], keys)})"
        )
    share = [h / f for h, f in zip(rows["with halving"]["seconds"], rows["full grid"]["seconds"])]
    epochs = [h / f for h, f in zip(rows["with halving"]["epochs"], rows["full grid"]["epochs"])]
    table = pd.DataFrame(
        [
            {
                "grid": way,
                "wall_s": spread(r["wall"]),
                "epoch_seconds": spread(r["seconds"]),
                "epochs": spread(r["epochs"]),
            }
            for way, r in rows.items()
        ]
    )
    return table, "\n".join(
        [f"halving's epoch-seconds / the full grid's: {spread(share)}; epochs: {spread(epochs)}", *verdicts]
    )


def searches(tmp: Path, args) -> None:
    if args.only != "quality":
        shares_and_busy(tmp, args)
    print(f"\n32-trial TPE search, preset-like space, 9 epochs, sampler seeds 0-{args.seeds - 1}:")
    table, verdict = time_to_quality(tmp, args.seeds)
    print(table.to_string(index=False))
    print(verdict)


def shares_and_busy(tmp: Path, args) -> None:
    print(f"16-trial TPE search, data=mnist_sample epochs=6, {WORKERS} workers; median (range) of {args.rounds}:")
    print(training_share(tmp, args.rounds).to_string(index=False))
    print(f"\n16 trials of 2 or 8 epochs, {WORKERS} workers, workers in jobs until the last trial started:")
    print(busy_cores(tmp, args.rounds).to_string(index=False))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="turns of each measurement (default 3)")
    parser.add_argument("--seeds", type=int, default=5, help="sampler seeds of the time-to-quality search (default 5)")
    parser.add_argument("--grid-rounds", type=int, default=1, help="turns of each grid (default 1)")
    parser.add_argument(
        "--only", choices=["searches", "quality", "grids"], help="one part (quality: the pruners' time to quality)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.only != "grids":
            searches(tmp, args)
        if args.only in (None, "grids"):
            for i, (name, (grid, keys)) in enumerate(GRIDS.items()):
                print(f"\n{name}, {args.grid_rounds} round(s):")
                table, verdict = grid_halving(tmp / f"grids{i}", grid, keys, args.grid_rounds)
                print(table.to_string(index=False))
                print(verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
