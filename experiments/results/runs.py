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
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.run.config_rules import NOT_HYPERPARAMETERS
from experiments.run.files import METRICS_COLUMNS, METRICS_FILE, RESULT_FILE, Status, folder_in_use, load_result
from experiments.run.provenance import code_label, libraries_label
from experiments.run.record import BOARD_COLUMNS, NUMERIC_RESULTS, RESULT_COLUMNS, RESULT_FIELDS, TrialState

# Where each run came from (result.json's provenance and data files), one short text each:
# the columns a table mixing code versions, libraries or data files can be grouped and filtered by.
PROVENANCE_COLUMNS = ["code", "libraries", "data_files"]
RANK_BY = "best_val_acc"


@dataclass(frozen=True)
class RankBy:
    """What a ranking orders by: a result column (load_runs), its direction, and, for
    configurations of several seeds, their aggregate: the mean, or (confidence_bound) the
    pessimistic end of the mean's 95% interval, as a search with hydra.sweeper.aggregate values
    its trials. compare ranks by best validation accuracy; a search's summary by its objective."""

    column: str = RANK_BY
    maximize: bool = True
    aggregate: str = "mean"

    def words(self, seeds: bool = True) -> str:
        """'mean best_val_acc (highest first)', as a table's heading says it."""
        how = {"mean": "mean ", "confidence_bound": "the pessimistic end of the 95% interval of the mean "}
        return f"{how[self.aggregate] if seeds else ''}{self.column} ({'highest' if self.maximize else 'lowest'} first)"


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
        elif os.path.basename(folder) == ".hydra" and "config.yaml" in files:
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
    path = run_dir / METRICS_FILE
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

            config = OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "config.yaml"))
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


UNSET = "unset"  # how a table shows a setting some runs do not have (optimizer.momentum for plain SGD)


def as_text(values: pd.Series) -> pd.Series:
    """A column's values as text, to compare, sort and group: a setting a run does not
    have is UNSET, so that runs with and without it sort and group together."""
    return values.map(lambda v: UNSET if v is None or (isinstance(v, float) and v != v) else str(v))


def value_order(value) -> tuple:
    """A sort key that puts values as a reader expects them: numbers by size (8 before 64
    before 128), then text in alphabetical order, then settings a run does not have (UNSET)."""
    if value is None or value == UNSET or (isinstance(value, float) and value != value):
        return (2, 0.0, "")
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def varying_hyperparameters(runs: pd.DataFrame) -> list[str]:
    """The hyperparameter columns whose value is not the same in every run."""
    fixed = {"run", "problem", "resume", *RESULT_COLUMNS, *PROVENANCE_COLUMNS}  # resumed or not: the same run
    return [c for c in runs.columns if c not in fixed and _varies(runs[c])]


def _varies(values: pd.Series) -> bool:
    try:
        if values.nunique(dropna=False) <= 1:  # one value as stored is one as text: no need to write them
            return False
    except TypeError:  # a value that cannot be hashed: judged by its text
        pass
    return as_text(values).nunique() > 1


# Runs that differ only in these are one configuration (experiments.run.config_rules).
NOT_A_CONFIGURATION = {"seed", *NOT_HYPERPARAMETERS}


def configuration_keys(runs: pd.DataFrame) -> list[str]:
    """The varying hyperparameters that tell one configuration from another (not the seed)."""
    return [c for c in varying_hyperparameters(runs) if c not in NOT_A_CONFIGURATION]


SUMMARY_METRICS = ("best_val_acc", "test_acc")


def readable(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Hyperparameter values as typed: 0.001 rather than 0.0010 or 1e-03 padded out."""

    def text(v):
        if isinstance(v, float):
            return UNSET if v != v else f"{v:g}"
        return UNSET if v is None else v

    return frame.assign(**{c: frame[c].map(text) for c in columns})


def ranking(runs: pd.DataFrame, per_run=False, by: RankBy = RankBy()) -> pd.DataFrame:
    """What a comparison shows: one row per configuration where some configuration
    has several seeds (summarize), else, or with per_run, one row per run (leaderboard)."""
    if not per_run and repeated_configurations(runs):
        return summarize(runs, by=by)
    return leaderboard(runs, by=by)


def repeated_configurations(runs: pd.DataFrame) -> bool:
    """True when some configuration ran with more than one seed: what summarize would show
    as n_seeds > 1, known without summarising."""
    keys = configuration_keys(runs)
    ranked = rankable(runs)
    configurations = len(ranked.drop_duplicates(subset=keys)) if keys else min(len(ranked), 1)
    return len(one_run_per_seed(ranked, by=keys)) > configurations


def summarize(runs: pd.DataFrame, metrics=SUMMARY_METRICS, by: RankBy = RankBy()) -> pd.DataFrame:
    """One row per configuration (runs differing only in seed and in keys that
    never change results), ranked by `by` (mean best validation accuracy unless told).

    Columns: the hyperparameters that vary; n_seeds; for each metric
    <metric>_mean, <metric>_std (sample standard deviation) and <metric>_ci95
    (half-width of the 95% confidence interval of the mean, Student's t);
    p_vs_best, Welch's t-test (scipy.stats.ttest_ind, equal_var=False) of the
    configuration's ranked column against the top configuration's; and
    tied_with_best, p_vs_best >= 0.05: not distinguishable from the best at the
    95% level. Both need at least 2 seeds on each side (else empty).
    """
    import numpy as np

    keys = configuration_keys(runs)
    ranked = rankable(runs, by)
    metrics = list(dict.fromkeys([by.column, *metrics]))
    if ranked.empty:
        return pd.DataFrame(columns=[*keys, "n_seeds"], index=pd.RangeIndex(0, name="rank"))
    # Each configuration's rows, by position, in the order configurations first appear;
    # then one run per seed. Arrays and positions, not a frame per configuration: a
    # sweep of thousands of configurations is summarised in a fraction of a second.
    group_of = ranked.groupby(keys, dropna=False, sort=False).ngroup() if keys else np.zeros(len(ranked), int)
    kept = one_run_per_seed(ranked.assign(_group=group_of), by=["_group"])["_group"]  # by run, as summed
    positions = {group: ranked.index.get_indexer(rows.index) for group, rows in kept.groupby(kept, sort=True)}
    firsts = ranked.index.get_indexer(ranked.drop_duplicates(subset=keys).index) if keys else [0]
    numbers = {metric: pd.to_numeric(ranked[metric], errors="coerce").to_numpy(dtype=float) for metric in metrics}
    rows, samples = [], []
    for group, first in enumerate(firsts):
        where = positions[group]
        row = {key: ranked[key].iloc[first] for key in keys}
        row["n_seeds"] = len(where)
        for metric in metrics:
            values = numbers[metric][where]
            values = values[~np.isnan(values)]
            n = len(values)
            row[f"{metric}_mean"] = values.mean() if n else np.nan
            row[f"{metric}_std"] = values.std(ddof=1) if n > 1 else np.nan
            row[f"{metric}_n"] = n
        rows.append(row)
        samples.append(numbers[by.column][where])
    table = pd.DataFrame(rows)
    for metric in metrics:  # the half-width of the 95% interval of the mean, Student's t
        n = table.pop(f"{metric}_n").to_numpy()
        half_width = ci95_half_width(table[f"{metric}_std"], n)
        table.insert(table.columns.get_loc(f"{metric}_std") + 1, f"{metric}_ci95", half_width.where(n > 1))
    table["_samples"] = samples
    score = table[f"{by.column}_mean"]
    if by.aggregate == "confidence_bound":  # the pessimistic end; one seed has no interval: no score
        half = table[f"{by.column}_ci95"]
        score = score - half if by.maximize else score + half
    order = score.sort_values(ascending=not by.maximize, kind="stable", na_position="last").index
    table = table.loc[order].reset_index(drop=True)
    best = table["_samples"].iloc[0]

    table["p_vs_best"] = p_values_against(table["_samples"].tolist(), best)
    table["tied_with_best"] = [None if np.isnan(p) else bool(p >= 0.05) for p in table["p_vs_best"]]
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return readable(table.drop(columns="_samples"), keys)


def ci95_half_width(std, n):
    """The half-width of the 95% confidence interval of a mean of `n` values whose sample
    standard deviation is `std` (Student's t): what the <metric>_ci95 columns hold. Arrays or numbers."""
    import numpy as np
    from scipy import stats

    return stats.t.ppf(0.975, np.maximum(np.asarray(n) - 1, 1)) * std / np.sqrt(n)


def p_values_against(samples: list, best) -> list[float]:
    """Welch's t-test (scipy.stats.ttest_ind, equal_var=False) of each configuration's samples
    against the best's: NaN where either side has fewer than 2, 1.0 or 0.0 where neither side
    spreads (the test is undefined; equal or not). Configurations with as many samples are
    tested in one call (thousands of configurations: one call per size, not one each)."""
    import numpy as np
    from scipy import stats

    p = np.full(len(samples), np.nan)
    if len(best) < 2:
        return p.tolist()
    for size in {len(values) for values in samples if len(values) >= 2}:
        rows = [i for i, values in enumerate(samples) if len(values) == size]
        matrix = np.array([samples[i] for i in rows], dtype=float)
        with warnings.catch_warnings():  # scipy warns when one side's seeds agree to the last digit
            warnings.simplefilter("ignore", RuntimeWarning)
            p[rows] = stats.ttest_ind(matrix, best[None, :], axis=1, equal_var=False).pvalue
        if np.ptp(best) == 0:  # no spread on either side: a t-test is undefined
            flat = np.ptp(matrix, axis=1) == 0
            p[np.array(rows)[flat]] = (matrix[flat, 0] == best[0]).astype(float)
    return p.tolist()


def one_run_per_seed(group: pd.DataFrame, by=()) -> pd.DataFrame:
    """The runs of one configuration (or of each configuration `by` names), one per seed:
    the latest (run folders are named by time)."""
    if "seed" not in group:
        return group
    return group.sort_values("run").drop_duplicates(subset=[*by, "seed"], keep="last")


def notes(runs: pd.DataFrame) -> list[str]:
    """What a reader of a comparison must know besides the table: runs on other data than
    the rest (or than configured), on other code, libraries or data files than the rest,
    and seeds a configuration ran more than once."""
    said = []
    if mixed_data(runs):
        used = runs.groupby(["data.name", "data_used", "n_train"], dropna=False).size().rename("runs")
        said.append(
            "these runs did not all train on the same data, or on the data they were configured for:\n"
            + used.reset_index().to_string(index=False)
        )
    for column, what in (("code", "code versions"), ("libraries", "sets of library versions"),
                         ("data_files", "sets of data files")):  # fmt: skip
        used = runs[column].dropna().unique() if column in runs else []
        if len(used) > 1:
            said.append(f"these runs ran on {len(used)} {what} (column {column}): " + "; ".join(map(str, used)))
    keys = configuration_keys(runs)
    ranked = rankable(runs)
    if "seed" in ranked and len(ranked):
        # runs beyond one per seed of their configuration (a run without a seed counts as beyond)
        repeated = len(ranked) - len(ranked.dropna(subset=["seed"]).drop_duplicates(subset=[*keys, "seed"]))
        if repeated:
            said.append(
                f"{repeated} run(s) repeat a seed their configuration already ran: each seed is counted "
                "once (its latest run), since the same seed is not another sample"
            )
    return said


def mixed_data(runs: pd.DataFrame) -> bool:
    """True when the runs did not all train on the same data, or some trained
    on other data than they were configured for (MNIST's fallback to the sample)."""
    used = runs["data_used"].dropna()
    configured = runs.loc[used.index, "data.name"] if "data.name" in runs else used
    return used.nunique() > 1 or (used != configured).any()


def leaderboard(runs: pd.DataFrame, by: RankBy = RankBy()) -> pd.DataFrame:
    """Ranked runs (best validation accuracy first unless `by` says otherwise), showing only what varies."""
    varying = varying_hyperparameters(runs)
    ranked = rankable(runs, by)
    ranked = ranked.assign(_score=pd.to_numeric(ranked[by.column])).sort_values(
        "_score", ascending=not by.maximize, kind="stable"
    )
    data_columns = ["data_used", "n_train"] if mixed_data(runs) else []
    columns = [
        *varying,
        *data_columns,
        *dict.fromkeys([*BOARD_COLUMNS, by.column]),
        "run",
    ]
    board = readable(ranked[columns].reset_index(drop=True), varying)
    board.index = pd.RangeIndex(1, len(board) + 1, name="rank")
    return board


def rankable(runs: pd.DataFrame, by: RankBy = RankBy()) -> pd.DataFrame:
    """The runs a ranking compares: those that completed with a finite score, and, for a search
    trial's seeds, whose trial completed. An interrupted or pruned run's best epoch is one of
    fewer epochs than the others had, and would rank it by epochs it never ran; a seed that
    finished in a trial the search pruned or failed is a seed of that trial, not a configuration
    of its own; a score that is not a finite number (a hand-edited Infinity) is no score."""
    score = pd.to_numeric(runs[by.column], errors="coerce").astype(float)
    return runs[completed_runs(runs) & score.map(math.isfinite)]


def completed_runs(runs: pd.DataFrame) -> pd.Series:
    """Which runs completed, and were not a seed of a search trial that was pruned, failed or
    broke the search's constraints (its fate in its result.json: experiments/sweep/trials.py)."""
    trial = trial_states(runs)
    infeasible = runs["trial_infeasible"].notna() if "trial_infeasible" in runs else False
    return (runs["status"] == Status.COMPLETED) & (trial.isna() | (trial == TrialState.COMPLETED)) & ~infeasible


def trial_states(runs: pd.DataFrame) -> pd.Series:
    """Each run's trial's state (TrialState), None for a run that was no search trial's seed."""
    return runs["trial_state"] if "trial_state" in runs else pd.Series(None, index=runs.index, dtype=object)


def unsuccessful_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that did not complete cleanly (failed, diverged, interrupted, pruned,
    unfinished, or with damaged files), with a `reason` column saying why."""

    def reason(r):
        if isinstance(r["error"], str):
            return r["error"]
        if isinstance(r["problem"], str):
            return r["problem"]
        if r["status"] == Status.DIVERGED:
            return "loss became NaN, infinite or exploded (diverge_factor)"
        if r["status"] in (Status.COMPLETED, Status.PRUNED) and of_a_lost_trial(r):
            return trial_reason(r)
        if r["status"] == Status.PRUNED:
            return f"pruned by the search after epoch {r['epochs_completed']:.0f}"
        if r["status"] == Status.PAUSED:
            return f"paused after epoch {r['epochs_completed']:.0f} by successive halving; resume=true goes on"
        if r["status"] == Status.COMPLETED:  # what rankable() left out
            return f"its {RANK_BY} ({r[RANK_BY]}) is not a finite number"
        return "stopped by Ctrl-C or SIGTERM" if r["status"] == Status.INTERRUPTED else ""

    bad = runs[(runs["status"] != Status.COMPLETED) | runs["problem"].notna() | ~runs.index.isin(rankable(runs).index)]
    return bad.assign(reason=[reason(r) for _, r in bad.iterrows()])


def of_a_lost_trial(r) -> bool:
    """True for a run (a row of load_runs) that was a seed of a search trial pruned, failed or infeasible."""
    return isinstance(r.get("trial_state"), str) and (
        r["trial_state"] != TrialState.COMPLETED or isinstance(r.get("trial_infeasible"), str)
    )


def pruned_by_the_search(runs: pd.DataFrame) -> pd.Series:
    """Which runs a search or a grid's pruner stopped, or that were seeds of a trial it pruned."""
    return (runs["status"] == Status.PRUNED) | (trial_states(runs) == TrialState.PRUNED)


def trial_reason(r) -> str:
    """Why a search trial's seed is not ranked: its trial's fate (experiments/sweep/trials.py)."""
    if isinstance(r.get("trial_infeasible"), str) and r["trial_state"] == TrialState.COMPLETED:
        return f"trial {r['trial']:.0f} infeasible: {r['trial_infeasible']}"
    if r["trial_state"] == TrialState.PRUNED:
        at = r["trial_pruned_at"]
        epoch = f" after epoch {at:.0f}" if isinstance(at, (int, float)) and at == at else ""
        ran = "its seeds judged together; this seed " + (
            "stopped there" if r["status"] == Status.PRUNED else f"had run {r['epochs_completed']:.0f} epoch(s)"
        )
        return f"trial {r['trial']:.0f} pruned by the search{epoch} ({ran})"
    return f"trial {r['trial']:.0f} failed (another of its seeds failed, or recorded no finite objective)"


def amount(count: int, noun: str) -> str:
    """'1 run', '2 runs', '0 runs': a count with its noun, as every table's title says it."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def shared_folder(runs: pd.DataFrame) -> str:
    """The folder every run of `runs` is in (a lone run: its own folder)."""
    return os.path.commonpath(list(runs["run"])) if len(runs) > 1 else runs["run"].iloc[0]


def with_short_run_names(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """`table` with its `run` column relative to the folder all of `runs` share, so that a
    table stays narrow (the shared folder is said in its title)."""
    if len(runs) < 2 or "run" not in table:
        return table
    common = shared_folder(runs)
    return table.assign(run=[os.path.relpath(r, common) for r in table["run"]])


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
