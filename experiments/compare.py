"""Compare runs: a leaderboard, a CSV and learning curves from run directories.

    python -m experiments.compare runs/multirun/2026-11-25_10-45-00_654321
    python -m experiments.compare runs --csv board.csv --plot curves.png

From Python, `load_runs(path)` gives one row per run and `load_history(path)`
one row per run and epoch; `path` may be one run, a sweep, or runs/ as a whole.
Runs that are unfinished or broken are kept, with the reason in `problem`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import warnings
from pathlib import Path

import pandas as pd

from experiments.run_files import METRICS_COLUMNS, Status

RESULT_COLUMNS = [
    "status", "data_used", "n_train", "best_val_acc", "final_val_acc", "test_acc", "test_loss", "epochs_completed",
    "best_epoch", "stopped_early", "wall_time_s", "error",
]
NUMERIC_RESULTS = [
    "best_val_acc", "final_val_acc", "test_acc", "test_loss", "epochs_completed", "best_epoch", "wall_time_s",
]
RANK_BY = "best_val_acc"
STILL_RUNNING_S = 120  # a run without result.json whose metrics changed this recently is running


def find_run_dirs(path) -> list[Path]:
    """Every directory under `path` (or `path` itself) that a run wrote into."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run, sweep or folder")
    markers = ("metrics.csv", "result.json", ".hydra/config.yaml")
    dirs = {p.parent for marker in markers[:2] for p in path.rglob(marker)}
    dirs |= {p.parent.parent for p in path.rglob(markers[2])}
    return sorted(dirs)


def _read_history(run_dir: Path) -> tuple[pd.DataFrame | None, str | None]:
    """metrics.csv as a DataFrame of complete rows, and what is wrong with it, if anything."""
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return None, "no metrics.csv"
    try:
        history = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        return None, f"metrics.csv is unreadable ({type(e).__name__}: {str(e).strip()[:80]})"
    missing = [c for c in METRICS_COLUMNS if c not in history.columns]
    if missing:
        return None, f"metrics.csv lacks columns {', '.join(missing)}"
    numeric = history[METRICS_COLUMNS].apply(pd.to_numeric, errors="coerce")
    # NaN losses are a diverged run's honest record; a missing epoch or accuracy is damage.
    complete = numeric[["epoch", "train_acc", "val_acc", "epoch_time_s"]].notna().all(axis=1)
    problem = None
    if not complete.all():
        problem = f"metrics.csv has {int((~complete).sum())} damaged or truncated row(s), left out"
    return numeric[complete].astype({"epoch": int}), problem


def _read_result(run_dir: Path) -> tuple[dict, str | None]:
    path = run_dir / "result.json"
    if not path.is_file():
        metrics = run_dir / "metrics.csv"
        if metrics.is_file() and time.time() - metrics.stat().st_mtime < STILL_RUNNING_S:
            return {"status": Status.RUNNING}, "no result.json yet: still running"
        return {"status": Status.INCOMPLETE}, "no result.json: the run stopped before finishing (killed, or still starting)"
    try:
        result = json.loads(path.read_text())
        if not isinstance(result, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:  # ValueError: bad JSON or bad UTF-8
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


def _hyperparameters(run_dir: Path, result: dict) -> dict:
    if isinstance(result.get("hyperparameters"), dict):
        config = result["hyperparameters"]
    else:
        try:
            from omegaconf import OmegaConf

            config = OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "config.yaml"))
        except Exception:  # no or damaged snapshot: the run is still listed, without its config
            return {}
    flat = pd.json_normalize(config, sep=".").iloc[0].to_dict()
    # Lists (hidden=[256,128]) become text so that columns can be compared and grouped.
    return {k: str(v).replace(" ", "") if isinstance(v, list) else v for k, v in flat.items()}


def _inspect(run_dir: Path) -> tuple[dict, dict, pd.DataFrame | None]:
    """A run's summary row, its hyperparameters, and its metrics (None if unreadable)."""
    result, result_problem = _read_result(run_dir)
    history, history_problem = _read_history(run_dir)
    row = {"run": str(run_dir), **{k: result.get(k) for k in RESULT_COLUMNS}}
    if isinstance(result.get("data"), dict):  # what the run trained on, which a fallback may have changed
        row["data_used"], row["n_train"] = result["data"].get("name"), result["data"].get("n_train")
    if history is not None and len(history) and row["status"] in (Status.RUNNING, Status.INCOMPLETE, Status.BROKEN):
        # an unfinished run still has curves; its best epoch is, as in result.json, the lowest validation loss
        row["best_val_acc"] = history["val_acc"].loc[history["val_loss"].idxmin()] if history["val_loss"].notna().any() else None
        row["final_val_acc"] = history["val_acc"].iloc[-1]
        row["epochs_completed"] = len(history)
    row["problem"] = "; ".join(p for p in (result_problem, history_problem) if p) or None
    return row, _hyperparameters(run_dir, result), history


def _run_dirs(paths):
    return [run_dir for path in paths for run_dir in find_run_dirs(path)]


def load_runs(*paths) -> pd.DataFrame:
    """One row per run: `run` (its directory), the result.json fields, every
    hyperparameter as a column (nested keys as `data.name`), and `problem`."""
    rows, columns = [], {}
    for run_dir in _run_dirs(paths):
        row, hyperparameters, _ = _inspect(run_dir)
        rows.append({**row, **hyperparameters})
        columns.update(dict.fromkeys(hyperparameters))
    return pd.DataFrame(rows, columns=["run", *RESULT_COLUMNS, "problem", *columns])


def load_history(*paths) -> pd.DataFrame:
    """One row per run and epoch: `run`, every hyperparameter, every metrics.csv column."""
    frames = []
    for run_dir in _run_dirs(paths):
        row, hyperparameters, history = _inspect(run_dir)
        if history is None or history.empty:
            continue  # load_runs lists the run and says why
        # A per-epoch column (lr under a schedule) wins over the configured value of
        # the same name, which is kept as <name>_config.
        clashing = {f"{k}_config" if k in history.columns else k: v for k, v in hyperparameters.items()}
        frames.append(history.assign(run=row["run"], **clashing))
    if not frames:
        return pd.DataFrame(columns=["run", *METRICS_COLUMNS])
    history = pd.concat(frames, ignore_index=True)
    return history[["run", *[c for c in history.columns if c != "run"]]]


def varying_hyperparameters(runs: pd.DataFrame) -> list[str]:
    """The hyperparameter columns whose value is not the same in every run."""
    fixed = {"run", "problem", *RESULT_COLUMNS}
    return [c for c in runs.columns if c not in fixed and runs[c].astype(str).nunique() > 1]


# Keys that never change a run's numbers (where files are, how fast, what is kept),
# and the seed: runs that differ only in these are one configuration.
NOT_A_CONFIGURATION = {"seed", "blas_threads", "save_weights", "data.root", "data.mirrors", "data.fallback"}
SUMMARY_METRICS = ("best_val_acc", "test_acc")


def _readable(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Hyperparameter values as typed: 0.001 rather than 0.0010 or 1e-03 padded out."""
    return frame.assign(**{c: frame[c].map(lambda v: f"{v:g}" if isinstance(v, float) else v) for c in columns})


def ranking(runs: pd.DataFrame, per_run=False) -> pd.DataFrame:
    """What a comparison shows: one row per configuration where some configuration
    has several seeds (summarize), else, or with per_run, one row per run (leaderboard)."""
    if not per_run:
        summary = summarize(runs)
        if (summary["n_seeds"] > 1).any():
            return summary
    return leaderboard(runs)


def summarize(runs: pd.DataFrame, metrics=SUMMARY_METRICS) -> pd.DataFrame:
    """One row per configuration (runs differing only in seed and in keys that
    never change results), ranked by mean best validation accuracy.

    Columns: the hyperparameters that vary; n_seeds; for each metric
    <metric>_mean, <metric>_std (sample standard deviation) and <metric>_ci95
    (half-width of the 95% confidence interval of the mean, Student's t);
    p_vs_best, Welch's t-test (scipy.stats.ttest_ind, equal_var=False) of the
    configuration's best_val_acc against the top configuration's; and
    tied_with_best, p_vs_best >= 0.05: not distinguishable from the best at the
    95% level. Both need at least 2 seeds on each side (else empty).
    """
    import numpy as np
    from scipy import stats

    keys = [c for c in varying_hyperparameters(runs) if c not in NOT_A_CONFIGURATION]
    ranked = runs[runs[RANK_BY].notna()]
    groups = ranked.groupby(keys, dropna=False, sort=False) if keys else [((), ranked)]
    rows, samples = [], []
    for key, group in groups:
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row["n_seeds"] = len(group)
        for metric in metrics:
            values = pd.to_numeric(group[metric], errors="coerce").dropna()
            n, std = len(values), values.std(ddof=1) if len(values) > 1 else np.nan
            row[f"{metric}_mean"] = values.mean() if n else np.nan
            row[f"{metric}_std"] = std
            row[f"{metric}_ci95"] = stats.t.ppf(0.975, n - 1) * std / np.sqrt(n) if n > 1 else np.nan
        rows.append(row)
        samples.append(pd.to_numeric(group[RANK_BY]).to_numpy(dtype=float))
    table = pd.DataFrame(rows)
    table["_samples"] = samples
    table = table.sort_values(f"{RANK_BY}_mean", ascending=False, kind="stable").reset_index(drop=True)
    best = table["_samples"].iloc[0]

    def p_vs_best(values):
        if len(values) < 2 or len(best) < 2:
            return np.nan
        if np.ptp(values) == 0 and np.ptp(best) == 0:  # no spread on either side: a t-test is undefined
            return 1.0 if values[0] == best[0] else 0.0
        with warnings.catch_warnings():  # scipy warns when one side's seeds agree to the last digit; Welch's test still holds
            warnings.simplefilter("ignore", RuntimeWarning)
            return stats.ttest_ind(values, best, equal_var=False).pvalue

    table["p_vs_best"] = [p_vs_best(v) for v in table["_samples"]]
    table["tied_with_best"] = [None if np.isnan(p) else bool(p >= 0.05) for p in table["p_vs_best"]]
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return _readable(table.drop(columns="_samples"), keys)


def mixed_data(runs: pd.DataFrame) -> bool:
    """True when the runs did not all train on the same data, or some trained
    on other data than they were configured for (MNIST's fallback to the sample)."""
    used = runs["data_used"].dropna()
    configured = runs.loc[used.index, "data.name"] if "data.name" in runs else used
    return used.nunique() > 1 or (used != configured).any()


def leaderboard(runs: pd.DataFrame) -> pd.DataFrame:
    """Ranked runs (best validation accuracy first), showing only what varies."""
    varying = varying_hyperparameters(runs)
    ranked = runs[runs[RANK_BY].notna()].sort_values(RANK_BY, ascending=False, kind="stable")
    data_columns = ["data_used", "n_train"] if mixed_data(runs) else []
    columns = [*varying, *data_columns, "status", "best_val_acc", "final_val_acc", "test_acc", "epochs_completed", "wall_time_s", "run"]
    board = _readable(ranked[columns].reset_index(drop=True), varying)
    board.index = pd.RangeIndex(1, len(board) + 1, name="rank")
    return board


def unsuccessful_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that did not complete cleanly (failed, diverged, interrupted,
    unfinished, or with damaged files), with a `reason` column saying why."""
    def reason(r):
        if isinstance(r["error"], str):
            return r["error"]
        if isinstance(r["problem"], str):
            return r["problem"]
        if r["status"] == Status.DIVERGED:
            return "loss became NaN, infinite or exploded (diverge_factor)"
        return "stopped by Ctrl-C or SIGTERM" if r["status"] == Status.INTERRUPTED else ""

    bad = runs[(runs["status"] != Status.COMPLETED) | runs["problem"].notna() | runs[RANK_BY].isna()]
    return bad.assign(reason=[reason(r) for _, r in bad.iterrows()])


def run_label(row, varying) -> str:
    return ", ".join(f"{k}={row[k]}" for k in varying) or Path(row["run"]).name


LEGEND_MAX = 12  # configurations named in a legend; more are drawn but left unnamed


def _draw_curves(axes, curves: pd.DataFrame, highlighted) -> None:
    """One line per configuration label in `curves` on the accuracy and loss axes:
    the mean over seeds with a min-max band; labels not in `highlighted` faint and grey."""
    for label, group in curves.groupby("label", sort=True):
        shown = label in highlighted
        for ax, metric in zip(axes, ("val_acc", "val_loss")):
            by_epoch = group.groupby("epoch")[metric].agg(["mean", "min", "max"])
            style = {"marker": ".", "label": label} if shown else {"color": "0.75", "linewidth": 0.8, "zorder": 0}
            (line,) = ax.plot(by_epoch.index, by_epoch["mean"], **style)
            if shown and group["run"].nunique() > 1:
                ax.fill_between(by_epoch.index, by_epoch["min"], by_epoch["max"], color=line.get_color(), alpha=0.2)


def plot(runs: pd.DataFrame, history: pd.DataFrame, path, top: int | None = None, facet: str | None = None) -> None:
    """Validation accuracy and loss against epoch, one line per configuration
    (the mean over its seeds, with a band from the lowest to the highest seed),
    labelled by the hyperparameters that vary; for a grid over exactly two
    hyperparameters, a heatmap of best validation accuracy (seed means).

    top : draw only the N best configurations (by mean best_val_acc) in colour, the rest faint.
    facet : one row of plots per value of this hyperparameter (no heatmap then).
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    varying = varying_hyperparameters(runs)
    configuration = [c for c in varying if c not in NOT_A_CONFIGURATION and c != facet]
    labels = {r["run"]: run_label(r, configuration) for _, r in runs.iterrows()}
    curves = history.assign(label=history["run"].map(labels))
    order = (runs.assign(label=runs["run"].map(labels), score=pd.to_numeric(runs[RANK_BY]))
             .groupby("label")["score"].mean().sort_values(ascending=False).index.tolist())
    highlighted = set(order[:top] if top else order)
    grid = None if facet else _grid(runs, varying)
    panels = sorted(runs[facet].dropna().unique().tolist(), key=str) if facet else [None]
    columns = 3 if grid is not None else 2
    fig, axes = plt.subplots(len(panels), columns, figsize=(5.5 * columns, 4.2 * len(panels)), squeeze=False)
    for row, value in zip(axes, panels):
        runs_here = set(runs["run"] if value is None else runs.loc[runs[facet] == value, "run"])
        _draw_curves(row, curves[curves["run"].isin(runs_here)], highlighted)
        for ax, name in zip(row, ("validation accuracy", "validation loss")):
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            if value is not None:
                ax.set_title(f"{facet}={value}")
        named = [label for label in order if label in highlighted and label in set(curves.loc[curves["run"].isin(runs_here), "label"])]
        if 0 < len(named) <= LEGEND_MAX:
            handles, texts = row[0].get_legend_handles_labels()
            by_text = dict(zip(texts, handles))
            row[0].legend([by_text[t] for t in named], named, fontsize="small", loc="lower right",
                          title=f"best {top} of {len(order)}" if top and top < len(order) else None)
    if grid is not None:
        ax = axes[0][2]
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")
        ax.set_xticks(range(grid.shape[1]), grid.columns)
        ax.set_yticks(range(grid.shape[0]), grid.index)
        ax.set_xlabel(grid.columns.name)
        ax.set_ylabel(grid.index.name)
        seeds = runs.groupby(list(grid.index.names) + [grid.columns.name]).size().max()
        ax.set_title(f"best {RANK_BY.replace('best_', '')}" + (f", mean of {seeds} seeds" if seeds > 1 else ""))
        middle = (image.norm.vmin + image.norm.vmax) / 2  # dark text on the light (yellow) half of viridis
        for (i, j), value in pd.DataFrame(grid.to_numpy(dtype=float)).stack().items():
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="k" if value > middle else "w", fontsize="small")
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _grid(runs: pd.DataFrame, varying: list[str]) -> pd.DataFrame | None:
    """Best validation accuracy over a grid of exactly two hyperparameters
    (besides seeds), the mean over seeds in each cell."""
    keys = [c for c in varying if c not in NOT_A_CONFIGURATION]
    if len(keys) != 2:
        return None
    rows, cols = keys
    values = runs.assign(**{RANK_BY: pd.to_numeric(runs[RANK_BY])})
    # Failed or diverged cells stay in the grid, as blanks.
    return values.pivot_table(index=rows, columns=cols, values=RANK_BY, aggfunc="mean", dropna=False).sort_index().sort_index(axis=1)


REPORT_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; }
img { max-width: 100%; display: block; margin: 1em 0; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
"""
# Counts the page's images once loaded, so a headless browser's DOM dump says whether any is broken.
REPORT_CHECK = """
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  document.body.dataset.images = images.length;
  document.body.dataset.broken = images.filter(i => !i.complete || i.naturalWidth === 0).length;
});
"""


def _png_data_uri(path: Path) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def report(runs: pd.DataFrame, history: pd.DataFrame, paths: list, path: Path) -> None:
    """One self-contained HTML page (figures embedded, nothing fetched): the
    ranking, the learning curves (and heatmap), the inspection figures of the
    best run, the runs that did not complete, and the commands behind the sweeps."""
    import html
    import tempfile

    from experiments import inspect

    board = ranking(runs)
    best_run = Path(leaderboard(runs)["run"].iloc[0]) if runs[RANK_BY].notna().any() else None
    sections = [f"<h1>{html.escape(', '.join(map(str, paths)))}</h1>",
                f"<p>{len(runs)} runs; ranked by {'mean ' if 'n_seeds' in board else ''}{RANK_BY} on validation "
                "(the test set chose nothing).</p>",
                "<h2>Ranking</h2>", _readable(board, []).to_html(float_format=lambda v: f"{v:.4f}", na_rep="-")]
    commands = []
    # a sweep's own sweep.json, those of sweeps inside the folder, or that of the sweep a job belongs to
    sweep_files = {f for path in map(Path, paths) for f in (*path.rglob("sweep.json"), path.parent / "sweep.json")}
    for sweep_file in sorted(f for f in sweep_files if f.is_file()):
        try:
            commands.append("python -m experiments.train " + " ".join(json.loads(sweep_file.read_text())["command"][1:]))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    if commands:
        sections += ["<h2>Commands</h2>", "<pre>" + html.escape("\n".join(commands)) + "</pre>"]
    with tempfile.TemporaryDirectory() as tmp:
        curves = Path(tmp) / "curves.png"
        plot(runs, history, curves)
        sections += ["<h2>Learning curves</h2>", f'<img alt="learning curves" src="{_png_data_uri(curves)}">']
        if best_run is not None and (best_run / "model.npz").is_file():
            inspect.inspect_run(best_run, Path(tmp) / "inspect")
            sections.append(f"<h2>Inside the best run: {html.escape(best_run.name)}</h2>")
            for figure in ("confusion", "mistakes", "first_layer"):
                if (Path(tmp) / "inspect" / f"{figure}.png").is_file():
                    sections.append(f'<img alt="{figure}" src="{_png_data_uri(Path(tmp) / "inspect" / f"{figure}.png")}">')
    unsuccessful = unsuccessful_runs(runs)
    if len(unsuccessful):
        items = "".join(f"<li>{html.escape(r['run'])}: {html.escape(str(r['status']))} {html.escape(str(r['reason']).splitlines()[0] if r['reason'] else '')}</li>"
                        for _, r in unsuccessful.iterrows())
        sections += ["<h2>Runs that did not complete</h2>", f"<ul>{items}</ul>"]
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mnist-from-scratch report</title>"
            f"<style>{REPORT_STYLE}</style><script>{REPORT_CHECK}</script></head><body>{''.join(sections)}</body></html>")
    Path(path).write_text(page, encoding="utf-8")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def latest(root="runs") -> Path:
    """The most recently started sweep or single run under root (their names are their start times)."""
    root = Path(root)
    candidates = [p for p in (*root.glob("multirun/*"), *root.glob("*")) if p.is_dir() and p.name != "multirun"]
    if not candidates:
        raise FileNotFoundError(f"{root}: no runs or sweeps yet")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def _as_table(frame: pd.DataFrame) -> str:
    """Counts as integers (not 30.0000), other numbers to 4 places, missing as '-'."""
    frame = frame.copy()
    for column in ("epochs_completed", "n_train", "best_epoch", "n_seeds"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    return frame.to_string(float_format=lambda v: f"{v:.4f}", na_rep="-")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=["latest"],
                        help="runs, sweeps or folders of them, or 'latest' (default): the newest sweep or run under runs/")
    parser.add_argument("--csv", metavar="FILE", nargs="?", const="leaderboard.csv",
                        help="write the leaderboard as CSV (a bare name goes into the compared folder; default leaderboard.csv)")
    parser.add_argument("--plot", metavar="FILE.png", nargs="?", const="curves.png",
                        help="draw learning curves and a heatmap for a 2-D grid (a bare name goes into the compared folder; default curves.png)")
    parser.add_argument("--html", metavar="FILE.html", nargs="?", const="report.html",
                        help="write a self-contained report page (a bare name goes into the compared folder; default report.html)")
    parser.add_argument("--top", type=positive_int, metavar="N", help="show only the N best runs (or configurations)")
    parser.add_argument("--facet", metavar="KEY", help="--plot: one row of curves per value of this hyperparameter")
    parser.add_argument("--runs", action="store_true",
                        help="one row per run even where runs differ only in seed (default: one row per configuration)")
    args = parser.parse_args(argv)
    try:
        paths = [latest() if p == "latest" else Path(p) for p in args.paths]
        runs = load_runs(*paths)
    except FileNotFoundError as e:
        parser.error(str(e))
    if runs.empty:
        parser.error(f"no runs found under {', '.join(map(str, paths))}")
    # Output files named without a folder go beside the runs they describe.
    home = paths[0] if len(paths) == 1 and paths[0].is_dir() else Path(".")
    targets = {o: (home / t if t and Path(t).name == t else Path(t) if t else None)
               for o, t in (("--csv", args.csv), ("--plot", args.plot), ("--html", args.html))}
    for option, target in targets.items():
        if target and not target.resolve().parent.is_dir():
            parser.error(f"{option} {target}: the folder {target.resolve().parent} does not exist")

    if args.facet and args.facet not in runs:
        parser.error(f"--facet {args.facet}: not a hyperparameter of these runs (they vary in {', '.join(varying_hyperparameters(runs)) or 'nothing'})")
    board = ranking(runs, per_run=args.runs)
    shown = board.head(args.top) if args.top else board
    # Run directories relative to the folder they share, so the table stays narrow.
    common = os.path.commonpath(list(runs["run"])) if len(runs) > 1 else None
    if common and "run" in shown:
        shown = shown.assign(run=[os.path.relpath(r, common) for r in shown["run"]])
    with pd.option_context("display.width", shutil.get_terminal_size((160, 24)).columns, "display.max_columns", None,
                           "display.max_colwidth", 60):
        what = "configurations ranked by mean" if "n_seeds" in board else "ranked by"
        print(f"{len(board)} {what} {RANK_BY} ({len(runs)} runs found in {common or runs['run'].iloc[0]})")
        print(_as_table(shown))
        if len(runs) == 1:  # one run: what it was
            hyperparameters = runs.drop(columns=["run", "problem", *RESULT_COLUMNS]).iloc[0].dropna()
            print("\nhyperparameters:\n" + hyperparameters.to_string())
        if mixed_data(runs):
            print("\nnote: these runs did not all train on the data they were configured for, or on the same data: see data_used, n_train")
        unsuccessful = unsuccessful_runs(runs)
        if len(unsuccessful):
            print(f"\n{len(unsuccessful)} run(s) failed, diverged, interrupted, unfinished or damaged:")
            for _, r in unsuccessful.iterrows():
                lines = str(r["reason"]).splitlines()
                more = f" (more in {Path(r['run']) / 'result.json'})" if len(lines) > 1 else ""
                print(f"  {r['run']}: {r['status']}" + (f": {lines[0]}{more}" if lines and lines[0] else ""))
    if targets["--csv"]:
        board.to_csv(targets["--csv"])
        print(f"\nleaderboard written to {targets['--csv']}")
    if targets["--plot"]:
        plot(runs, load_history(*paths), targets["--plot"], top=args.top, facet=args.facet)
        print(f"plot written to {targets['--plot']}")
    if targets["--html"]:
        report(runs, load_history(*paths), paths, targets["--html"])
        print(f"report written to {targets['--html']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
