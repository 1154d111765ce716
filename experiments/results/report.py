"""The HTML report: one self-contained page (figures embedded, nothing fetched)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from experiments.results.figures import plot
from experiments.results.learned import IMPORTANCE_METHODS, importance, importance_heading, plot_parallel_coordinates
from experiments.results.pareto import counted, front_table, in_words, plot_front
from experiments.results.ranking import (
    RANK_BY,
    amount,
    leaderboard,
    notes,
    ranking,
    readable,
    unsuccessful_runs,
    with_short_run_names,
)
from experiments.results.runs import PROVENANCE_COLUMNS
from experiments.run.files import RunFolder
from experiments.run.sweep_files import SWEEP_FILE
from nn_core.atomic import write_atomically

REPORT_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 2em; max-width: 1400px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; }
img { max-width: 100%; display: block; margin: 1em 0; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
.wide { overflow-x: auto; }
"""
REPORT_ROWS = 30  # rows of the ranking on the page
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


def provenance_table(runs: pd.DataFrame) -> str:
    """The code, libraries and data files the runs used, each with how many runs (result.json's provenance)."""
    rows = [
        {"what": column, "value": value, "runs": count}
        for column in PROVENANCE_COLUMNS
        for value, count in runs[column].astype(object).fillna("(not recorded)").value_counts().items()
    ]
    return '<div class="wide">' + pd.DataFrame(rows).to_html(index=False) + "</div>"


def report(runs: pd.DataFrame, history: pd.DataFrame, paths: list, path: Path, pareto=None,
           method: str = IMPORTANCE_METHODS[0]) -> None:  # fmt: skip
    """One self-contained HTML page (figures embedded, nothing fetched): the
    ranking, the learning curves (and heatmap), the inspection figures of the
    best run, the runs that did not complete, and the commands behind the sweeps;
    with `pareto` (the objectives, the completed runs, those on their front:
    compare --pareto), the front's table and figure after the ranking; `method`: how
    importance is measured (learned.IMPORTANCE_METHODS, or none)."""
    import html

    board = ranking(runs)
    ranked = leaderboard(runs)
    best_run = Path(ranked["run"].iloc[0]) if len(ranked) else None
    board = with_short_run_names(board, runs)  # each run by its own folder's name: the shared path is the title
    shown = board.head(REPORT_ROWS)
    more = f" (the best {REPORT_ROWS} of {len(board)}; all of them: compare --csv)" if len(board) > len(shown) else ""
    sections = [
        f"<h1>{html.escape(', '.join(map(str, paths)))}</h1>",
        f"<p>{amount(len(runs), 'run')}; ranked by {'mean ' if 'n_seeds' in board else ''}{RANK_BY} on validation "
        "(the test set chose nothing).</p>",
        f"<h2>Ranking{html.escape(more)}</h2>",
        '<div class="wide">' + readable(shown, []).to_html(float_format=lambda v: f"{v:.4f}", na_rep="-") + "</div>",
        *(f"<pre>note: {html.escape(note)}</pre>" for note in notes(runs)),
    ]
    if pareto:
        sections += pareto_section(runs, *pareto)
    commands = sweep_commands(paths)
    if commands:
        sections += ["<h2>Commands</h2>", "<pre>" + html.escape("\n".join(commands)) + "</pre>"]
    sections += figure_sections(runs, history, best_run, method)
    sections += ["<h2>Where the runs came from</h2>", provenance_table(runs)]
    unsuccessful = unsuccessful_runs(runs)
    if len(unsuccessful):
        items = "".join(
            f"<li>{html.escape(r['run'])}: {html.escape(str(r['status']))}"
            f"{': ' + html.escape(str(r['reason']).splitlines()[0]) if r['reason'] else ''}</li>"
            for _, r in unsuccessful.iterrows()
        )
        sections += ["<h2>Runs not ranked, and why</h2>", f"<ul>{items}</ul>"]
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mnist-from-scratch report</title>"
        f"<style>{REPORT_STYLE}</style><script>{REPORT_CHECK}</script></head><body>{''.join(sections)}</body></html>"
    )
    write_atomically(path, lambda f: f.write(page.encode("utf-8")))


def pareto_section(runs: pd.DataFrame, objectives: list, completed: pd.DataFrame, on_front: pd.DataFrame) -> list:
    """The Pareto front (compare --pareto): its runs with what tells them apart, and its figure."""
    import html
    import tempfile

    sections = [
        f"<h2>Pareto front of {html.escape(in_words(objectives))}</h2>",
        f"<p>{html.escape(counted(completed, on_front))}.</p>",
    ]
    if not len(on_front):
        return sections
    table = front_table(runs, on_front, objectives)
    with tempfile.TemporaryDirectory() as tmp:
        figure = Path(tmp) / "pareto.png"
        plot_front(completed, on_front, objectives, figure)
        return [
            *sections,
            '<div class="wide">' + table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-") + "</div>",
            f'<img alt="Pareto front" src="{_png_data_uri(figure)}">',
        ]


def figure_sections(runs: pd.DataFrame, history: pd.DataFrame, best_run: Path | None, method: str) -> list[str]:
    """The report's figures, embedded: learning curves, parallel coordinates with fANOVA, the best run inside."""
    import html
    import tempfile

    from experiments.results import inspection

    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        curves = Path(tmp) / "curves.png"
        plot(runs, history, curves)
        sections += ["<h2>Learning curves</h2>", f'<img alt="learning curves" src="{_png_data_uri(curves)}">']
        learned = importance(runs, method) if method != "none" else None
        parallel = Path(tmp) / "parallel.png"
        if plot_parallel_coordinates(runs, parallel):
            sections += ["<h2>What the runs say about the hyperparameters</h2>"]
            if learned is not None:
                heading = importance_heading(method)
                sections += [
                    f"<p>{html.escape(heading[0].upper() + heading[1:])}.</p>",
                    learned.to_html(float_format=lambda v: f"{v:.3f}"),
                ]
            sections.append(f'<img alt="parallel coordinates" src="{_png_data_uri(parallel)}">')
        if best_run is not None and RunFolder(best_run).model_file.is_file():
            inspection.inspect_run(best_run, Path(tmp) / "inspect")
            sections.append(f"<h2>Inside the best run: {html.escape(best_run.name)}</h2>")
            for figure in ("confusion", "mistakes", "first_layer"):
                if (Path(tmp) / "inspect" / f"{figure}.png").is_file():
                    sections.append(
                        f'<img alt="{figure}" src="{_png_data_uri(Path(tmp) / "inspect" / f"{figure}.png")}">'
                    )
    return sections


def sweep_commands(paths: list) -> list[str]:
    """The commands behind the sweeps compared: a sweep's own sweep.json, those of sweeps inside
    the folders, or that of the sweep a job belongs to."""
    commands = []
    sweep_files = {f for path in map(Path, paths) for f in (*path.rglob(SWEEP_FILE), path.parent / SWEEP_FILE)}
    for sweep_file in sorted(f for f in sweep_files if f.is_file()):
        try:
            command = json.loads(sweep_file.read_text())["command"]
            commands.append("python -m experiments.train " + " ".join(command[1:]))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return commands
