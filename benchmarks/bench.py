"""Benchmark: training epochs of nn_core against PyTorch and scikit-learn, on one machine, in one run.

    python -m benchmarks.bench                         # generated 60,000 x 784 data
    python -m benchmarks.bench --data sample          # the bundled MNIST sample, repeated
    python -m benchmarks.bench --sweep                 # also: 8-job sweep, sequential vs one job per core

Prints, per trainer and batch size, the median epoch time, samples per second
and the ratio to nn_core (how many times longer than nn_core it takes); the
floor (an epoch's matrix products alone, with nothing else); nn_core's peak
memory and start-up time as a user runs it. PyTorch and scikit-learn are
timed the fastest way a user would write them (data already in memory as
float32, PyTorch at its default thread count) and only when installed.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from itertools import count
from pathlib import Path

import numpy as np
import pandas as pd

import nn_core
import nn_core.idx_sets
from nn_core.idx import save_idx
from nn_core.idx_sets import DATA_HOME_ENV

N_CLASSES = 10


def load_samples(folder, n, seed=0):
    """(n, 784) uint8 images and (n,) labels: real IDX digits repeated up to n, or random."""
    rng = np.random.default_rng(seed)
    if folder:
        folder = nn_core.idx_sets.sample_folder() if folder == "sample" else folder
        data = nn_core.load_idx_dataset("mnist", root=folder, val_size=N_CLASSES)
        X, y = np.concatenate([data.X_train, data.X_val]), np.concatenate([data.y_train, data.y_val])
        repeat = -(-n // len(y))
        return np.tile(X, (repeat, 1))[:n], np.tile(y, repeat)[:n]
    return rng.integers(0, 256, size=(n, 784), dtype=np.uint8), rng.integers(0, N_CLASSES, size=n)


# Each setup_* prepares a trainer and returns a function that trains one epoch.


def setup_nn_core(X, y, hidden, lr, batch_size, dropout=0.0, shift=0, checkpoint=False, batch_norm=False):
    """An epoch as experiments.train runs it; `checkpoint`: then its checkpoint written,
    as after every epoch of a run."""
    rng = np.random.default_rng(0)
    network = nn_core.build_mlp(
        nn_core.Architecture([X.shape[1], hidden, N_CLASSES], pixel_max=255.0, dropout=dropout, batch_norm=batch_norm),
        rng,
    )
    optimizer = nn_core.SGD(network.trainable)
    augment = nn_core.Augment(X, shift=shift) if shift else None
    path = Path(tempfile.mkdtemp()) / "checkpoint.npz"

    def epoch():
        nn_core.train_epoch(network, X, y, optimizer=optimizer, lr=lr, batch_size=batch_size, rng=rng, augment=augment)
        if checkpoint:
            nn_core.save_checkpoint(path, network, optimizer, rng, nn_core.Progress(epoch=1))

    return epoch


def setup_floor(X, y, hidden, lr, batch_size):
    """An epoch's matrix products and nothing else: forward (2), backward (3), on contiguous batches."""
    rng = np.random.default_rng(0)
    Xf = nn_core.scale_pixels(X, 255.0)
    W1 = rng.normal(size=(X.shape[1], hidden)).astype(np.float32)
    W2 = rng.normal(size=(hidden, N_CLASSES)).astype(np.float32)
    dW1, dW2 = np.empty_like(W1), np.empty_like(W2)
    dlogits = np.ones((batch_size, N_CLASSES), np.float32)

    def epoch():
        for start in range(0, len(Xf), batch_size):
            X_batch = Xf[start : start + batch_size]
            d = dlogits[: len(X_batch)]
            h = X_batch @ W1
            h @ W2
            np.matmul(h.T, d, out=dW2)
            delta = d @ W2.T
            np.matmul(X_batch.T, delta, out=dW1)

    return epoch


def setup_torch(X, y, hidden, lr, batch_size):
    import torch

    torch.manual_seed(0)
    Xt = torch.from_numpy(nn_core.scale_pixels(X, 255.0))
    yt = torch.from_numpy(y.astype(np.int64))
    model = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], hidden), torch.nn.Sigmoid(), torch.nn.Linear(hidden, N_CLASSES)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        order = torch.randperm(len(yt))
        for start in range(0, len(yt), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss_fn(model(Xt[batch]), yt[batch]).backward()
            optimizer.step()

    return epoch


def setup_sklearn(X, y, hidden, lr, batch_size):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    Xf = nn_core.scale_pixels(X, 255.0)
    model = MLPClassifier(
        hidden_layer_sizes=(hidden,),
        activation="logistic",
        solver="sgd",
        learning_rate_init=lr,
        batch_size=batch_size,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        random_state=0,
    )
    classes = np.arange(N_CLASSES)

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(Xf, y, classes=classes)

    return epoch


# What each option adds to an nn_core epoch (targets: a checkpoint at most 3%, augmentation 25%).
OPTIONS = {
    "augment.shift=2": {"shift": 2},
    "dropout=0.2": {"dropout": 0.2},
    "batch_norm=true": {"batch_norm": True},
    "checkpoint": {"checkpoint": True},
}
TRAINERS = {
    "nn_core": setup_nn_core,
    "floor (matmuls only)": setup_floor,
    "pytorch": setup_torch,
    "scikit-learn": setup_sklearn,
    **{f"nn_core, {name}": functools.partial(setup_nn_core, **options) for name, options in OPTIONS.items()},
}
OPTIONAL = {"pytorch": "torch", "scikit-learn": "sklearn"}
# Timed again with a busy neighbour: a process spinning on one core, as a browser or another run would.
BUSY_TRAINERS = ("nn_core", "floor (matmuls only)", "pytorch")
NUMPY_TRAINERS = ("nn_core", "floor (matmuls only)", *(f"nn_core, {name}" for name in OPTIONS))


def installed(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def time_epochs(name, X, y, hidden, lr, batch_size, epochs, threads=1) -> list[float]:
    """Seconds of each of `epochs` epochs of one trainer, after a warm-up epoch.
    NumPy trainers use `threads` BLAS threads (experiments.train's default is 1)."""
    if name in NUMPY_TRAINERS:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    run_epoch = TRAINERS[name](X, y, hidden, lr, batch_size)
    run_epoch()  # warm-up: first-touch allocations, lazy initialisation
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        run_epoch()
        times.append(time.perf_counter() - start)
    return times


def epoch_table(args) -> pd.DataFrame:
    """Median epoch time per trainer and batch size, on an idle machine and
    (for BUSY_TRAINERS) with a busy neighbour.

    Each trainer runs in a fresh process of its own: PyTorch's OpenMP threads
    and NumPy's OpenBLAS threads spin after each call, and sharing a process
    would slow whichever runs next. The trainers take turns for `--rounds`
    rounds so that a machine whose speed drifts slows them all alike.
    """
    names = [n for n in TRAINERS if n not in OPTIONAL or installed(OPTIONAL[n])]
    for name in set(TRAINERS) - set(names):
        print(f"  {name}: not installed, skipped", file=sys.stderr)
    times = {}
    for _ in range(args.rounds):
        for condition in ("idle", "busy"):
            neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if condition == "busy" else None
            try:
                for batch_size in args.batch_sizes:
                    for name in names:
                        if condition == "busy" and name not in BUSY_TRAINERS:
                            continue
                        worker = [
                            sys.executable,
                            "-m",
                            "benchmarks.bench",
                            "--worker",
                            name,
                            "--batch-sizes",
                            str(batch_size),
                            "--epochs",
                            str(args.epochs),
                            "--samples",
                            str(args.samples),
                            "--hidden",
                            str(args.hidden),
                            "--lr",
                            str(args.lr),
                            "--threads",
                            str(args.threads),
                            *(["--data", args.data] if args.data else []),
                        ]
                        proc = subprocess.run(worker, capture_output=True, text=True, check=True)
                        times.setdefault((batch_size, name, condition), []).append(json.loads(proc.stdout))
            finally:
                if neighbour:
                    neighbour.kill()
                    neighbour.wait()
    rows = {}
    for (batch_size, name, condition), rounds in times.items():
        seconds = [s for one_round in rounds for s in one_round]
        median = statistics.median(seconds)
        row = rows.setdefault((batch_size, name), {"batch_size": batch_size, "trainer": name})
        row[f"{condition}_s"] = median
        row[f"{condition}_rounds"] = [statistics.median(one_round) for one_round in rounds]
        print(
            f"  batch {batch_size:>4}  {name:<26} {condition}: median {median:.3f} s/epoch "
            f"(min {min(seconds):.3f}, max {max(seconds):.3f})",
            file=sys.stderr,
        )
    table = pd.DataFrame(list(rows.values()))
    table["samples_per_s"] = args.samples / table["idle_s"]
    ours = table[table.trainer == "nn_core"].set_index("batch_size")["idle_s"]
    table["vs_nn_core"] = table["idle_s"] / table["batch_size"].map(ours)
    table["busy_vs_idle"] = table["busy_s"] / table["idle_s"]
    return table


def by_round(t: pd.DataFrame, name: str, reference: str, column: str = "idle_rounds") -> str:
    """A ratio taken round by round, `name`'s median epoch in a round (from `column`) over
    `reference`'s idle median in the same round: the median of the rounds, and their range."""
    ratios = [a / b for a, b in zip(t.loc[name, column], t.loc[reference, "idle_rounds"])]
    return median_and_range(ratios, "x", over=" over rounds")


def write_idx_folder(folder: Path, X, y):
    """An MNIST-shaped folder (raw IDX, no gzip) for runs of experiments.train."""
    folder.mkdir(parents=True, exist_ok=True)
    images = X.reshape(-1, 28, 28)
    save_idx(folder / "train-images-idx3-ubyte", images)
    save_idx(folder / "train-labels-idx1-ubyte", y.astype(np.uint8))
    save_idx(folder / "t10k-images-idx3-ubyte", images[:10000])
    save_idx(folder / "t10k-labels-idx1-ubyte", y[:10000].astype(np.uint8))


def train_command(*overrides):
    return [sys.executable, "-m", "experiments.train", *overrides]


# Runs experiments.train and reports its own peak resident memory (VmHWM) as it exits;
# the parent cannot measure it: a child's ru_maxrss starts from the parent's size.
PEAK_MEMORY_RUNNER = """
import atexit, re, runpy, sys
def report():
    status = open("/proc/self/status").read()
    print("VmHWM_kB", re.search(r"VmHWM:\\s+(\\d+)", status).group(1), file=sys.stderr)
atexit.register(report)
sys.argv[0] = "experiments.train"
runpy.run_module("experiments.train", run_name="__main__")
"""


def peak_memory_mb(folder: Path, run_dir: Path, cache: Path) -> float:
    """Peak resident memory of one epoch of experiments.train on the folder's data, into the new
    folder `run_dir`, with `cache` as its cache (where the validation split is kept once computed)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK_MEMORY_RUNNER,
            f"data.root={folder}",
            "epochs=1",
            f"hydra.run.dir={run_dir}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, DATA_HOME_ENV: str(cache)},
    )
    found = re.search(r"VmHWM_kB (\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"the memory run failed:\n{proc.stdout}\n{proc.stderr}")
    return int(found.group(1)) / 1024


IMPORTS_ALONE = [sys.executable, "-c", "import numpy, hydra"]


def median_and_range(values: list[float], unit: str = "", digits: int = 2, over: str = "") -> str:
    """'1.79x (1.72-1.93x over rounds)': the median of repeated measurements, and their lowest
    and highest (`over`: what they were taken over)."""
    median, low, high = (f"{v:.{digits}f}" for v in (statistics.median(values), min(values), max(values)))
    return f"{median}{unit} ({low}-{high}{unit}{over})"


def digits_run_vs_imports(workdir: Path, rounds: int) -> str:
    """A 1-epoch digits run, command to exit, against Python importing numpy and Hydra alone,
    taking turns `rounds` times (after one run that fills the cache); medians and ranges."""
    env = {**os.environ, DATA_HOME_ENV: str(workdir / "cache")}
    runs = (train_command("data=digits", "epochs=1", f"hydra.run.dir={workdir / f'digits_{i}'}") for i in count())
    subprocess.run(next(runs), capture_output=True, check=True, env=env)
    times = {"run": [], "imports": []}
    for _ in range(rounds):
        for name, command in (("run", next(runs)), ("imports", IMPORTS_ALONE)):
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True, env=env)
            times[name].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times["run"], times["imports"])]
    return (
        f"a 1-epoch digits run (data=digits epochs=1, command to exit): {median_and_range(times['run'], ' s')}; "
        f"importing numpy and Hydra alone: {median_and_range(times['imports'], ' s')}; "
        f"the run takes {median_and_range(ratios, 'x', digits=1)} the imports, median of {rounds} turns"
    )


def digits_step_cost(hidden: int, lr: float, batch_size: int, epochs: int = 50) -> str:
    """An nn_core step on scikit-learn's digits (the default network at 64 inputs) against the
    floor's step on the same shapes, per step, medians of `epochs` epochs in turn, this process."""
    from threadpoolctl import threadpool_limits

    data = nn_core.load_dataset("digits")
    X, y = data.X_train, data.y_train
    steps = -(-len(y) // batch_size)
    trainers = {
        "nn_core": setup_nn_core(X, y, hidden, lr, batch_size),
        "floor": setup_floor(X, y, hidden, lr, batch_size),
    }
    times = {name: [] for name in trainers}
    with threadpool_limits(1):
        for _ in range(epochs):
            for name, epoch in trainers.items():
                start = time.perf_counter()
                epoch()
                times[name].append((time.perf_counter() - start) / steps * 1e6)
    ours, floor = (statistics.median(times[name]) for name in trainers)
    return (
        f"a digits step ({len(y)} x {X.shape[1]}, network {X.shape[1]}-{hidden}-{N_CLASSES}, batch {batch_size}, "
        f"1 BLAS thread): nn_core {ours:.1f} us, the floor {floor:.1f} us ({ours / floor:.2f}x), "
        f"median of {epochs} epochs"
    )


def wall_time(command, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sweep_timing(folder: Path, workdir: Path, epochs, jobs=8, rounds=1) -> pd.DataFrame:
    """The same 8 equal jobs (seeds 0-7), run one after another and by the default launcher,
    one job per core; the two take turns `rounds` times and each keeps its median wall time."""
    seeds = "seed=" + ",".join(map(str, range(jobs)))
    common = ["-m", seeds, f"data.root={folder}", f"epochs={epochs}"]
    launchers = {
        "sequential (hydra/launcher=basic)": ["hydra/launcher=basic"],
        "parallel, one job per core (default)": [],
    }
    walls = {name: [] for name in launchers}
    for round_ in range(rounds):
        for i, (name, launcher) in enumerate(launchers.items()):
            start = time.perf_counter()
            sweep_dir = workdir / f"sweep{round_}_{i}"
            subprocess.run(
                train_command(*common, *launcher, f"hydra.sweep.dir={sweep_dir}"), capture_output=True, check=True
            )
            walls[name].append(time.perf_counter() - start)
            print(f"  {name}: {walls[name][-1]:.1f} s", file=sys.stderr)
    table = pd.DataFrame(
        [
            {"sweep": name, "jobs": jobs, "wall_s": statistics.median(w), "range_s": f"{min(w):.1f}-{max(w):.1f}"}
            for name, w in walls.items()
        ]
    )
    table["vs_sequential"] = table["wall_s"] / table["wall_s"].iloc[0]
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="IDX folder, or 'sample' for the bundled MNIST sample, repeated up to --samples; default: random data",
    )
    parser.add_argument("--samples", type=int, default=60000, help="training samples per epoch (default 60000)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument(
        "--epochs", type=int, default=3, help="timed epochs per trainer and round, after a warm-up (default 3)"
    )
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads of nn_core and the floor (default 1, as experiments.train)"
    )
    parser.add_argument("--skip-process", action="store_true", help="skip the memory and start-up measurements")
    parser.add_argument("--rounds", type=int, default=2, help="times each trainer is run, in turn (default 2)")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="also time an 8-job sweep, sequential vs the default launcher (one job per core)",
    )
    parser.add_argument("--sweep-epochs", type=int, default=10, help="epochs of each sweep job (default 10)")
    parser.add_argument(
        "--sweep-rounds", type=int, default=3, help="times the two sweeps take turns; medians are shown (default 3)"
    )
    parser.add_argument(
        "--rounds-of-runs", type=int, default=5, help="turns of the 1-epoch digits run and the imports (default 5)"
    )
    parser.add_argument("--worker", choices=list(TRAINERS), help=argparse.SUPPRESS)  # one trainer, in its own process
    args = parser.parse_args(argv)

    X, y = load_samples(args.data, args.samples)
    if args.worker:
        print(
            json.dumps(
                time_epochs(args.worker, X, y, args.hidden, args.lr, args.batch_sizes[0], args.epochs, args.threads)
            )
        )
        return 0
    print(
        f"{len(y)} samples x {X.shape[1]} features ({'from ' + args.data if args.data else 'random'}), "
        f"network {X.shape[1]}-{args.hidden}-{N_CLASSES}, float32, {os.cpu_count()} cores, nn_core and floor on "
        f"{args.threads} BLAS thread(s), PyTorch at its default; median of "
        f"{args.rounds} x {args.epochs} epochs, each trainer in its own process",
        flush=True,
    )
    table = epoch_table(args)
    ratio = lambda v: "" if pd.isna(v) else f"{v:.2f}x"  # noqa: E731
    seconds = lambda v: "" if pd.isna(v) else f"{v:.3f}"  # noqa: E731
    print(
        table.drop(columns=["idle_rounds", "busy_rounds"]).to_string(
            index=False,
            formatters={
                "idle_s": seconds,
                "busy_s": seconds,
                "samples_per_s": "{:,.0f}".format,
                "vs_nn_core": ratio,
                "busy_vs_idle": ratio,
            },
        )
    )
    for batch_size, group in table.groupby("batch_size"):
        t = group.set_index("trainer")
        idle = t["idle_s"]
        summary = [f"batch {batch_size}: nn_core takes {by_round(t, 'nn_core', 'floor (matmuls only)')} the floor"]
        summary += [
            f"{by_round(t, name, 'nn_core')} faster than {name}" for name in ("pytorch", "scikit-learn") if name in idle
        ]
        summary += [f"{by_round(t, 'nn_core', 'nn_core', 'busy_rounds')} its idle time with a busy neighbour"]
        summary += [f"{option} adds {idle[f'nn_core, {option}'] / idle['nn_core'] - 1:+.0%}" for option in OPTIONS]
        print(", ".join(summary))

    if not args.skip_process or args.sweep:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            folder = tmp / "idx"
            write_idx_folder(folder, X, y)
            if not args.skip_process:
                first, later = (peak_memory_mb(folder, tmp / f"memory_run{i}", tmp / "cache") for i in (1, 2))
                print(
                    f"\npeak memory of experiments.train, one epoch on {len(y)} samples: {first:.0f} MB resident "
                    f"the first time (it computes the validation split: scikit-learn imported), {later:.0f} MB "
                    "after (the split read from the cache)"
                )
                print(
                    f"start-up: 'experiments.train --help' {wall_time(train_command('--help')):.2f} s, "
                    f"compose and print the config ('--cfg job') {wall_time(train_command('--cfg', 'job')):.2f} s"
                )
                print(digits_run_vs_imports(tmp, args.rounds_of_runs))
                print(digits_step_cost(args.hidden, args.lr, batch_size=32))
            if args.sweep:
                print(
                    f"\n8 equal jobs ({len(y)} samples, {args.sweep_epochs} epochs each), "
                    f"median of {args.sweep_rounds} turns:"
                )
                print(
                    sweep_timing(folder, tmp, args.sweep_epochs, rounds=args.sweep_rounds).to_string(
                        index=False, formatters={"wall_s": "{:.1f}".format, "vs_sequential": "{:.2f}x".format}
                    )
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
