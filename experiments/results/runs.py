"""Runs as tables: finding run directories, loading them, grouping seeds, ranking.

The one reader of what experiments.run.files writes. From Python, `load_runs(path)`
gives one row per run and `load_history(path)` one row per run and epoch; `path`
may be one run, a sweep, or runs/ as a whole.
Runs that are unfinished or broken are kept, with the reason in `problem`.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import pandas as pd

from experiments.run.files import (
    HYDRA_DIR,
    METRICS_COLUMNS,
    METRICS_FILE,
    RESULT_FILE,
    RunFolder,
    Status,
    folder_in_use,
    load_result,
)
from experiments.run.provenance import code_label, libraries_label
from experiments.run.record import NUMERIC_RESULTS, RESULT_COLUMNS, RESULT_FIELDS

# Where each run came from (result.json's provenance and data files), one short text each:
# the columns a table mixing code versions, libraries or data files can be grouped and filtered by.
PROVENANCE_COLUMNS = ["code", "libraries", "data_files"]


def find_run_dirs(path) -> list[Path]:
    """Every directory under `path` (or `path` itself) that a run wrote into: one that holds
    metrics.csv, result.json or .hydra/config.yaml. One walk of the tree."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run, sweep or folder")
    dirs = set()
    for folder, subfolders, files in os.walk(path):
        if METRICS_FILE in files or RESULT_FILE in files:
            dirs.add(Path(folder))
            subfolders.clear()  # a run's own folders (.hydra, tensorboard, inspect) hold no other run
        elif os.path.basename(folder) == HYDRA_DIR and RunFolder(Path(folder).parent).config_file.name in files:
            dirs.add(Path(folder).parent)
    return sorted(dirs)


# metrics.csv's columns that every complete row has: a missing epoch or accuracy is damage,
# while a NaN loss is a diverged run's honest record.
REQUIRED_METRICS = ("epoch", "train_acc", "val_acc", "epoch_time_s")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _read_history(run_dir: Path) -> tuple[dict[str, list] | None, str | None]:
    """metrics.csv's complete rows as columns of numbers ({column: [value per epoch]}, the
    columns of METRICS_COLUMNS), and what is wrong with it, if anything.

    Read with the csv module rather than pandas: a table of thousands of runs reads thousands
    of these ten-line files, where pandas' fixed cost per file (about 2 ms) was most of the time."""
    path = RunFolder(run_dir).metrics_file
    try:
        with open(path, newline="") as f:
            lines = [line for line in csv.reader(f) if line]
    except FileNotFoundError:
        return None, "no metrics.csv"
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        return None, f"metrics.csv is unreadable ({type(e).__name__}: {str(e).strip()[:80]})"
    if not lines:
        return None, "metrics.csv is unreadable (it is empty)"
    header, rows = lines[0], lines[1:]
    missing = [c for c in METRICS_COLUMNS if c not in header]
    if missing:
        return None, f"metrics.csv lacks columns {', '.join(missing)}"
    too_long = next((i for i, row in enumerate(rows, 2) if len(row) > len(header)), None)
    if too_long:
        return None, f"metrics.csv is unreadable (line {too_long} has more fields than the header's {len(header)})"
    where = [header.index(c) for c in METRICS_COLUMNS]
    required = [METRICS_COLUMNS.index(c) for c in REQUIRED_METRICS]
    complete = []
    for row in rows:
        try:
            values = [float(row[i]) for i in where]
        except (ValueError, IndexError):  # a field cut short or not a number: NaN, as pandas reads it
            values = [_number(row[i]) if i < len(row) else math.nan for i in where]
        if not any(math.isnan(values[i]) for i in required):
            complete.append(values)
    columns = zip(*complete) if complete else ([] for _ in METRICS_COLUMNS)
    history = {c: list(column) for c, column in zip(METRICS_COLUMNS, columns)}
    history["epoch"] = [int(epoch) for epoch in history["epoch"]]
    damaged = len(rows) - len(complete)
    problem = f"metrics.csv has {damaged} damaged or truncated row(s), left out" if damaged else None
    return history, problem


def _read_result(run_dir: Path) -> tuple[dict, str | None]:
    """result.json, checked for what a table needs, and what is wrong with it, if anything."""
    try:
        result = load_result(run_dir)
    except FileNotFoundError:
        if folder_in_use(run_dir):  # its writer holds the folder: alive
            return {"status": Status.RUNNING}, "no result.json yet: still running"
        return {
            "status": Status.INCOMPLETE
        }, "no result.json: the run stopped before finishing (killed, or still starting)"
    except ValueError as e:
        return {"status": Status.BROKEN}, f"result.json is unreadable ({e})"
    # A value of the wrong type (edited by hand, written by another tool) is
    # dropped and named, so that one bad file cannot break a table of hundreds.
    wrong = [k for k in NUMERIC_RESULTS if not (result.get(k) is None or _is_number(result[k]))]
    if result.get("status") not in {s.value for s in Status}:
        wrong.append("status")
    if wrong:
        problem = "result.json has " + ", ".join(f"{k}={result.get(k)!r}" for k in wrong) + " of the wrong type"
        result = {k: v for k, v in result.items() if k not in wrong}
        result.setdefault("status", Status.BROKEN)
        return result, problem
    return result, None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flattened(config: dict) -> dict:
    """{"lr": 0.1, "data": {"name": "digits"}} -> {"lr": 0.1, "data.name": "digits"}: the top
    level's settings first, then the groups' (the columns' order pandas.json_normalize gives);
    lists become text (hidden=[256,128]) so that columns can be compared and grouped."""
    flat = {key: value for key, value in config.items() if not isinstance(value, dict)}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_nested(value, f"{key}."))
    return {key: str(value).replace(" ", "") if isinstance(value, list) else value for key, value in flat.items()}


def _nested(group: dict, prefix: str) -> dict:
    flat = {}
    for key, value in group.items():
        flat.update(_nested(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return flat


def _hyperparameters(run_dir: Path, result: dict) -> dict:
    if isinstance(result.get("hyperparameters"), dict):
        config = result["hyperparameters"]
    else:
        try:
            from omegaconf import OmegaConf

            config = OmegaConf.to_container(OmegaConf.load(RunFolder(run_dir).config_file))
        except Exception:  # no or damaged snapshot: the run is still listed, without its config
            return {}
    return _flattened(config)


def _summary_row(run_dir: Path, result: dict, history: dict | None, problems) -> dict:
    """A run's row of load_runs (but its hyperparameters): result.json's fields, where it came
    from, and for an unfinished run what its metrics.csv says so far."""
    row = {"run": str(run_dir), **{field.name: field.read(result) for field in RESULT_FIELDS}}
    if isinstance(result.get("data"), dict):
        files = result["data"].get("files") or {}
        row["data_files"] = " ".join(f"{name}:{f.get('md5', '')[:8]}" for name, f in sorted(files.items())) or None
    about = result.get("provenance") if isinstance(result.get("provenance"), dict) else None
    row["code"], row["libraries"] = code_label(about), libraries_label(about)
    if history and history["epoch"] and row["status"] in (Status.RUNNING, Status.INCOMPLETE, Status.BROKEN):
        # an unfinished run still has curves; its best epoch is, as in result.json, the lowest validation loss
        losses = [loss for loss in history["val_loss"] if not math.isnan(loss)]
        row["best_val_acc"] = history["val_acc"][history["val_loss"].index(min(losses))] if losses else None
        row["final_val_acc"] = history["val_acc"][-1]
        row["epochs_completed"] = len(history["epoch"])
    row["problem"] = "; ".join(p for p in problems if p) or None
    return row


def read_run(run_dir: Path) -> tuple[dict, dict, dict | None]:
    """A run's summary row, its hyperparameters, and its metrics as {column: [value per epoch]}
    (None if unreadable)."""
    result, result_problem = _read_result(run_dir)
    history, history_problem = _read_history(run_dir)
    row = _summary_row(run_dir, result, history, (result_problem, history_problem))
    return row, _hyperparameters(run_dir, result), history


def _run_dirs(paths):
    return [run_dir for path in paths for run_dir in find_run_dirs(path)]


def usable_cores() -> int:
    """The cores this process may run on (its affinity: what SLURM or taskset gave it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_stops() -> None:
    """A forked pool worker's start: SIGTERM and SIGINT back to their defaults. The pool ends its
    workers with SIGTERM, which the handlers inherited from a run or sweep would turn into a traceback."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


READ_IN_PARALLEL_FROM = 1000  # runs; fewer are read in this process (starting workers costs more than it saves)


def read_runs(run_dirs: list[Path], history: bool = True, meanwhile=None) -> list[tuple[dict, dict, dict | None]]:
    """read_run of every folder, in order (without the history: None in its place). Reading is
    Python parsing small files, so many runs are read by one process per core, each forked from
    this one (10,000 runs on 2 cores: 3.2 s in one process, 2.1 s in two), while this one calls
    `meanwhile()` if given (compare imports what it needs next)."""
    read = read_run if history else read_run_without_history
    cores = usable_cores()
    if len(run_dirs) < READ_IN_PARALLEL_FROM or cores < 2:
        runs = [read(run_dir) for run_dir in run_dirs]
        if meanwhile:
            meanwhile()
        return runs
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(cores, default_stops) as pool:
        reading = pool.map_async(read, run_dirs, chunksize=max(1, len(run_dirs) // (8 * cores)))
        if meanwhile:
            meanwhile()
        return reading.get()


def read_run_without_history(run_dir: Path) -> tuple[dict, dict, None]:
    row, hyperparameters, _ = read_run(run_dir)
    return row, hyperparameters, None


def load_runs(*paths, meanwhile=None) -> pd.DataFrame:
    """One row per run: `run` (its directory), the result.json fields, every
    hyperparameter as a column (nested keys as `data.name`), and `problem`.
    `meanwhile`: called once while the runs are read (read_runs)."""
    rows, columns = [], {}
    for row, hyperparameters, _ in read_runs(_run_dirs(paths), history=False, meanwhile=meanwhile):
        rows.append({**row, **hyperparameters})
        columns.update(dict.fromkeys(hyperparameters))
    return pd.DataFrame(rows, columns=["run", *RESULT_COLUMNS, "problem", *PROVENANCE_COLUMNS, *columns])


def load_history(*paths) -> pd.DataFrame:
    """One row per run and epoch: `run`, every hyperparameter, every metrics.csv column."""
    runs = []
    for row, hyperparameters, history in read_runs(_run_dirs(paths)):
        if history and history["epoch"]:  # else load_runs lists the run and says why
            runs.append((row["run"], hyperparameters, history))
    if not runs:
        return pd.DataFrame(columns=["run", *METRICS_COLUMNS])
    # Built column by column, once: a frame per run, concatenated, took most of the time.
    columns = {"run": [run for run, _, history in runs for _ in history["epoch"]]}
    for name in METRICS_COLUMNS:
        columns[name] = [value for _, _, history in runs for value in history[name]]
    # A per-epoch column (lr under a schedule) wins over the configured value of the same
    # name, which is kept as <name>_config.
    names = dict.fromkeys(key for _, hyperparameters, _ in runs for key in hyperparameters)
    for key in names:
        column = f"{key}_config" if key in METRICS_COLUMNS else key
        columns[column] = [
            hyperparameters.get(key, math.nan) for _, hyperparameters, history in runs for _ in history["epoch"]
        ]
    return pd.DataFrame(columns)


def latest(root="runs") -> Path:
    """The most recently started sweep or single run under root that is not still being
    written (its folder's lock is free: experiments.run.files)."""
    from experiments.run.files import LOCK_FILE, SWEEP_LOCK_FILE, folder_in_use

    root = Path(root)
    candidates = [p for p in (*root.glob("multirun/*"), *root.glob("*")) if p.is_dir() and p.name != "multirun"]
    if not candidates:
        raise FileNotFoundError(f"{root}: no runs or sweeps yet")
    finished = [p for p in candidates if not (folder_in_use(p, LOCK_FILE) or folder_in_use(p, SWEEP_LOCK_FILE))]
    if not finished:
        raise FileNotFoundError(f"{root}: every run or sweep in it is still being written; name one to compare it")
    return max(finished, key=lambda p: p.stat().st_mtime)
