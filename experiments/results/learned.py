"""What a sweep or search learned about its hyperparameters: how much each one
mattered to the best validation accuracy (Optuna's fANOVA importance, with its
spread over several forests), and every run drawn across them (parallel
coordinates, coloured by validation accuracy).

Both read the completed runs of a table from experiments.results.runs, whether
a grid or an Optuna search made them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.results.figures import save_figure
from experiments.results.runs import NOT_A_CONFIGURATION, RANK_BY, as_text, rankable, varying_hyperparameters

IMPORTANCE_SEEDS = 5  # fANOVA forests, each from its own seed: the spread of the importance
MIN_RUNS = 4  # fewer completed runs say nothing about importance


def searched(runs: pd.DataFrame) -> list[str]:
    """The hyperparameters that vary among the completed runs (the seed and keys that are not hyperparameters aside)."""
    done = rankable(runs)
    return [c for c in varying_hyperparameters(done) if c not in NOT_A_CONFIGURATION] if len(done) else []


def importance(runs: pd.DataFrame) -> pd.DataFrame | None:
    """Each searched hyperparameter's share of the variance of best_val_acc (fANOVA,
    optuna.importance.FanovaImportanceEvaluator), as the mean and the spread (min to max)
    over IMPORTANCE_SEEDS forests; None with fewer than MIN_RUNS completed runs or no
    hyperparameter that varies."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    done, keys = rankable(runs), searched(runs)
    if len(done) < MIN_RUNS or not keys:
        return None
    distributions, columns = {}, {}
    for key in keys:
        numeric = pd.to_numeric(done[key], errors="coerce")
        if numeric.notna().all() and numeric.nunique() > 1:
            columns[key] = numeric.astype(float)
            distributions[key] = optuna.distributions.FloatDistribution(float(numeric.min()), float(numeric.max()))
        else:
            columns[key] = as_text(done[key])
            distributions[key] = optuna.distributions.CategoricalDistribution(sorted(columns[key].unique()))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for i, score in enumerate(done[RANK_BY]):
        params = {key: columns[key].iloc[i] for key in keys}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=float(score)))
    draws = pd.DataFrame(
        [
            get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))
            for seed in range(IMPORTANCE_SEEDS)
        ]
    )
    table = pd.DataFrame({"importance": draws.mean(), "min": draws.min(), "max": draws.max()})
    table.index.name = "hyperparameter"
    return table.sort_values("importance", ascending=False)


def plot_parallel_coordinates(runs: pd.DataFrame, path) -> bool:
    """Every completed run as a line across the searched hyperparameters (each axis its
    own scale: numbers from their lowest to their highest value, choices evenly spaced),
    coloured by best validation accuracy, the best drawn on top. False when there is
    nothing to draw (no completed run, or no hyperparameter that varies)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done, keys = rankable(runs), searched(runs)
    if not len(done) or not keys:
        return False
    done = done.sort_values(RANK_BY)  # the best last, so on top
    positions, labels = {}, {}
    for key in keys:
        numeric = pd.to_numeric(done[key], errors="coerce")
        if numeric.notna().all():
            low, high = numeric.min(), numeric.max()
            wide = low > 0 and high / low >= 20  # a learning rate's range: drawn on a log scale
            scale = np.log10 if wide else (lambda v: v)
            span = scale(high) - scale(low)
            positions[key] = (scale(numeric) - scale(low)) / span if span else numeric * 0 + 0.5
            labels[key] = [(0.0, f"{low:.3g}"), (1.0, f"{high:.3g}" + (" (log)" if wide else ""))]
        else:
            choices = sorted(as_text(done[key]).unique())
            where = {c: i / max(len(choices) - 1, 1) for i, c in enumerate(choices)}
            positions[key] = as_text(done[key]).map(where)
            labels[key] = [(where[c], c) for c in choices]
    scores = pd.to_numeric(done[RANK_BY]).to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.8 * len(keys) + 2), 4.5))
    colours = plt.get_cmap("viridis")((scores - scores.min()) / (np.ptp(scores) or 1))
    x = np.arange(len(keys))
    for row, colour in zip(np.column_stack([positions[k].to_numpy(dtype=float) for k in keys]), colours):
        ax.plot(x, row, color=colour, alpha=0.8, linewidth=1.2)
    for i, key in enumerate(keys):
        ax.axvline(i, color="0.6", linewidth=0.8)
        for y, text in labels[key]:
            ax.text(i + 0.03, y, text, fontsize="small", va="center")
    ax.set_xticks(x, keys)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(keys) - 0.6)
    mappable = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(scores.min(), scores.max()))
    fig.colorbar(mappable, ax=ax, label=RANK_BY)
    ax.set_title(f"{len(done)} completed runs across the hyperparameters that varied")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    return True
