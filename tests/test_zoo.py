"""Every reader on every kind of run (tests/zoo.py): each works, or says in one line why
that run cannot be read that way (exit 2, no traceback). A new reader is one entry in
READERS (in-process) or SUBPROCESS_READERS (commands that train or resume)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import zoo as zoo_module

from helpers import run_cli

pytestmark = pytest.mark.slow  # the zoo takes about a minute to make; CI runs these


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> dict[str, Path]:
    return zoo_module.build(tmp_path_factory.mktemp("zoo"))


def call(main, argv, capsys) -> tuple[int, str, str]:
    """A command's main(argv) in-process: its exit code, stdout and stderr."""
    try:
        code = main(argv) or 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


# (reader, member) -> what its one-line refusal says: the runs a reader cannot read, and why.
# Any other reader of any other member must read it (exit 0): a refusal elsewhere is a defect.
REFUSALS = {
    ("inspect", "no_weights"): "save_weights=false",
    ("inspect", "killed"): "resume=true continues it",  # killed before it wrote its result
    ("inspect", "killed_job"): "the run failed before it saved any weights",  # its process killed: failed
    ("inspect", "failed"): "the run failed before it saved any weights",  # as it loaded its data
    ("inspect", "diverged"): "non-finite weights",
    ("inspect", "damaged"): "result.json is unreadable",  # its data split unknown
}


def works_or_says_why(code: int, out: str, err: str, what: str, refusal: str | None = None) -> None:
    """Exit 0; or, where REFUSALS expects it, exit 2 with the one line that says why (after
    argparse's usage, where it prints one)."""
    assert "Traceback" not in out + err, f"{what}:\n{out}\n{err}"
    if refusal is None:
        assert code == 0, f"{what}: exit {code}, and it should read it\n{out}\n{err}"
        return
    said = [line for line in (out + err).splitlines() if "error" in line.lower()]
    assert code == 2 and len(said) == 1 and refusal in said[0], f"{what}: exit {code}\n{out}\n{err}"


def compare_views(member: Path, out: Path) -> list[list[str]]:
    """compare as a user asks for it: the table and each option."""
    from experiments.results.ranking import varying_hyperparameters
    from experiments.results.runs import load_runs

    runs = load_runs(member)
    varying = varying_hyperparameters(runs)
    facet = ["--facet", varying[0]] if varying else []
    return [
        [str(member)],
        [str(member), "--runs", "--top", "2"],
        [str(member), "--csv", str(out / "board.csv")],
        [str(member), "--plot", str(out / "curves.png"), *facet],
        [str(member), "--html", str(out / "report.html")],
        [str(member), "--where", f"status={runs['status'].iloc[0]}"],  # a status it has
        ["--plot", str(member)],  # the folder after an option that takes an optional file name
    ]


def test_the_zoo_has_every_kind_of_run(zoo):
    from experiments.results.runs import load_runs

    statuses = set(load_runs(*zoo.values())["status"])
    assert {"completed", "diverged", "interrupted", "paused", "pruned", "failed", "incomplete", "broken"} <= statuses


@pytest.mark.parametrize("name", list(zoo_module.MEMBERS))
def test_compare_reads_every_member(zoo, name, tmp_path, capsys):
    from experiments.compare import main

    if name not in zoo:
        pytest.skip(f"{name} made no folder")
    for argv in compare_views(zoo[name], tmp_path):
        works_or_says_why(*call(main, argv, capsys), f"compare {' '.join(argv)}", REFUSALS.get(("compare", name)))


def test_compare_reads_the_whole_zoo_at_once(zoo, tmp_path, capsys):
    from experiments.compare import main

    root = next(iter(zoo.values())).parent
    for argv in compare_views(root, tmp_path):
        code, out, err = call(main, argv, capsys)
        assert code == 0 and "Traceback" not in out + err, f"compare {' '.join(argv)}:\n{out}\n{err}"
    assert (tmp_path / "report.html").stat().st_size > 10_000 and (tmp_path / "curves.png").is_file()


def test_the_python_readers_read_every_member_and_the_whole_zoo(zoo, tmp_path):
    from experiments.results.learned import importance, plot_parallel_coordinates
    from experiments.results.ranking import rankable, ranking, summarize, unsuccessful_runs
    from experiments.results.runs import load_history, load_runs

    for folders in [[member] for member in zoo.values()] + [list(zoo.values())]:
        runs = load_runs(*folders)
        folders_of_runs = [str(run) for folder in folders for run in zoo_module.run_folders(folder)]
        assert sorted(runs["run"]) == sorted(folders_of_runs)  # each run once
        history = load_history(*folders)
        epochs = sum(max(0, len(lines_of(Path(run) / "metrics.csv")) - 1) for run in folders_of_runs)
        assert len(history) <= epochs and set(history["run"]) <= set(runs["run"])  # rows of readable files only
        ranked = set(rankable(runs)["run"])
        assert ranked == rankable_from_the_files(folders_of_runs), folders  # recomputed with json alone
        assert set(ranking(runs, per_run=True)["run"]) == ranked
        assert summarize(runs)["n_seeds"].sum() <= len(ranked)  # each rankable run counted once at most
        learned = importance(runs)
        if learned is not None:
            assert abs(learned["importance"].sum() - 1) < 1e-9  # shares of the whole
        plot_parallel_coordinates(runs, tmp_path / "parallel.png")
        not_ranked = set(runs["run"]) - ranked
        assert not_ranked <= set(unsuccessful_runs(runs)["run"])  # each listed, with its reason


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def lines_of(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def rankable_from_the_files(run_folders: list[str]) -> set[str]:
    """The runs a ranking may compare, read from each result.json with json alone: completed,
    with a finite best validation accuracy, and not a seed of a trial the search pruned, failed
    or found infeasible."""
    import math

    ranked = set()
    for run in run_folders:
        result = read_json(Path(run) / "result.json")
        if result is None:
            continue
        trial = result.get("trial") or {}
        score = result.get("best_val_acc")
        if (
            result.get("status") == "completed"
            and isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score)
            and trial.get("state", "completed") == "completed" and not trial.get("infeasible")
        ):  # fmt: skip
            ranked.add(run)
    return ranked


@pytest.mark.parametrize("name", list(zoo_module.MEMBERS))
def test_inspect_reads_every_run_of_every_member(zoo, name, tmp_path, capsys):
    from experiments.inspect import main

    if name not in zoo:
        pytest.skip(f"{name} made no folder")
    for run in zoo_module.run_folders(zoo[name]):
        code, out, err = call(main, [str(run), "--out", str(tmp_path / run.name)], capsys)
        works_or_says_why(code, out, err, f"inspect {run}", REFUSALS.get(("inspect", name)))
        if code == 0:  # what it scored is the run's test set: as many images as the run was tested on
            per_class = pd.read_csv(tmp_path / run.name / "per_class.csv")
            tested = json.loads((run / "result.json").read_text()).get("data", {}).get("n_test")
            assert tested is None or per_class["test_samples"].sum() == tested, run


@pytest.mark.parametrize("name", list(zoo_module.MEMBERS))
def test_reproduce_reruns_a_completed_run_and_refuses_the_rest_in_a_line(zoo, name, tmp_path):
    if name not in zoo:
        pytest.skip(f"{name} made no folder")
    shutil.copytree(zoo[name], tmp_path / name)  # the second run goes beside the first, by default
    run = zoo_module.run_folders(tmp_path / name)[0]
    proc = run_cli("experiments.reproduce", str(run), cwd=tmp_path)
    status = (read_json(run / "result.json") or {}).get("status")
    refusal = None if status == "completed" else "did not complete" if status else "no readable result.json"
    works_or_says_why(proc.returncode, proc.stdout, proc.stderr, f"reproduce {run}", refusal)
    if proc.returncode == 0:
        assert "identical:" in proc.stdout


@pytest.mark.parametrize("name", list(zoo_module.MEMBERS))
def test_resume_continues_or_says_why_not(zoo, name, tmp_path):
    """On a copy of the member: resume=true finishes what was cut short, leaves what was
    finished alone, and refuses what it cannot continue in one line."""
    if name not in zoo:
        pytest.skip(f"{name} made no folder")
    copy = tmp_path / name
    shutil.copytree(zoo[name], copy)
    is_sweep = (copy / "sweep.json").is_file()
    key = "hydra.sweep.dir" if is_sweep else "hydra.run.dir"
    args = ["-m"] * is_sweep + [f"{key}={copy}", "resume=true"]
    proc = run_cli("experiments.train", *args, cwd=tmp_path)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert proc.returncode in (0, 1, 2), proc.stderr  # 1: a sweep one of whose jobs failed (data.val_size)
    if proc.returncode == 2:
        assert len([line for line in proc.stderr.splitlines() if "ERROR" in line or "error" in line]) <= 1


def test_the_readers_are_every_command_a_user_has():
    """The matrix covers the readers there are: a new command module is a new line here."""
    commands = {p.stem for p in (Path(__file__).parents[1] / "experiments").glob("*.py")} - {"__init__"}
    assert commands == {"train", "compare", "inspect", "reproduce"}, sys.modules[__name__].__doc__


def test_trials_seeds_and_copies_read_as_what_they_were(zoo):
    """The trial model on real runs, recomputed by another path (Optuna's own API, the files):
    each seed's result.json says its trial's fate as the study does; a pruned trial's seeds are
    never ranked; a seed run twice is one seed; a reproduced copy stays outside its sweep."""
    import optuna

    from experiments.results.ranking import notes, summarize, unsuccessful_runs
    from experiments.results.runs import load_runs

    study = optuna.load_study(study_name="mlp", storage=f"sqlite:///{zoo['seed_trials'].parent / 'seed_trials.db'}")
    states = {t.number: t.state.name.lower().replace("complete", "completed") for t in study.trials}
    runs = load_runs(zoo["seed_trials"])
    assert dict(zip(runs["trial"].astype(int), runs["trial_state"])) == states
    ranked_trials = {t for t, s in states.items() if s == "completed"}
    board = summarize(runs)
    assert len(board) == len(ranked_trials) and set(board["n_seeds"]) <= {2}
    pruned_runs = set(runs.loc[runs["trial_state"] == "pruned", "run"])
    assert pruned_runs and pruned_runs <= set(unsuccessful_runs(runs)["run"])

    warm = optuna.load_study(study_name="mlp", storage=f"sqlite:///{zoo['warm_started'].parent / 'warm_started.db'}")
    added = [t for t in warm.trials if "warm_start_from" in t.user_attrs]
    grid = load_runs(zoo["grid"]).set_index("run")
    assert len(added) == len(grid)  # the grid's 4 runs are 4 trials this search could have run
    for trial in added:
        assert trial.value == grid.loc[trial.user_attrs["warm_start_from"], "best_val_acc"]

    rerun = load_runs(zoo["rerun_seed"])
    assert len(rerun) == 2 and summarize(rerun)["n_seeds"].tolist() == [1]
    assert any("repeat a seed" in note for note in notes(rerun))

    copy = zoo["seeds_reproduced"]
    assert len(load_runs(copy)) == 1 and len(load_runs(zoo["seeds"])) == 4
