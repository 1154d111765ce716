"""How many workers one study serves: worker processes asking, "running" (no epochs) and
telling trials against one journal file, one SQLite file and one PostgreSQL server (a private
one started for each measurement: benchmarks/postgresql.py), as a search's workers would.

    python -m benchmarks.storage                      # 8, 32 and 64 workers, each storage in turn
    python -m benchmarks.storage --workers 8 --trials-per-worker 5

Each worker opens the study itself (experiments/sweep/search/study.py: the storage as the search
opens it, our journal file backend included), then, until the study holds n_trials (workers x
trials-per-worker): under the search's lock counts the trials and asks one (asking_alone, as
the search does so that launches sharing a study never ask past n_trials), then tells it a
value at once. Measured: asks and tells per second over the whole run, how long an ask waits
(the lock and the storage, median and 99th percentile), and from the storage afterwards
whether any trial was lost (asked but not complete), repeated (one number asked twice) or
over n_trials. The sampler is Optuna's random sampler, so that the figures are the storage's:
TPE adds its own time per ask, which grows with the trials.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.postgresql import postgresql_missing, postgresql_server

STORAGES = {
    "journal file": "journal://{folder}/study.log",
    "SQLite file": "sqlite:///{folder}/study.db",
    "PostgreSQL": "{server}",  # a server of its own for each measurement
}


def worker(storage: str, n_trials: int, start, results) -> None:
    """One worker's loop; puts (asked numbers, ask seconds, tell seconds, errors) on `results`."""
    import optuna

    from experiments.sweep.search.study import asking_alone, opened

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    asked, ask_s, tell_s, errors = [], [], [], []
    start.wait()
    study = optuna.load_study(study_name="simulated", storage=opened(storage), sampler=optuna.samplers.RandomSampler())
    while True:
        try:
            began = time.perf_counter()
            with asking_alone(storage):
                if len(study.get_trials(deepcopy=False)) >= n_trials:
                    break
                trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-3, 1, log=True)})
            ask_s.append(time.perf_counter() - began)
            asked.append(trial.number)
            began = time.perf_counter()
            study.tell(trial, trial.params["lr"])  # a trial of no epochs: its value at once
            tell_s.append(time.perf_counter() - began)
        except Exception as error:  # a storage that refuses under load (sqlite: "database is locked")
            errors.append(f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
            if len(errors) > 20:
                break
    results.put((asked, ask_s, tell_s, errors))


def simulate(kind: str, n_workers: int, trials_per_worker: int, folder: Path) -> dict:
    """One study, `n_workers` processes; returns the row of the table."""
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(postgresql_server()) if kind == "PostgreSQL" else None
        return measured(kind, STORAGES[kind].format(folder=folder, server=server), n_workers, trials_per_worker)


def measured(kind: str, storage: str, n_workers: int, trials_per_worker: int) -> dict:
    import optuna

    from experiments.sweep.search.study import open_study, opened

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    n_trials = n_workers * trials_per_worker
    open_study("simulated", storage, {"direction": "maximize", "objective": "value", "sampler": "random", "space": {}})
    fork = multiprocessing.get_context("fork")
    start, results = fork.Event(), fork.Queue()
    processes = [fork.Process(target=worker, args=(storage, n_trials, start, results)) for _ in range(n_workers)]
    for process in processes:
        process.start()
    began = time.perf_counter()
    start.set()
    outcomes = [results.get() for _ in processes]
    wall = time.perf_counter() - began
    for process in processes:
        process.join()
    asked = [number for outcome in outcomes for number in outcome[0]]
    ask_s = sorted(s for outcome in outcomes for s in outcome[1])
    errors = [e for outcome in outcomes for e in outcome[3]]
    trials = optuna.load_study(study_name="simulated", storage=opened(storage)).get_trials(deepcopy=False)
    complete = {t.number for t in trials if t.state == optuna.trial.TrialState.COMPLETE}
    return {
        "storage": kind,
        "workers": n_workers,
        "trials": len(trials),
        "asks+tells_per_s": f"{2 * len(asked) / wall:.0f}",
        "ask_wait_ms_median": f"{1000 * statistics.median(ask_s):.0f}" if ask_s else "-",
        "ask_wait_ms_p99": f"{1000 * ask_s[int(0.99 * (len(ask_s) - 1))]:.0f}" if ask_s else "-",
        "lost": len(set(asked) - complete) + sum(1 for t in trials if t.state != optuna.trial.TrialState.COMPLETE),
        "repeated": len(asked) - len(set(asked)),
        "over_n_trials": max(0, len(trials) - n_trials),
        "errors": f"{len(errors)}" + (f" ({errors[0][:60]})" if errors else ""),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 32, 64], help="worker counts (default 8 32 64)")
    parser.add_argument("--trials-per-worker", type=int, default=10, help="trials each worker asks (default 10)")
    args = parser.parse_args(argv)
    rows = []
    for n_workers in args.workers:
        for kind in STORAGES:  # one after the other at each count, so that each sees the same machine
            if kind == "PostgreSQL" and postgresql_missing():
                print(f"PostgreSQL left out: {postgresql_missing()}")
                continue
            with tempfile.TemporaryDirectory() as folder:
                rows.append(simulate(kind, n_workers, args.trials_per_worker, Path(folder)))
    print(f"\n{args.trials_per_worker} trials per worker, no epochs, random sampler, on this machine:")
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
