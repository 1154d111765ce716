"""What a sweep or search learned about its hyperparameters: how much each one
mattered to the best validation accuracy (Optuna's PED-ANOVA importance, its
default; or fANOVA's, with its spread over several forests), and every run drawn
across them (parallel coordinates, coloured by validation accuracy).

Both read the completed runs of a table from experiments.results.runs, whether
a grid or an Optuna search made them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.results.figures import save_figure
from experiments.results.ranking import RANK_BY, as_text, configuration_keys, rankable, value_order
from experiments.results.runs import default_stops, usable_cores

IMPORTANCE_METHODS = ("ped-anova", "fanova")  # Optuna's evaluators; the first, Optuna 5's default, is ours
IMPORTANCE_SEEDS = 5  # fANOVA forests, each from its own seed: the spread of the importance
MIN_RUNS = 4  # fewer completed runs say nothing about importance


def importance_heading(method: str = IMPORTANCE_METHODS[0]) -> str:
    """What importance()'s table is, as every place that shows it says it."""
    if method == "fanova":
        return (
            f"how much each hyperparameter mattered to {RANK_BY} (fANOVA importance: its share of the variance, "
            f"the mean and range over {IMPORTANCE_SEEDS} forests)"
        )
    return (
        f"how much each hyperparameter mattered to {RANK_BY} (PED-ANOVA importance, Optuna's default: how "
        "differently its values are spread among the best 10% of runs than among all; the shares sum to 1)"
    )


def searched(runs: pd.DataFrame) -> list[str]:
    """The hyperparameters of the completed runs: the settings that vary among them (the seed and
    keys that are not hyperparameters aside), less those that are not hyperparameters of their own:
    one that has one value wherever it is set (optimizer.momentum, 0.9 under every optimizer that
    takes it and absent under sgd, only repeats the optimizer), and one whose value the data set
    decides (its sizes, its epochs), which is the data set's (data.name)."""
    done = rankable(runs)
    if not len(done):
        return []
    keys = [key for key in configuration_keys(done) if as_text(done[key][done[key].notna()]).nunique() > 1]
    if "data.name" in keys:
        data = as_text(done["data.name"])
        keys = [k for k in keys if k == "data.name" or as_text(done[k]).groupby(data).nunique().max() > 1]
    return keys


def import_fanova() -> None:
    """Import what importance() uses: Optuna's importance evaluators, with scikit-learn (about
    1.5 s), for example while runs are read in other processes (load_runs' `meanwhile`)."""
    import optuna.importance  # noqa: F401


def importance(runs: pd.DataFrame, method: str = IMPORTANCE_METHODS[0]) -> pd.DataFrame | None:
    """How much each hyperparameter (searched()) mattered to best_val_acc, by Optuna's
    PED-ANOVA (optuna.importance.PedAnovaImportanceEvaluator: one number each) or fANOVA
    (FanovaImportanceEvaluator: each one's share of the variance, the mean and the spread, min
    to max, over IMPORTANCE_SEEDS forests); None with fewer than MIN_RUNS completed runs, no
    hyperparameter, or no variance to share (every run scored the same)."""
    import optuna

    done, keys = rankable(runs), searched(runs)
    if len(done) < MIN_RUNS or not keys or pd.to_numeric(done[RANK_BY]).nunique() < 2:
        return None
    distributions, columns = {}, {}
    for key in keys:
        numeric = pd.to_numeric(done[key], errors="coerce")
        if numeric.notna().all() and numeric.nunique() > 1:
            columns[key] = numeric.astype(float).tolist()
            distributions[key] = optuna.distributions.FloatDistribution(float(numeric.min()), float(numeric.max()))
        else:
            text = as_text(done[key])
            columns[key] = text.tolist()
            distributions[key] = optuna.distributions.CategoricalDistribution(sorted(text.unique()))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    scores = pd.to_numeric(done[RANK_BY]).astype(float).tolist()
    study.add_trials(
        optuna.trial.create_trial(params={key: columns[key][i] for key in keys}, distributions=distributions, value=v)
        for i, v in enumerate(scores)
    )
    if method == "fanova":
        draws = pd.DataFrame(forest_importances(study, range(IMPORTANCE_SEEDS)))
        table = pd.DataFrame({"importance": draws.mean(), "min": draws.min(), "max": draws.max()})
    else:
        from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

        table = pd.DataFrame({"importance": get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())})
    table.index.name = "hyperparameter"
    return table.sort_values("importance", ascending=False)


FORESTS_IN_PARALLEL_FROM = 10  # completed runs; fewer are as quick in this process as in forked ones


def forest_importances(study, seeds) -> list[dict]:
    """fANOVA's importances from one forest per seed. The forests are independent, so from
    FORESTS_IN_PARALLEL_FROM runs on they are grown by one process per core, forked from this one:
    the same numbers (each forest is its seed's), sooner (on 2 cores, 3 hyperparameters: 10 runs
    0.77 s instead of 0.92, 40 runs 0.97 s instead of 1.47, 1,000 runs 30 s instead of 52)."""
    cores = usable_cores()
    if len(study.trials) < FORESTS_IN_PARALLEL_FROM or cores < 2:
        return [_forest(seed, study) for seed in seeds]
    import multiprocessing

    # Forked, each worker has the study already (Pool's initargs are not pickled under fork).
    with multiprocessing.get_context("fork").Pool(min(cores, len(seeds)), _keep, (study,)) as pool:
        return pool.map(_forest, seeds, chunksize=1)


_study = None  # a forked worker's study (forest_importances)


def _keep(study) -> None:
    """A forked worker's start: the study, and the default stop signals (runs.default_stops)."""
    global _study
    _study = study
    default_stops()


def _forest(seed: int, study=None) -> dict:
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    return get_param_importances(study or _study, evaluator=FanovaImportanceEvaluator(seed=seed))


AXIS_LABELS = 6  # values labelled on a numeric axis with more distinct values than this: this many, evenly spread


def plot_parallel_coordinates(runs: pd.DataFrame, path) -> bool:
    """Every configuration of the completed runs as a line across the searched
    hyperparameters, coloured by its best validation accuracy (the mean over its seeds:
    one line per configuration, not one per seed drawn over each other), the best on top.
    Each axis has its own scale: numbers from their lowest to their highest value (a
    range over 20x wide, a learning rate's, on a log scale), choices evenly spaced in
    their natural order. False when there is nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    done, keys = rankable(runs), searched(runs)
    if not len(done) or not keys:
        return False
    configurations = (
        done.assign(**{RANK_BY: pd.to_numeric(done[RANK_BY])})
        .groupby([as_text(done[k]).rename(k) for k in keys], sort=False)
        .agg(**{k: (k, "first") for k in keys}, score=(RANK_BY, "mean"), seeds=(RANK_BY, "size"))
        .reset_index(drop=True)
        .sort_values("score")  # the best last, so on top
    )
    positions, labels, names = {}, {}, {}
    for key in keys:
        positions[key], labels[key], names[key] = axis(configurations[key], key)
    scores = configurations["score"].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(max(7.0, 2.0 * len(keys) + 2.5), 4.8))
    colours = plt.get_cmap("viridis")((scores - scores.min()) / (np.ptp(scores) or 1))
    x = np.arange(len(keys))
    heights = np.column_stack([positions[k] for k in keys])  # a configuration a row, in drawing order
    lines = [np.column_stack([x, row]) for row in heights]  # one collection: 10,000 lines in a second, not 20
    ax.add_collection(LineCollection(lines, colors=colours, alpha=0.85, linewidths=1.4, zorder=2))
    if len(keys) == 1:  # a line across one axis is a point
        ax.scatter(np.zeros(len(heights)), heights[:, 0], color=colours, s=14, zorder=2)
    for i, key in enumerate(keys):
        ax.axvline(i, color="0.6", linewidth=0.8, zorder=1)
        for y, text in labels[key]:  # left of the axis, on white, above the lines
            ax.text(i - 0.04, y, text, fontsize="small", va="center", ha="right", zorder=3,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1, "alpha": 0.85})  # fmt: skip
    ax.set_xticks(x, [names[k] for k in keys])
    ax.set_yticks([])
    ax.set_ylim(-0.06, 1.06)
    ax.set_xlim(-0.6, len(keys) - 0.6)
    mappable = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(scores.min(), scores.max()))
    seeds = " (mean over seeds)" if (configurations["seeds"] > 1).any() else ""
    fig.colorbar(mappable, ax=ax, label=f"{RANK_BY}{seeds}")
    fig.suptitle(f"{len(configurations)} configurations, {len(done)} completed runs", fontsize="medium")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    return True


def axis(values: pd.Series, key: str) -> tuple[np.ndarray, list[tuple[float, str]], str]:
    """One parallel-coordinates axis: each value's height (0 to 1), the labelled heights,
    and the axis's name (with "(log)" on a log scale)."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        low, high = float(numeric.min()), float(numeric.max())
        wide = low > 0 and high / low >= 20
        scale = np.log10 if wide else (lambda v: np.asarray(v, dtype=float))
        span = float(scale(high) - scale(low))
        height = (
            (lambda v: (scale(v) - scale(low)) / span) if span else (lambda v: np.asarray(v, dtype=float) * 0 + 0.5)
        )
        distinct = np.unique(numeric.to_numpy(dtype=float))
        if len(distinct) > AXIS_LABELS:  # evenly spread on the axis's own scale
            spread = np.linspace(scale(low), scale(high), AXIS_LABELS)
            distinct = 10**spread if wide else spread
        return (
            height(numeric.to_numpy(dtype=float)),
            [(float(height(v)), f"{v:.3g}") for v in distinct],
            (f"{key} (log)" if wide else key),
        )
    text = as_text(values)
    choices = sorted(text.unique(), key=value_order)
    where = {c: i / max(len(choices) - 1, 1) for i, c in enumerate(choices)}
    return text.map(where).to_numpy(dtype=float), [(where[c], c) for c in choices], key
