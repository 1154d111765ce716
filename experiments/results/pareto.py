"""The Pareto front of runs over several objectives: the completed runs that no other beats
in every one (python -m experiments.compare SWEEP --pareto best_val_acc=max,parameters=min).

A multi-objective search prints its own front at its end (experiments/sweep/search/answer.py);
this one is read from the run folders, so it works on any runs: a grid, a search, several
sweeps at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.results.ranking import amount
from experiments.run.record import RESULT_FIELDS

WAYS = {"max": "maximize", "min": "minimize"}
NUMBERS = [f.name for f in RESULT_FIELDS if f.numeric and not f.name.startswith("test_")]  # never chosen on test


def objectives_of(text: str) -> list[tuple[str, str]]:
    """'best_val_acc=max,parameters=min' -> [(column, 'max'), ...]; ValueError naming what is wrong."""
    objectives = []
    for part in text.split(","):
        column, _, way = part.partition("=")
        if column not in NUMBERS:
            raise ValueError(f"{column!r} is not a number runs record that it can use: {', '.join(NUMBERS)}")
        if way not in WAYS:
            raise ValueError(f"{part!r}: say which way each is better, {column}=max or {column}=min")
        objectives.append((column, way))
    if len(objectives) < 2 or len({c for c, _ in objectives}) < len(objectives):
        raise ValueError("a Pareto front needs two or more different objectives, e.g. best_val_acc=max,parameters=min")
    return objectives


def front(runs: pd.DataFrame, objectives: list[tuple[str, str]]) -> pd.DataFrame:
    """The runs of `runs` with every objective a finite number that no other such run beats in
    every objective (at least as good in all, better in one), best first in the first objective."""
    columns = [column for column, _ in objectives]
    scored = runs.dropna(subset=columns)
    scored = scored[np.isfinite(scored[columns].to_numpy(dtype=float)).all(axis=1)]
    # As costs: lower is better in every column.
    costs = scored[columns].to_numpy(dtype=float) * [1.0 if way == "min" else -1.0 for _, way in objectives]
    kept = np.ones(len(costs), dtype=bool)
    for i, point in enumerate(costs):
        beaten = (costs <= point).all(axis=1) & (costs < point).any(axis=1)
        kept[i] = not beaten.any()
    first, way = objectives[0]
    return scored[kept].sort_values(first, ascending=way == "min", kind="stable")


def in_words(objectives: list[tuple[str, str]]) -> str:
    """[('best_val_acc', 'max'), ('parameters', 'min')] -> 'best_val_acc (max), parameters (min)'."""
    return ", ".join(f"{column} ({way})" for column, way in objectives)


def counted(completed: pd.DataFrame, on_front: pd.DataFrame) -> str:
    """'3 of 8 completed runs, none beaten in every objective by another': what compare and the report say."""
    return f"{len(on_front)} of {amount(len(completed), 'completed run')}, none beaten in every objective by another"


def front_table(runs: pd.DataFrame, on_front: pd.DataFrame, objectives: list[tuple[str, str]]) -> pd.DataFrame:
    """The front's runs with what tells them apart: the hyperparameters `runs` vary in, the
    objectives, and each run's folder by its own name."""
    from experiments.results.ranking import varying_hyperparameters, with_short_run_names

    shown = [*varying_hyperparameters(runs), *(column for column, _ in objectives), "run"]
    return with_short_run_names(on_front[shown], runs).reset_index(drop=True)


def plot_front(runs: pd.DataFrame, on_front: pd.DataFrame, objectives: list[tuple[str, str]], path: Path) -> None:
    """The runs as points over the first two objectives, the front's joined by a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.results.figures import save_figure

    (x, x_way), (y, y_way) = objectives[:2]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.scatter(runs[x], runs[y], s=14, color="0.7", label=f"runs ({len(runs)})")
    ordered = on_front.sort_values(x)
    ax.plot(ordered[x], ordered[y], "o-", color="C3", markersize=5, label=f"Pareto front ({len(on_front)})")
    ax.set_xlabel(f"{x} ({'higher' if x_way == 'max' else 'lower'} is better)")
    ax.set_ylabel(f"{y} ({'higher' if y_way == 'max' else 'lower'} is better)")
    ax.set_title("Runs no other run beats in both")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
