"""Figures of runs: learning curves per configuration (mean over seeds with a
band), and a heatmap for a grid over two hyperparameters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.results.ranking import (
    NOT_A_CONFIGURATION,
    RANK_BY,
    UNSET,
    amount,
    one_run_per_seed,
    shared_folder,
    value_order,
    varying_hyperparameters,
)
from nn_core.atomic import write_atomically


def save_figure(fig, path, **options) -> None:
    """Write a matplotlib figure to `path` whole or not at all (a full disk leaves no half
    a PNG), and close it. Options go to savefig (dpi, bbox_inches)."""
    import matplotlib.pyplot as plt

    try:
        write_atomically(path, lambda f: fig.savefig(f, format=Path(path).suffix.lstrip(".") or "png", **options))
    finally:
        plt.close(fig)


def configuration_labels(runs: pd.DataFrame, varying: list[str]) -> dict:
    """Each run's configuration as a label (run folder -> "key=value, ..." for each hyperparameter
    that varies): numbers to 3 significant digits, or as many more as tell a key's values apart
    (a search's lr=0.012345 and 0.012349 are two lines, never one drawn as their mean)."""
    digits = {k: _digits_apart(runs[k]) for k in varying}
    shown = {k: [_shown(v, digits[k]) for v in runs[k]] for k in varying}
    return {
        run: ", ".join(f"{k}={shown[k][i]}" for k in varying) or "one configuration"
        for i, run in enumerate(runs["run"])
    }


def _shown(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return UNSET  # a setting the run does not have, as every reader says it
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _digits_apart(values: pd.Series) -> int:
    """The significant digits, from 3, that write each distinct float of `values` differently."""
    numbers = {v for v in values if isinstance(v, float) and v == v}  # NaN (unset) aside
    return next((d for d in range(3, 17) if len({f"{v:.{d}g}" for v in numbers}) == len(numbers)), 17)


LEGEND_MAX = 12  # configurations named in a legend; more are drawn but left unnamed
LEGEND_INSIDE = 40  # labels up to this long go in a corner of the axes; longer ones below the figure
# tab10 without its grey (the faint lines') and olive (too near its green), then black and gold,
# which no tab10 colour is near: twelve configurations (LEGEND_MAX, those a legend names) each get a
# colour of their own; beyond, the colours come round again, dashed, then dotted.
COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:cyan",
           "black", "goldenrod", "lime", "navy"]  # fmt: skip
DASHES = ["-", "--", ":"]


def line_style(rank: int) -> dict:
    """The colour and dash of the configuration ranked `rank` (0 = the best)."""
    return {"color": COLOURS[rank % len(COLOURS)], "linestyle": DASHES[rank // len(COLOURS) % len(DASHES)]}


def _draw_curves(axes, curves: pd.DataFrame, order: list, highlighted) -> None:
    """One line per configuration label in `curves` on the accuracy and loss axes:
    the mean over seeds with a min-max band, styled by its rank in `order`; labels
    not in `highlighted` faint and grey, drawn together as one collection (10,000
    configurations: 2 s, not 80 as a line each)."""
    from matplotlib.collections import LineCollection

    rank = {label: i for i, label in enumerate(order)}
    metrics = ["val_acc", "val_loss"]
    by_epoch = curves.groupby(["label", "epoch"], sort=True)[metrics].agg(["mean", "min", "max"])
    seeds = curves.groupby("label")["run"].nunique()
    if by_epoch.empty:  # runs without a finished epoch (failed as they began): no curve to draw
        return
    labels = by_epoch.index.get_level_values("label").to_numpy()
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])  # each label's first row (sorted by label)
    rows = dict(zip(labels[starts], zip(starts, [*starts[1:], len(labels)])))
    all_epochs = by_epoch.index.get_level_values("epoch").to_numpy(dtype=float)
    for ax, metric in zip(axes, metrics):
        means = by_epoch[(metric, "mean")].to_numpy(dtype=float)
        faint = [
            np.column_stack([all_epochs[a:b], means[a:b]]) for label, (a, b) in rows.items() if label not in highlighted
        ]
        if faint:
            ax.add_collection(LineCollection(faint, colors="0.75", linewidths=0.8, zorder=0))
            ax.autoscale_view()
        for label, (a, b) in rows.items():
            if label not in highlighted:
                continue
            table = by_epoch.iloc[a:b]
            epochs = table.index.get_level_values("epoch")
            style = {"marker": "." if len(epochs) <= 30 else None, "label": label, **line_style(rank[label])}
            (line,) = ax.plot(epochs, table[(metric, "mean")], **style)
            if seeds[label] > 1:
                ax.fill_between(
                    epochs, table[(metric, "min")], table[(metric, "max")], color=line.get_color(), alpha=0.2
                )


def plot(runs: pd.DataFrame, history: pd.DataFrame, path, top: int | None = None, facet: str | None = None) -> None:
    """Validation accuracy and loss against epoch, one line per configuration
    (the mean over its seeds, with a band from the lowest to the highest seed),
    labelled by the hyperparameters that vary; for a grid over exactly two
    hyperparameters, a heatmap of best validation accuracy (seed means).

    top : draw only the N best configurations (by mean best_val_acc) in colour, the rest faint
        (by default all of them, or the best 8 when there are more than a legend holds).
    facet : one row of plots per value of this hyperparameter (no heatmap then).
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    varying = varying_hyperparameters(runs)
    configuration = [c for c in varying if c not in NOT_A_CONFIGURATION and c != facet]
    labels = configuration_labels(runs, configuration)
    curves = history.assign(label=history["run"].map(labels))
    order = ranked_labels(runs, labels)
    if top is None and len(order) > LEGEND_MAX:  # too many to tell apart: the best in colour, the rest grey
        top = len(COLOURS)
    highlighted = set(order[:top] if top else order)
    grid = None if facet else _grid(runs, varying)
    panels = sorted(runs[facet].dropna().unique().tolist(), key=value_order) if facet else [None]
    columns = 3 if grid is not None else 2
    best = f"best {top} of {len(order)}" if top and top < len(order) else None
    legend_entries = {}  # label -> line, of every row
    fig, axes = plt.subplots(len(panels), columns, figsize=(5.5 * columns, 4.2 * len(panels)), squeeze=False)
    for row, value in zip(axes, panels):
        runs_here = set(runs["run"] if value is None else runs.loc[runs[facet] == value, "run"])
        _draw_curves(row, curves[curves["run"].isin(runs_here)], order, highlighted)
        for ax, name in zip(row, ("validation accuracy", "validation loss")):
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            if value is not None:
                ax.set_title(f"{facet}={value}")
        drawn_here = set(curves.loc[curves["run"].isin(runs_here), "label"])
        named = [label for label in order if label in highlighted and label in drawn_here]
        handles, texts = row[0].get_legend_handles_labels()
        legend_entries.update((t, h) for t, h in zip(texts, handles) if t in named)
        if 0 < len(named) <= LEGEND_MAX and max(map(len, named)) <= LEGEND_INSIDE:
            row[0].legend([legend_entries[t] for t in named], named, fontsize="small", loc="lower right", title=best)
    if grid is not None:
        _draw_heatmap(fig, axes[0][2], grid, runs)
    fig.suptitle(title(runs))
    fig.tight_layout()
    named = [label for label in order if label in legend_entries]
    if 0 < len(named) <= LEGEND_MAX and max(map(len, named)) > LEGEND_INSIDE:  # below the figure, not on the curves
        fig.legend(
            [legend_entries[t] for t in named], named, fontsize="small", title=best,
            loc="upper left", bbox_to_anchor=(0.02, 0.0),
        )  # fmt: skip
    save_figure(fig, path, dpi=110, bbox_inches="tight")  # a legend below the axes included


def ranked_labels(runs: pd.DataFrame, labels: dict) -> list[str]:
    """The configurations' labels (labels: run folder -> its label), best mean RANK_BY first."""
    scored = runs.assign(label=runs["run"].map(labels), score=pd.to_numeric(runs[RANK_BY]))
    return scored.groupby("label")["score"].mean().sort_values(ascending=False).index.tolist()


CELL_TEXT_MAX = (
    8  # columns (or 2.5x as many rows) up to which each cell's value is written on it: beyond, it does not fit
)
TICK_LABELS_MAX = 12  # values labelled on a heatmap's axis; with more, every k-th


def _ticks(count: int) -> range:
    """The positions of an axis of `count` values that get a label: all, or every k-th."""
    return range(0, count, max(1, math.ceil(count / TICK_LABELS_MAX)))


def _draw_heatmap(fig, ax, grid: pd.DataFrame, runs: pd.DataFrame) -> None:
    """grid (values of one hyperparameter x values of another) of mean best scores, each cell's
    value written on it where it fits (at most CELL_TEXT_MAX columns); the column labels turned
    when there are many, and thinned to TICK_LABELS_MAX per axis."""
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    columns, rows = _ticks(grid.shape[1]), _ticks(grid.shape[0])
    turned = (
        grid.shape[1] > 6
        or max((len(f"{c:g}" if isinstance(c, float) else str(c)) for c in grid.columns), default=0) > 6
    )
    ax.set_xticks(list(columns), [_tick(grid.columns[i]) for i in columns], rotation=45 if turned else 0,
                  ha="right" if turned else "center")  # fmt: skip
    ax.set_yticks(list(rows), [_tick(grid.index[i]) for i in rows])
    ax.set_xlabel(grid.columns.name)
    ax.set_ylabel(grid.index.name)
    seeds = (
        one_run_per_seed(runs, by=[*grid.index.names, grid.columns.name])
        .groupby([*grid.index.names, grid.columns.name], dropna=False)
        .size()
        .max()
    )  # distinct seeds: a seed run again (reproduced) is one seed
    ax.set_title(f"best {RANK_BY.replace('best_', '')}" + (f", mean of {seeds} seeds" if seeds > 1 else ""))
    fig.colorbar(image, ax=ax)
    if grid.shape[1] > CELL_TEXT_MAX or grid.shape[0] > 2.5 * CELL_TEXT_MAX:  # the colour bar says them
        return
    middle = (image.norm.vmin + image.norm.vmax) / 2  # dark text on the light (yellow) half of viridis
    for (i, j), value in pd.DataFrame(grid.to_numpy(dtype=float)).stack().items():
        colour = "k" if value > middle else "w"
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", color=colour, fontsize="small")


def _tick(value) -> str:
    """A heatmap axis's label: 0.001 rather than 0.0010000000000000002."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def title(runs: pd.DataFrame) -> str:
    """What the figure shows: the folder the runs share, how many, on what data."""
    folder = shared_folder(runs)
    data = ", ".join(sorted(runs["data_used"].dropna().astype(str).unique())) or "?"
    return f"{folder}: {amount(len(runs), 'run')} on {data}"


def _grid(runs: pd.DataFrame, varying: list[str]) -> pd.DataFrame | None:
    """Best validation accuracy over a grid of exactly two hyperparameters
    (besides seeds), the mean over seeds in each cell."""
    keys = [c for c in varying if c not in NOT_A_CONFIGURATION]
    if len(keys) != 2:
        return None
    rows, cols = keys
    values = one_run_per_seed(runs, by=keys)  # a seed run again counts once, as in compare's table
    values = values.assign(**{RANK_BY: pd.to_numeric(values[RANK_BY])})
    # Failed or diverged cells stay in the grid, as blanks.
    return (
        values.pivot_table(index=rows, columns=cols, values=RANK_BY, aggfunc="mean", dropna=False)
        .sort_index()
        .sort_index(axis=1)
    )
