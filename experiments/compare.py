"""Compare runs: a leaderboard, a CSV, learning curves and a report page from run directories.

    python -m experiments.compare runs/multirun/2026-11-25_10-45-00_654321
    python -m experiments.compare runs --csv board.csv --plot curves.png

The command line over experiments/results/: runs.py makes the tables,
figures.py the plots, report.py the page.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from experiments.results.learned import (
    IMPORTANCE_METHODS,
    import_fanova,
    importance,
    importance_heading,
    plot_parallel_coordinates,
)
from experiments.results.limits import parsed
from experiments.results.pareto import counted, front, front_table, in_words, objectives_of, plot_front
from experiments.results.ranking import (
    RANK_BY,
    amount,
    as_text,
    completed_runs,
    configuration_keys,
    notes,
    ranking,
    unsuccessful_runs,
    varying_hyperparameters,
    with_short_run_names,
)
from experiments.results.runs import latest, load_history, load_runs
from experiments.run.files import Status
from experiments.run.record import COUNTS, RESULT_COLUMNS
from nn_core.atomic import write_atomically


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def _as_table(frame: pd.DataFrame) -> str:
    """Counts as integers (not 30.0000), other numbers to 4 places, missing as '-'."""
    frame = frame.copy()
    for column in (*COUNTS, "n_seeds"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    return frame.to_string(float_format=lambda v: f"{v:.4f}", na_rep="-")


OUTPUTS = {  # option -> (what it takes, the file it writes given bare, what it writes)
    "csv": ("FILE", "leaderboard.csv", "write the leaderboard as CSV"),
    "plot": ("FILE.png", "curves.png", "draw learning curves and a heatmap for a 2-D grid"),
    "html": ("FILE.html", "report.html", "write a self-contained report page"),
}


def folders_named_as_outputs(args) -> None:
    """`--plot runs/x` names the folder to compare, not a file called runs/x: argparse gives
    an option's optional value the folder that follows it. Such a folder becomes a path to
    compare, and the option writes its default file into it."""
    for option, (_, name, _) in OUTPUTS.items():
        value = getattr(args, option)
        if value and Path(value).is_dir():
            args.paths = [*(p for p in args.paths if p != "latest"), value]
            setattr(args, option, name)


LISTED = 12  # runs named in a line before "and N more"


def job_list(folders) -> str:
    """Run folders in a line: a sweep's jobs by number, in numeric order (3, 12, not 12, 3)."""
    numbers = [Path(f).name.split("_", 1)[0] for f in folders]
    if all(n.isdigit() for n in numbers) and len({str(Path(f).parent) for f in folders}) == 1:
        ordered = sorted(numbers, key=int)
        more = f" and {len(ordered) - LISTED} more" if len(ordered) > LISTED else ""
        jobs = "job" if len(ordered) == 1 else "jobs"
        return f"{jobs} {', '.join(ordered[:LISTED])}{more} of {Path(next(iter(folders))).parent}"
    ordered = sorted(map(str, folders))
    more = f" and {len(ordered) - LISTED} more" if len(ordered) > LISTED else ""
    return ", ".join(ordered[:LISTED]) + more


def main(argv=None) -> int:
    """The command; a reader that closes the pipe early (| head) ends it quietly."""
    try:
        return compare(argv)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own advice for SIGPIPE
        return 0


def compare(argv=None) -> int:
    started = time.perf_counter()
    parser = command_line()
    args = parser.parse_args(argv)
    folders_named_as_outputs(args)
    paths, runs = selected_runs(parser, args)
    targets = output_targets(parser, args, paths)
    if args.facet and args.facet not in runs:
        parser.error(
            f"--facet {args.facet}: not a hyperparameter of these runs "
            f"(they vary in {', '.join(varying_hyperparameters(runs)) or 'nothing'})"
        )
    pareto = None  # (the objectives, the completed runs, those on their front)
    if args.pareto:
        try:
            objectives = objectives_of(args.pareto)
        except ValueError as error:
            parser.error(f"--pareto {args.pareto}: {error}")
        completed = runs[completed_runs(runs)]
        pareto = (objectives, completed, front(completed, objectives))
    board = ranking(runs, per_run=args.runs)
    say = progress(runs, started)
    print_comparison(runs, board, paths, args.top, args.importance, say)
    if pareto:
        print_front(runs, *pareto)
    try:
        write_outputs(runs, board, paths, targets, args, pareto, say)
    except OSError as error:  # a full disk, a read-only folder: nothing half-written is left
        parser.exit(1, f"{parser.prog}: error: cannot write {error.filename or ''}: {error.strerror or error}\n")
    return 0


def command_line() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "paths",
        nargs="*",
        default=["latest"],
        help="runs, sweeps or folders of them, or 'latest' (default): the newest sweep or run under runs/",
    )
    for option, (metavar, default, what) in OUTPUTS.items():
        parser.add_argument(
            f"--{option}",
            metavar=metavar,
            nargs="?",
            const=default,
            help=f"{what} (a bare name goes into the compared folder, or the one holding them all; default {default})",
        )
    parser.add_argument("--top", type=positive_int, metavar="N", help="show only the N best runs (or configurations)")
    parser.add_argument(
        "--where",
        metavar="COLUMN=VALUE",
        action="append",
        default=[],
        help="only the runs whose COLUMN is VALUE, as the table prints it (repeatable): lr=0.1, data_used=mnist, "
        "code=1234567890 (a commit's first 10 characters); or within a limit: 'parameters<=50000', "
        "'best_val_acc>=0.9' (the ranking and the Pareto front then hold only the runs that meet it)",
    )
    parser.add_argument("--facet", metavar="KEY", help="--plot: one row of curves per value of this hyperparameter")
    parser.add_argument(
        "--pareto",
        metavar="COLUMN=max|min,...",
        help="the Pareto front over these objectives, e.g. best_val_acc=max,parameters=min: the completed runs no "
        "other beats in every one (with --plot, drawn beside the curves)",
    )
    parser.add_argument(
        "--importance",
        choices=[*IMPORTANCE_METHODS, "none"],
        default=IMPORTANCE_METHODS[0],
        help="how much each hyperparameter mattered: Optuna's PED-ANOVA (default), fANOVA (slower: five forests), "
        "or none",
    )
    parser.add_argument(
        "--runs",
        action="store_true",
        help="one row per run even where runs differ only in seed (default: one row per configuration)",
    )
    return parser


def selected_runs(parser, args) -> tuple[list[Path], pd.DataFrame]:
    """The folders named (or the latest), and their runs that pass every --where."""
    try:
        paths = [latest() if p == "latest" else Path(p) for p in args.paths]
        runs = load_runs(*paths, meanwhile=import_fanova)  # the ranking's importance line needs it
    except FileNotFoundError as e:
        parser.error(str(e))
    if runs.empty:
        parser.error(f"no runs found under {', '.join(map(str, paths))}")
    for condition in args.where:
        limit = None
        if any(sign in condition for sign in "<>"):
            try:
                limit = parsed(condition)
            except ValueError as error:
                parser.error(f"--where {error}")
            column = limit.name
        else:
            column, _, value = condition.partition("=")
        if column not in runs:
            parser.error(f"--where {condition}: no column {column!r} (the columns: {', '.join(runs.columns)})")
        if limit is None:
            runs = runs[as_text(runs[column]) == value]
        else:
            values = pd.to_numeric(runs[column], errors="coerce")
            if values.isna().all():
                parser.error(f"--where {condition}: {column} holds no numbers")
            keys, judged = configuration_keys(runs), "run's"
            if not args.runs:  # a configuration's seeds meet it or not together, on their mean, as in a search
                groups = [as_text(runs[key]) for key in keys] or [pd.Series(0, index=runs.index)]
                values, judged = values.groupby(groups, dropna=False).transform("mean"), "configuration's mean"
            kept = values.map(limit.allows)
            print(f"--where {limit}: {amount(int((~kept).sum()), 'run')} of {len(runs)} left out (the {judged} "
                  "outside the limit, or no number)")  # fmt: skip
            runs = runs[kept]
        if runs.empty:
            parser.error(f"--where {condition}: no run has it")
    return paths, runs


def output_targets(parser, args, paths: list[Path]) -> dict:
    """--csv, --plot, --html -> the file each writes (None if not asked); a name without a
    folder goes beside the runs it describes: into the one folder compared, or the folder
    holding all those compared (the current folder only when that is the filesystem's root,
    say), never into wherever compare was started. A folder that does not exist is refused now."""
    home = beside(paths)
    targets = {
        o: (home / t if t and Path(t).name == t else Path(t) if t else None)
        for o, t in (("--csv", args.csv), ("--plot", args.plot), ("--html", args.html))
    }
    for option, target in targets.items():
        if target and not target.resolve().parent.is_dir():
            parser.error(f"{option} {target}: the folder {target.resolve().parent} does not exist")
    return targets


def beside(paths: list[Path]) -> Path:
    """The folder that holds the runs of `paths`: the one folder, or the deepest folder
    holding all of them (a run folder named stands for itself)."""
    folders = [p if p.is_dir() else p.parent for p in paths] or [Path(".")]
    if len(folders) == 1:
        return folders[0]
    common = Path(os.path.commonpath([f.resolve() for f in folders]))
    return Path(".") if common == Path(common.anchor) else common


LONG_READ = 200  # runs from which compare says on stderr what it is doing, and since when


def progress(runs: pd.DataFrame, started: float):
    """A `say(what)` that prints 'compare: what (N runs, T s since compare started)' on stderr for
    a long read (LONG_READ runs or more: importance, figures and the page take seconds), and does
    nothing for a short one."""

    def say(what: str) -> None:
        if len(runs) >= LONG_READ:
            print(f"compare: {what} ({len(runs)} runs, {time.perf_counter() - started:.1f} s since it started)",
                  file=sys.stderr, flush=True)  # fmt: skip

    return say


def print_comparison(runs: pd.DataFrame, board: pd.DataFrame, paths: list[Path], top: int | None,
                     method: str = IMPORTANCE_METHODS[0], say=lambda what: None) -> None:  # fmt: skip
    """The ranked table (its `top` rows), a lone run's hyperparameters, the notes, what mattered
    (importance by `method`, or none), and the runs not ranked with why."""
    shown = with_short_run_names(board.head(top) if top else board, runs)
    width = shutil.get_terminal_size((160, 24)).columns
    with pd.option_context("display.width", width, "display.max_columns", None, "display.max_colwidth", 60):
        what = "configurations ranked by mean" if "n_seeds" in board else "ranked by"
        found = f"{amount(len(runs), 'run')} found in {', '.join(map(str, paths))}"
        print(f"{len(board)} {what} {RANK_BY} ({found})")
        print(_as_table(shown) if len(shown) else "no run completed: nothing to rank")
        if len(runs) == 1:  # one run: what it was
            hyperparameters = runs.drop(columns=["run", "problem", *RESULT_COLUMNS]).iloc[0].dropna()
            print("\nhyperparameters:\n" + hyperparameters.to_string())
        for note in notes(runs):
            print(f"\nnote: {note}")
        if method != "none":
            say(f"what mattered ({method})")
        learned = importance(runs, method) if method != "none" else None
        if learned is not None:
            print(f"\n{importance_heading(method)}:")
            print(learned.to_string(float_format=lambda v: f"{v:.3f}"))
        print_not_ranked(unsuccessful_runs(runs))


def print_not_ranked(unsuccessful: pd.DataFrame) -> None:
    """The runs a ranking leaves out, with their status and reason; pruned ones one line per epoch."""
    if not len(unsuccessful):
        return
    print(
        f"\n{len(unsuccessful)} run(s) not ranked (failed, diverged, interrupted, pruned, infeasible, unfinished "
        "or damaged):"
    )
    pruned = unsuccessful["status"] == Status.PRUNED  # the search's decision: one line per epoch
    for epoch, group in unsuccessful[pruned].groupby("epochs_completed"):
        print(f"  pruned by the search after epoch {epoch:.0f}: {len(group)} run(s), {job_list(group['run'])}")
    for _, r in unsuccessful[~pruned].iterrows():
        lines = str(r["reason"]).splitlines()
        more = f" (more in {Path(r['run']) / 'result.json'})" if len(lines) > 1 else ""
        print(f"  {r['run']}: {r['status']}" + (f": {lines[0]}{more}" if lines and lines[0] else ""))


def print_front(runs: pd.DataFrame, objectives: list, completed: pd.DataFrame, on_front: pd.DataFrame) -> None:
    """The Pareto front of the completed runs, with what tells them apart."""
    print(f"\nPareto front of {in_words(objectives)}: {counted(completed, on_front)}")
    if len(on_front):
        print(_as_table(front_table(runs, on_front, objectives)))


def write_outputs(runs, board, paths, targets, args, pareto=None, say=lambda what: None) -> None:
    """--csv, --plot and --html, each written whole or not at all; `say`: what it is doing (progress)."""
    if targets["--csv"]:
        write_atomically(targets["--csv"], lambda f: f.write(board.to_csv().encode()))
        print(f"\nleaderboard written to {targets['--csv']}")
    if targets["--plot"]:
        from experiments.results.figures import plot

        say("drawing the figures")
        plot(runs, load_history(*paths), targets["--plot"], top=args.top, facet=args.facet)
        print(f"plot written to {targets['--plot']}")
        parallel = targets["--plot"].with_name(targets["--plot"].stem + "_parallel.png")
        if plot_parallel_coordinates(runs, parallel):
            print(f"parallel coordinates written to {parallel}")
        if pareto:
            objectives, completed, on_front = pareto
            figure = targets["--plot"].with_name(targets["--plot"].stem + "_pareto.png")
            plot_front(completed, on_front, objectives, figure)
            print(f"Pareto front written to {figure}")
    if targets["--html"]:
        from experiments.results.report import report

        say("writing the page")
        report(runs, load_history(*paths), paths, targets["--html"], pareto, args.importance)
        print(f"report written to {targets['--html']}")


if __name__ == "__main__":
    raise SystemExit(main())
