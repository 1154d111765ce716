"""Runs into tables a person reads (the runs come from runs.py's load_runs): the settings that
vary, configurations grouped over their seeds with their mean and 95% interval, the ranking and
leaderboard, Welch's t-test against the best, the runs not ranked and why, and the notes a
table needs (mixed code, libraries or data)."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

import pandas as pd

from experiments.results.runs import PROVENANCE_COLUMNS
from experiments.run.config_rules import NOT_HYPERPARAMETERS
from experiments.run.files import Status
from experiments.run.record import BOARD_COLUMNS, RESULT_COLUMNS, TrialState

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
    broke the search's constraints (its fate in its result.json: experiments/sweep/search/trials.py)."""
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
    """Why a search trial's seed is not ranked: its trial's fate (experiments/sweep/search/trials.py)."""
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


def any_failed(runs) -> bool:
    """A sweep none of whose jobs wrote a run, or one of whose jobs failed or ended without a
    readable result.json (a full disk): not all succeeded."""
    return runs.empty or runs["status"].isin([Status.FAILED, Status.INCOMPLETE, Status.BROKEN]).any()
