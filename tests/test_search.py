"""Searches with Optuna (hparams_search=optuna; experiments/sweep/search/sweeper.py) through
the real command line: trials asked as workers free up, a storage that resumes
and is shared without repeating a trial, and every bad input refused before a trial."""

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

import optuna
import pandas as pd
import pytest
import scipy.stats

from experiments.results.ranking import summarize, unsuccessful_runs
from experiments.results.runs import load_runs
from experiments.run.task import train
from experiments.sweep.search.objectives import combined
from helpers import composed, dominated, run_cli

# Searches that train every trial to its end unless a test asks for a pruner (the default prunes: tested apart)
SEARCH = ["experiments.train", "hparams_search=optuna", "data=digits", "epochs=2", "hydra.sweeper.pruner.name=none"]


def study(tmp_path, name="mlp", file="search.db"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / file}")


def finished(tmp_path) -> int:
    try:
        return sum(t.state.is_finished() for t in study(tmp_path).trials)
    except KeyError:  # not created yet
        return 0


def test_a_search_maximises_and_hands_each_trial_to_a_free_worker(tmp_path):
    proc = run_cli(
        *SEARCH, "hydra.sweeper.n_trials=6", "hydra.sweeper.storage=sqlite:///search.db", "hydra.sweep.dir=s",
        cwd=tmp_path, check=0,
    )  # fmt: skip
    runs = load_runs(tmp_path / "s")
    assert len(runs) == 6 and (runs["status"] == "completed").all()
    searched = study(tmp_path)
    trials = searched.trials
    best = max(t.value for t in trials)
    assert min(t.value for t in trials) < best  # else a minimising search would pass too
    assert searched.direction == optuna.study.StudyDirection.MAXIMIZE and searched.best_value == best
    assert best == runs["best_val_acc"].max() and f"best_val_acc {best:.4f}" in proc.stdout + proc.stderr
    # Not in batches: some trial started while a trial asked before it was still running.
    assert any(
        later.datetime_start < earlier.datetime_complete for i, later in enumerate(trials) for earlier in trials[:i]
    )
    # Each job's folder is its trial's number and its parameters, a float drawn in 6 digits;
    # the run used the exact value.
    for trial in trials:
        (folder,) = (tmp_path / "s").glob(f"{trial.number}_*")
        assert f"lr={trial.params['lr']:.6g}," in folder.name
        assert f"optimizer={trial.params['optimizer']}" in folder.name
        assert json.loads((folder / "result.json").read_text())["hyperparameters"]["lr"] == trial.params["lr"]


def test_a_search_minimises_the_objective_it_names_and_its_pruner_judges_that_metric(tmp_path):
    loss = ["hydra.sweeper.objective=best_val_loss", "hydra.sweeper.direction=minimize"]
    pruner = ["hydra.sweeper.pruner.name=median", "+hydra.sweeper.pruner.n_startup_trials=1"]
    search = [*SEARCH, *loss, *pruner, "hydra.sweeper.n_trials=4", "hydra.sweeper.storage=sqlite:///search.db"]
    proc = run_cli(*search, "hydra.sweep.dir=s", cwd=tmp_path, check=0)
    searched = study(tmp_path)
    assert searched.direction == optuna.study.StudyDirection.MINIMIZE
    for trial in searched.trials:
        (folder,) = (tmp_path / "s").glob(f"{trial.number}_*")
        result = json.loads((folder / "result.json").read_text())
        rows = (folder / "metrics.csv").read_text().splitlines()[1:]
        val_loss = [float(row.split(",")[4]) for row in rows]
        assert list(trial.intermediate_values.values()) == val_loss  # what the pruner judged each epoch
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert trial.value == result["best_val_loss"]
    best = min(t.value for t in searched.trials if t.value is not None)
    assert searched.best_value == best and f"best_val_loss {best:.4f}" in proc.stderr


@pytest.mark.slow
def test_a_warm_start_adds_exactly_the_runs_on_disk_that_fit_the_search(tmp_path):
    fit = ["-m", "data=digits", "epochs=2", "lr=0.05,0.5", "hidden=32,64", "hydra.sweep.dir=old/grid"]
    run_cli("experiments.train", *fit, cwd=tmp_path, check=0)
    misfits = {
        "other_epochs": ["data=digits", "epochs=3"],
        "outside": ["data=digits", "epochs=2", "lr=3"],
        "other_data": ["data=mnist_sample", "epochs=2"],
        "diverged": ["data=digits", "epochs=2", "lr=1000", "activation=relu", "init_scale=10"],
    }
    for name, overrides in misfits.items():
        run_cli("experiments.train", *overrides, f"hydra.run.dir=old/{name}", cwd=tmp_path, check=0)
    search = [*SEARCH, "hydra.sweeper.warm_start=[old]", "hydra.sweeper.storage=sqlite:///search.db"]
    proc = run_cli(*search, "hydra.sweeper.n_trials=2", "hydra.sweep.dir=s", cwd=tmp_path, check=0)
    said = proc.stderr.split("warm start from ")[1].splitlines()[0]
    assert "4 run(s) added to study mlp as finished trials; left out: " in said
    for why in (
        "1 not completed",
        "1 with other settings than this search's trials (epochs)",
        "1 outside the search space",
        "1 on other data",
    ):
        assert why in said
    trials = study(tmp_path).trials
    warm = [t for t in trials if "warm_start_from" in t.user_attrs]
    assert len(warm) == 4 and len(trials) == 6  # n_trials counts the search's own trials
    for trial in warm:
        run_dir = tmp_path / trial.user_attrs["warm_start_from"]
        result = json.loads((run_dir / "result.json").read_text())
        assert trial.params["lr"] == result["hyperparameters"]["lr"] and trial.value == result["best_val_acc"]
        assert trial.params["optimizer"] == "sgd" and trial.params["batch_size"] == 32
        val_acc = [float(row.split(",")[5]) for row in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
        assert list(trial.intermediate_values.values()) == val_acc  # what a pruner compares with
    again = run_cli(*search, "hydra.sweeper.n_trials=3", "hydra.sweep.dir=s2", cwd=tmp_path, check=0)
    assert "0 run(s) added" in again.stderr and "4 already in the study" in again.stderr
    assert len(study(tmp_path).trials) == 7


@pytest.mark.slow
def test_a_warm_start_into_a_search_of_several_seeds_adds_each_configurations_seeds_as_one_trial(tmp_path):
    grid = ["-m", "data=digits", "epochs=2", "lr=0.05,0.5", "seed=0,1", "hydra.sweep.dir=old"]
    run_cli("experiments.train", *grid, cwd=tmp_path, check=0)
    search = [*SEARCH, "hydra.sweeper.params=null", "lr=choice(0.05,0.5,1.0)", "hydra.sweeper.seeds=2"]
    proc = run_cli(*search, "hydra.sweeper.warm_start=[old]", "hydra.sweeper.storage=sqlite:///search.db",
                   "hydra.sweep.dir=s", "hydra.sweeper.n_trials=1", cwd=tmp_path, check=0)  # fmt: skip
    assert "4 run(s) added to study mlp as 2 finished trial(s) (a configuration's seeds one trial)" in proc.stderr
    warm = [t for t in study(tmp_path).trials if "warm_start_from" in t.user_attrs]
    assert len(warm) == 2
    for trial in warm:
        runs = [json.loads((tmp_path / run / "result.json").read_text()) for run in trial.user_attrs["warm_start_from"]]
        assert sorted(r["hyperparameters"]["seed"] for r in runs) == [0, 1]
        assert {r["hyperparameters"]["lr"] for r in runs} == {trial.params["lr"]}
        assert trial.user_attrs["seed_values"] == [[r["best_val_acc"]] for r in runs]
        assert trial.value == pytest.approx(statistics.fmean(r["best_val_acc"] for r in runs))
        curves = [
            [float(row.split(",")[5]) for row in (tmp_path / run / "metrics.csv").read_text().splitlines()[1:]]
            for run in trial.user_attrs["warm_start_from"]
        ]
        assert list(trial.intermediate_values.values()) == pytest.approx([statistics.fmean(v) for v in zip(*curves)])


@pytest.mark.slow
def test_a_warm_start_adds_only_what_a_trial_of_the_search_would_have_run(tmp_path):
    """The warm-start defects of the trial-model issue: every setting of a searched group's option
    compared; one run per seed; a pruned trial's finished seed never revived; with
    aggregate=confidence_bound, a configuration with fewer seeds than the search's left out."""
    old = ["data=digits", "epochs=2", "optimizer=momentum"]
    run_cli(
        "experiments.train", "-m", *old, "lr=0.05,0.5", "seed=0,1", "hydra.sweep.dir=old/grid", cwd=tmp_path, check=0
    )
    for name, overrides in {
        "repeat": ["lr=0.05", "seed=0"],  # seed 0 of a configuration again: one seed, its latest run
        "momentum": ["lr=0.05", "optimizer.momentum=0.5"],  # a trial with optimizer=momentum runs 0.9
        "lone": ["lr=1.0", "seed=0"],  # one seed of a 2-seed search's configuration
        "pruned": ["lr=1.0", "seed=1"],  # made a seed of a pruned trial below
    }.items():
        run_cli("experiments.train", *old, *overrides, f"hydra.run.dir=old/{name}", cwd=tmp_path, check=0)
    result = json.loads((tmp_path / "old/pruned/result.json").read_text())
    result["trial"] = {"number": 3, "study": "other", "state": "pruned", "pruned_at_epoch": 1}
    (tmp_path / "old/pruned/result.json").write_text(json.dumps(result))
    search = [*SEARCH, "hydra.sweeper.params=null", "lr=choice(0.05,0.5,1.0)", "optimizer=choice(sgd,momentum)",
              "hydra.sweeper.seeds=2", "hydra.sweeper.aggregate=confidence_bound"]  # fmt: skip
    proc = run_cli(*search, "hydra.sweeper.warm_start=[old]", "hydra.sweeper.storage=sqlite:///search.db",
                   "hydra.sweep.dir=s", "hydra.sweeper.n_trials=1", cwd=tmp_path, check=0)  # fmt: skip
    said = proc.stderr.split("warm start from ")[1].splitlines()[0]
    assert "4 run(s) added to study mlp as 2 finished trial(s)" in said
    for why in ("1 repeating a seed of their configuration (its latest run counts)",
                "1 with other settings than this search's trials (optimizer.momentum)", "1 seeds of a pruned trial",
                "1 of configurations with fewer than 2 seeds (confidence_bound needs as many)"):  # fmt: skip
        assert why in said
    for trial in (t for t in study(tmp_path).trials if "warm_start_from" in t.user_attrs):
        runs = [json.loads((tmp_path / run / "result.json").read_text()) for run in trial.user_attrs["warm_start_from"]]
        assert sorted(r["hyperparameters"]["seed"] for r in runs) == [0, 1]
        assert {r["hyperparameters"]["optimizer"]["momentum"] for r in runs} == {0.9}
        assert trial.value == pytest.approx(combined([r["best_val_acc"] for r in runs], "maximize", "confidence_bound"))


CONDITIONAL = [
    "hydra.sweeper.params=null", "optimizer=choice(sgd,momentum,adam)", "optimizer.momentum=interval(0.5,0.95)",
    "optimizer.beta1=interval(0.8,0.95)", "hidden.layers=choice(1,2)", "hidden.0=choice(32,64)",
    "hidden.1=choice(16,32)",
    'hydra.sweeper.conditions={optimizer.momentum: "optimizer=momentum", optimizer.beta1: "optimizer=adam"}',
    "hydra.sweeper.sampler.name=random",
]  # fmt: skip


@pytest.mark.slow  # 8-11 s: make test keeps within its budget; CI runs it
def test_a_conditional_space_searches_a_setting_with_the_options_that_take_it_and_each_layer_of_a_depth(tmp_path):
    search = [*SEARCH, *CONDITIONAL, "hydra.sweeper.n_trials=8"]
    planned = run_cli(*search, "dry_run=true", cwd=tmp_path, check=0).stdout
    assert "optimizer.momentum: a float in [0.5, 0.95], when optimizer is momentum" in planned
    assert "hidden.1: one of 16, 32, when hidden.layers is 2" in planned
    run_cli(*search, "hydra.sweeper.storage=sqlite:///search.db", "hydra.sweep.dir=s", cwd=tmp_path, check=0)
    trials = study(tmp_path).trials
    assert {t.params["optimizer"] for t in trials} == {"sgd", "momentum", "adam"}
    assert {t.params["hidden.layers"] for t in trials} == {1, 2}
    for trial in trials:
        params = trial.params
        assert ("optimizer.momentum" in params) == (params["optimizer"] == "momentum")
        assert ("optimizer.beta1" in params) == (params["optimizer"] == "adam")
        assert ("hidden.1" in params) == (params["hidden.layers"] == 2)
        (folder,) = (tmp_path / "s").glob(f"{trial.number}_*")
        result = json.loads((folder / "result.json").read_text())
        assert result["status"] == "completed" and trial.value == result["best_val_acc"]
        ran = result["hyperparameters"]
        assert ran["hidden"] == [params[f"hidden.{i}"] for i in range(params["hidden.layers"])]
        assert ran["optimizer"]["name"] == params["optimizer"]
        for setting in ("momentum", "beta1"):
            if f"optimizer.{setting}" in params:
                assert ran["optimizer"][setting] == params[f"optimizer.{setting}"]
    # Its runs warm-start another study with this space: each is the trial it was, values and all.
    again = [*SEARCH, *CONDITIONAL, "hydra.sweeper.warm_start=[s]", "hydra.sweeper.storage=sqlite:///again.db"]
    run_cli(*again, "hydra.sweeper.n_trials=1", "hydra.sweep.dir=s2", cwd=tmp_path, check=0)
    warm = optuna.load_study(study_name="mlp", storage=f"sqlite:///{tmp_path / 'again.db'}").trials
    by_run = {t.user_attrs["warm_start_from"]: t for t in warm if "warm_start_from" in t.user_attrs}
    assert len(by_run) == 8
    for trial in trials:
        (folder,) = (tmp_path / "s").glob(f"{trial.number}_*")
        assert by_run[str(folder)].params == trial.params and by_run[str(folder)].value == trial.value


def seed_folders(sweep_dir, trial, seeds) -> list:
    """The folders of a trial's runs (jobs trial x seeds + i), in seed order."""
    folders = []
    for i in range(seeds):
        (folder,) = sweep_dir.glob(f"{trial.number * seeds + i}_*")  # one each
        folders.append(folder)
    return folders


def started_seed_folders(sweep_dir, trial, seeds) -> list:
    """The folders of those of a trial's seeds that started, in seed order."""
    return [folder for i in range(seeds) for folder in sweep_dir.glob(f"{trial.number * seeds + i}_*")]


def seed_runs(sweep_dir, trial, seeds) -> list[dict]:
    """The result.json of each of a trial's runs, in seed order."""
    return [json.loads((folder / "result.json").read_text()) for folder in seed_folders(sweep_dir, trial, seeds)]


def test_each_trial_runs_its_seeds_and_is_told_their_mean_and_its_ties_are_compares(tmp_path):
    search = [*SEARCH, "hydra.sweeper.seeds=3", "seed=5", "hydra.sweeper.n_trials=4"]
    proc = run_cli(*search, "hydra.sweeper.storage=sqlite:///search.db", "hydra.sweep.dir=s", cwd=tmp_path, check=0)
    trials = study(tmp_path).trials
    assert len(trials) == 4 and len(load_runs(tmp_path / "s")) == 12
    for trial in trials:
        runs = seed_runs(tmp_path / "s", trial, 3)
        assert [run["hyperparameters"]["seed"] for run in runs] == [5, 6, 7]  # from the seed given
        assert {run["hyperparameters"]["lr"] for run in runs} == {trial.params["lr"]}
        assert trial.value == statistics.fmean(run["best_val_acc"] for run in runs)
    best = study(tmp_path).best_trial
    assert f"best trial {best.number}: best_val_acc {best.value:.4f} (mean of 3 seeds)" in proc.stderr
    # The trials tied with the best are those compare's seed statistics call tied with it.
    board = summarize(load_runs(tmp_path / "s"))
    tied_lrs = set(board.loc[board["tied_with_best"] == True, "lr"]) - {best.params["lr"]}  # noqa: E712
    tied = sorted(t.number for t in trials if t.params["lr"] in tied_lrs)
    if tied:
        assert f"trials {', '.join(map(str, tied))}" in proc.stderr.split(f"tied with trial {best.number}")[1]
    else:
        assert f"no other trial is tied with trial {best.number}" in proc.stderr


def test_a_trials_confidence_bound_is_the_pessimistic_end_of_its_seeds_95_interval():
    values = [0.91, 0.87, 0.9]
    half = scipy.stats.t.ppf(0.975, 2) * statistics.stdev(values) / 3**0.5  # compare's ci95
    assert combined(values, "maximize", "confidence_bound") == pytest.approx(statistics.fmean(values) - half)
    assert combined(values, "minimize", "confidence_bound") == pytest.approx(statistics.fmean(values) + half)
    assert combined(values, "maximize", "mean") == statistics.fmean(values)


def test_the_trials_tied_with_the_best_need_two_seeds_on_each_side():
    """A warm start can add a configuration of one seed; Welch's test needs two on each side, so
    the line says what it cannot tell instead of 'no other trial is tied' (p is NaN there)."""
    from experiments.sweep.search.answer import tied_with_best

    def trial(seeds):
        values = [[v] for v in seeds]
        return optuna.trial.create_trial(value=statistics.fmean(seeds), user_attrs={"seed_values": values} if
                                         len(seeds) > 1 else {}, params={}, distributions={})  # fmt: skip

    lone, pair, close, far = trial([0.95]), trial([0.90, 0.92]), trial([0.89, 0.93]), trial([0.5, 0.51])
    for number, t in enumerate((lone, pair, close, far)):
        t.number = number
    assert tied_with_best([lone, pair, close], lone) == (
        "which trials are tied with trial 0 cannot be told: it has fewer than 2 seeds"
    )
    said = tied_with_best([lone, pair, close, far], pair)
    assert said.startswith("tied with trial 1 (Welch's t-test") and "trials 2;" in said
    assert said.endswith("trials 0 have fewer than 2 seeds: not tested")
    p = scipy.stats.ttest_ind([0.89, 0.93], [0.90, 0.92], equal_var=False).pvalue
    assert p >= 0.05 and scipy.stats.ttest_ind([0.5, 0.51], [0.90, 0.92], equal_var=False).pvalue < 0.05


@pytest.mark.slow  # 8-11 s: make test keeps within its budget; CI runs it
def test_a_search_prunes_by_default_where_it_can_and_says_which_pruner_runs_and_why(tmp_path):
    """Decided (issue 45): hyperband by default for one objective measured every epoch, on jobs that
    report epochs; none where a search cannot prune, each said in the search's first line."""
    default = [s for s in SEARCH if not s.startswith("hydra.sweeper.pruner")]
    proc = run_cli(*default, "epochs=4", "hydra.sweeper.n_trials=6", "hydra.launcher.n_jobs=1",
                   "hydra.sweeper.storage=sqlite:///search.db", "hydra.sweep.dir=s", cwd=tmp_path, check=0)  # fmt: skip
    assert "; pruner: hyperband (default; hydra.sweeper.pruner.name=none turns it off)" in proc.stderr
    trials = study(tmp_path).trials
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and all(max(t.intermediate_values) < 4 for t in pruned)  # never at its last epoch: nothing saved
    for i, (overrides, said) in enumerate((
        (["'hydra.sweeper.objective=[best_val_acc,parameters]'", "'hydra.sweeper.direction=[maximize,minimize]'"],
         "pruner: none (2 objectives cannot be pruned)"),
        (["hydra.sweeper.objective=wall_time_s", "hydra.sweeper.direction=minimize"],
         "pruner: none (wall_time_s is known only at a run's end)"),
    )):  # fmt: skip
        overrides = [o.strip("'") for o in overrides]
        proc = run_cli(*default, "epochs=1", "hydra.sweeper.n_trials=1", *overrides, f"hydra.sweep.dir=t{i}",
                       cwd=tmp_path, check=0)  # fmt: skip
        assert said in proc.stderr


@pytest.mark.slow
def test_a_pruner_judges_a_trial_on_its_seeds_mean_curve(tmp_path):
    pruner = ["hydra.sweeper.pruner.name=median", "+hydra.sweeper.pruner.n_startup_trials=1"]
    search = [*SEARCH, "epochs=4", "hydra.sweeper.seeds=2", *pruner, "hydra.sweeper.n_trials=6"]
    run_cli(*search, "hydra.sweeper.storage=sqlite:///search.db", "hydra.sweep.dir=s", cwd=tmp_path, check=0)
    trials = study(tmp_path).trials
    assert any(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    for trial in trials:
        curves = [
            [float(r.split(",")[5]) for r in (folder / "metrics.csv").read_text().splitlines()[1:]]
            for folder in seed_folders(tmp_path / "s", trial, 2)
        ]
        for epoch, value in trial.intermediate_values.items():
            assert value == (curves[0][epoch - 1] + curves[1][epoch - 1]) / 2  # judged once both seeds got there
        statuses = {r["status"] for r in seed_runs(tmp_path / "s", trial, 2)}
        assert ("pruned" in statuses) == (trial.state == optuna.trial.TrialState.PRUNED)


@pytest.mark.slow
def test_a_trials_seeds_are_judged_together_and_a_pruned_trial_is_never_ranked(tmp_path):
    """The case of the trial-model issue: 3 seeds a trial on 2 workers with a median pruner. Each
    seed waits at an epoch for its trial's verdict, so none trains past the epoch its trial was
    pruned at, and a pruned trial's seeds not started never start; its seeds are listed as its,
    never ranked as a configuration of their own."""
    pruner = ["hydra.sweeper.pruner.name=median", "+hydra.sweeper.pruner.n_startup_trials=2"]
    search = [*SEARCH, "epochs=6", "hydra.sweeper.seeds=3", *pruner, "hydra.sweeper.n_trials=8"]
    proc = run_cli(*search, "hydra.launcher.n_jobs=2", "hydra.sweeper.storage=sqlite:///search.db",
                   "hydra.sweep.dir=s", cwd=tmp_path, check=0)  # fmt: skip
    trials = study(tmp_path).trials
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "the median pruner stopped no trial"
    runs = load_runs(tmp_path / "s")
    for trial in trials:
        folders = started_seed_folders(tmp_path / "s", trial, 3)
        results = [json.loads((f / "result.json").read_text()) for f in folders]
        curves = [[float(r.split(",")[5]) for r in (f / "metrics.csv").read_text().splitlines()[1:]] for f in folders]
        # Each epoch judged on the mean of the seeds that had reached it, the first seed among them.
        for epoch, value in trial.intermediate_values.items():
            reached = [curve[epoch - 1] for curve in curves if len(curve) >= epoch]
            means = [statistics.fmean(reached[: k + 1]) for k in range(len(reached))]
            assert any(value == pytest.approx(mean, abs=1e-12) for mean in means)
        state = "pruned" if trial in pruned else "completed"
        assert {r["trial"]["state"] for r in results} == {state} and {r["trial"]["number"] for r in results} == {
            trial.number
        }
        if trial in pruned:
            at = max(trial.intermediate_values)
            assert results[0]["trial"]["pruned_at_epoch"] == at
            # No seed trained past its trial's verdict; a seed not started by then never started.
            assert all(r["status"] == "pruned" and r["epochs_completed"] == at for r in results)
            assert len(results) < 3 or at > 1
        else:
            assert len(results) == 3 and all(r["status"] == "completed" for r in results)
    # The rankings: one row per completed trial, none for a pruned one, whose runs are listed as its.
    board = summarize(runs)
    assert sorted(board["n_seeds"]) == [3] * (len(trials) - len(pruned))
    lost = unsuccessful_runs(runs)
    assert len(lost) == sum(len(started_seed_folders(tmp_path / "s", t, 3)) for t in pruned)
    assert all(
        reason.startswith("trial ") and " pruned by the search after epoch " in reason for reason in lost["reason"]
    )
    assert f"{len(pruned)} trial{'s' if len(pruned) > 1 else ''} pruned by the search" in proc.stderr


def test_a_two_objective_search_ends_with_its_pareto_front(tmp_path):
    objectives = ["hydra.sweeper.objective=[best_val_acc,parameters]", "hydra.sweeper.direction=[maximize,minimize]"]
    search = [*SEARCH, *objectives, "hydra.sweeper.n_trials=8", "hydra.sweeper.storage=sqlite:///search.db"]
    proc = run_cli(*search, "hydra.sweep.dir=s", cwd=tmp_path, check=0)
    points = {}
    for trial in study(tmp_path).trials:
        (folder,) = (tmp_path / "s").glob(f"{trial.number}_*")
        result = json.loads((folder / "result.json").read_text())
        hidden = result["hyperparameters"]["hidden"]
        assert result["parameters"] == 64 * hidden + hidden + hidden * 10 + 10  # digits: 64 pixels, 10 classes
        assert trial.values == [result["best_val_acc"], result["parameters"]]
        points[trial.number] = tuple(trial.values)
    front = {n for n, point in points.items() if not dominated(point, points.values())}
    assert 0 < len(front) < len(points)
    said = proc.stderr.split("the Pareto front of best_val_acc (maximize), parameters (minimize): ")[1]
    assert said.startswith(f"{len(front)} of 8 completed trials")
    assert {int(line.split()[1].rstrip(":")) for line in said.splitlines()[1 : len(front) + 1]} == front


# A search of the learning rate alone, 2 seeds a trial: its trials' numbers are the same on every machine kind
CONSTRAINED = [
    "experiments.train", "hparams_search=optuna", "data=digits", "epochs=3", "hydra.sweeper.pruner.name=none",
    "hydra.sweeper.params=null", "lr=tag(log, interval(0.05, 2))", "hydra.sweeper.seeds=2", "hydra.sweeper.n_trials=6",
]  # fmt: skip
LIMIT = "hydra.sweeper.constraints={final_val_acc: '<=0.8'}"


def trials_from_files(sweep_dir) -> pd.DataFrame:
    """Each trial's seeds' means, recomputed with pandas from its runs' result.json."""
    results = [json.loads(path.read_text()) for path in sweep_dir.glob("*/result.json")]
    rows = [
        {"trial": r["trial"]["number"], "lr": r["hyperparameters"]["lr"], "best_val_acc": r["best_val_acc"],
         "final_val_acc": r["final_val_acc"], "infeasible": r["trial"].get("infeasible")}
        for r in results
    ]  # fmt: skip
    return (
        pd.DataFrame(rows)
        .groupby("trial")
        .agg({"lr": "first", "best_val_acc": "mean", "final_val_acc": "mean", "infeasible": "first"})
    )


@pytest.mark.slow  # 8-11 s: make test keeps within its budget; CI runs it
def test_a_constrained_search_returns_its_best_feasible_trial_as_compare_where_does(tmp_path):
    proc = run_cli(*CONSTRAINED, LIMIT, "hydra.sweeper.storage=sqlite:///search.db", "hydra.sweep.dir=s",
                   cwd=tmp_path, check=0)  # fmt: skip
    trials = trials_from_files(tmp_path / "s")
    feasible = trials[trials["final_val_acc"] <= 0.8]
    assert trials["best_val_acc"].idxmax() not in feasible.index, "the premise: the unconstrained best breaks it"
    assert 0 < len(feasible) < len(trials) == 6
    best = feasible["best_val_acc"].idxmax()
    searched = study(tmp_path)
    assert searched.best_trial.number == best  # Optuna's own answer, from the constraints the search told it
    for trial in searched.trials:
        excess = trials.loc[trial.number, "final_val_acc"] - 0.8
        assert trial.constraints == {"final_val_acc": pytest.approx(excess, abs=1e-12)}
        assert isinstance(trials.loc[trial.number, "infeasible"], str) == (excess > 0)  # what result.json records
    assert f"best trial {best}: best_val_acc {feasible.loc[best, 'best_val_acc']:.4f}" in proc.stderr
    assert f"{len(feasible)} of 6 completed trials meet them, {6 - len(feasible)} break them" in proc.stderr
    tied = proc.stderr.split(f"tied with trial {best}")[1].splitlines()[0]
    assert not {int(n) for n in re.findall(r"\d+", tied.split("trials")[-1])} - set(feasible.index)
    # compare's own tables, and compare --where on each configuration's mean, rank the feasible ones alone
    board = summarize(load_runs(tmp_path / "s"))
    assert sorted(map(float, board["lr"])) == pytest.approx(sorted(feasible["lr"]), rel=1e-5)
    run_cli("experiments.compare", "s", "--where", "final_val_acc<=0.8", "--csv", "where.csv", cwd=tmp_path, check=0)
    where = pd.read_csv(tmp_path / "s" / "where.csv")
    assert float(where["lr"].iloc[0]) == pytest.approx(feasible.loc[best, "lr"], rel=1e-5) and len(where) == len(
        feasible
    )
    listed = run_cli("experiments.compare", "s", cwd=tmp_path, check=0).stdout
    for number in trials.index.difference(feasible.index):
        assert f"trial {number} infeasible: final_val_acc {trials.loc[number, 'final_val_acc']:.4g} > 0.8 (by" in listed
    # a warm start from these runs leaves the configurations that break the limit out
    warm = run_cli(*CONSTRAINED, LIMIT, "hydra.sweeper.n_trials=1", "hydra.sweeper.warm_start=[s]",
                   "hydra.sweeper.storage=sqlite:///warm.db", "hydra.sweep.dir=w", cwd=tmp_path, check=0)  # fmt: skip
    assert f"{2 * len(feasible)} run(s) added" in warm.stderr
    assert f"{2 * (6 - len(feasible))} breaking the constraints (final_val_acc<=0.8)" in warm.stderr


def test_a_trial_too_big_for_a_size_limit_is_never_trained_and_an_all_infeasible_search_says_so(tmp_path):
    search = [*SEARCH, "hydra.sweeper.params=null", "hidden=choice(16,256)", "lr=tag(log, interval(0.05, 1))",
              "hydra.sweeper.n_trials=6", "hydra.sweeper.storage=sqlite:///search.db"]  # fmt: skip
    proc = run_cli(*search, "hydra.sweeper.constraints={parameters: '<=5000'}", "hydra.sweep.dir=s",
                   cwd=tmp_path, check=0)  # fmt: skip
    searched = study(tmp_path)
    big = [t for t in searched.trials if t.params["hidden"] == 256]  # digits: 64*256 + 256 + 256*10 + 10 numbers
    assert big and len(big) < 6
    for trial in big:
        assert trial.state == optuna.trial.TrialState.PRUNED and trial.constraints == {"parameters": 19210 - 5000}
        assert f"trial {trial.number} not trained, its size breaks the limit: parameters 19,210 > 5,000" in proc.stderr
        assert not list((tmp_path / "s").glob(f"{trial.number}_*"))
    runs = load_runs(tmp_path / "s")
    assert len(runs) == 6 - len(big) and set(runs["hidden"]) == {16}
    assert f"{len(big)} not trained (too big)" in proc.stderr and searched.best_trial.params["hidden"] == 16
    tiny = run_cli(*search, "hydra.sweeper.constraints={parameters: '<=100'}", "hydra.sweeper.study_name=tiny",
                   "hydra.sweep.dir=t", cwd=tmp_path, check=0)  # fmt: skip
    assert "study tiny has no completed trial that meets the constraints" in tiny.stderr
    assert "no trial was trained: the 6 this launch asked were too big for the search's constraints" in tiny.stderr
    assert not list((tmp_path / "t").glob("*/result.json"))


@pytest.mark.slow
def test_a_search_in_batches_waits_for_each_batch_and_asks_the_same_trials_on_every_launch(tmp_path):
    def launch(name):
        run_cli(
            *SEARCH, "hydra.sweeper.batches=true", "hydra.sweeper.n_trials=6", "hydra.launcher.n_jobs=2",
            f"hydra.sweeper.study_name={name}", "hydra.sweeper.storage=sqlite:///search.db", f"hydra.sweep.dir={name}",
            cwd=tmp_path, check=0,
        )  # fmt: skip
        return study(tmp_path, name).trials

    first, second = launch("a"), launch("b")
    for later in first[2:]:  # trials 2k and 2k+1 start only once both trials of the batch before have ended
        batch = later.number // 2 * 2
        assert all(t.datetime_complete <= later.datetime_start for t in first[batch - 2 : batch])
    assert [t.params for t in first] == [t.params for t in second]


@pytest.mark.slow
def test_a_search_with_a_timeout_asks_no_trial_after_it_and_lets_the_running_ones_finish(tmp_path):
    proc = run_cli(
        *SEARCH, "hydra.sweeper.timeout=0.5", "hydra.sweeper.n_trials=100", "hydra.sweeper.storage=sqlite:///search.db",
        "hydra.sweep.dir=s", cwd=tmp_path, check=0,
    )  # fmt: skip
    trials = study(tmp_path).trials
    assert "hydra.sweeper.timeout=0.5 s passed: no further trial is asked" in proc.stdout + proc.stderr
    said = r"job \d+ finished: 1 run of this folder done; the search stops once its study holds n_trials=100"
    assert re.search(said + ", asked for 0.5 s", proc.stdout + proc.stderr)  # one run, not "1 runs"
    assert 1 <= len(trials) < 100 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len(load_runs(tmp_path / "s")) == len(trials)


@pytest.mark.slow
def test_a_choice_of_lists_is_searched_and_stored_as_their_override_text(tmp_path):
    proc = run_cli(
        *SEARCH, "hydra.sweeper.params=null", "hidden=choice([16,8],[32])", "lr=interval(0.1,1)",
        "hydra.sweeper.n_trials=4", "hydra.sweeper.storage=sqlite:///search.db", "hydra.sweep.dir=s",
        cwd=tmp_path, check=0,
    )  # fmt: skip
    assert "UserWarning" not in proc.stderr  # Optuna stores plain values only
    assert {t.params["hidden"] for t in study(tmp_path).trials} <= {"[16,8]", "[32]"}
    runs = load_runs(tmp_path / "s")
    assert set(runs["hidden"]) <= {"[16,8]", "[32]"} and (runs["status"] == "completed").all()


@pytest.mark.slow
def test_a_relaunched_search_continues_toward_its_total_without_repeating_a_trial(tmp_path):
    storage = "hydra.sweeper.storage=sqlite:///search.db"
    run_cli(*SEARCH, storage, "hydra.sweeper.n_trials=3", cwd=tmp_path, check=0)
    again = run_cli(*SEARCH, storage, "hydra.sweeper.n_trials=5", cwd=tmp_path, check=0)
    assert "holds 3 trials of n_trials=5" in again.stdout + again.stderr
    params = [tuple(sorted(t.params.items())) for t in study(tmp_path).trials]
    assert len(params) == 5 and len(set(params)) == 5, params  # the sampler did not start over


@pytest.mark.slow
def test_a_failed_trial_is_told_as_failed_and_the_search_goes_on(tmp_path):
    # 2000 validation digits is more than digits has: those trials fail.
    proc = run_cli(
        *SEARCH, "data.val_size=choice(100,2000)", "hydra.sweeper.n_trials=6", "hydra.sweeper.storage=sqlite:///search.db",
        "hydra.sweeper.sampler.seed=1", cwd=tmp_path,
    )  # fmt: skip
    states = {t.params["data.val_size"]: t.state for t in study(tmp_path).trials}
    assert states == {100: optuna.trial.TrialState.COMPLETE, 2000: optuna.trial.TrialState.FAIL}, states
    assert len(study(tmp_path).trials) == 6 and proc.returncode == 1  # the summary lists the failures


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["random", "cmaes"])
def test_samplers_by_name_with_their_settings(tmp_path, sampler):
    run_cli(
        *SEARCH, f"hydra.sweeper.sampler.name={sampler}",
        "hydra.sweeper.params.optimizer=sgd", "hydra.sweeper.params.hidden=32", "hydra.sweeper.params.batch_size=32",
        "hydra.sweeper.n_trials=3", "hydra.sweeper.storage=sqlite:///search.db", cwd=tmp_path, check=0,
    )  # fmt: skip
    trials = study(tmp_path).trials
    assert len(trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert set(trials[0].params) == {"lr", "init_scale"}


@pytest.mark.slow
def test_a_grid_sampler_tries_every_combination_once(tmp_path):
    grid = ["hydra.sweeper.sampler.name=grid", "hydra.sweeper.params=null"]
    space = ["lr=choice(0.1,0.5)", "hidden=16,32"]
    storage = "hydra.sweeper.storage=sqlite:///search.db"
    run_cli(SEARCH[0], "-m", *SEARCH[1:], *grid, *space, "hydra.sweeper.n_trials=9", storage, cwd=tmp_path, check=0)
    assert sorted((t.params["lr"], t.params["hidden"]) for t in study(tmp_path).trials) == [
        (0.1, 16), (0.1, 32), (0.5, 16), (0.5, 32)
    ]  # fmt: skip


@pytest.mark.slow  # 8-11 s: make test keeps within its budget; CI runs it
def test_queued_configurations_are_the_first_trials_and_a_launch_again_does_not_queue_them_again(tmp_path):
    queued = "hydra.sweeper.enqueue=[{lr:0.3,hidden:32,optimizer:sgd},{lr:1.5}]"  # the second: the rest drawn
    search = [*SEARCH, queued, "hydra.sweeper.storage=sqlite:///search.db", "hydra.sweeper.n_jobs=1"]
    planned = run_cli(*search, "dry_run=true", cwd=tmp_path, check=0)
    assert "queued first: {'lr': 0.3, 'hidden': 32, 'optimizer': 'sgd'}" in planned.stdout + planned.stderr
    run_cli(*search, "hydra.sweeper.n_trials=3", "hydra.sweep.dir=first", cwd=tmp_path, check=0)
    trials = study(tmp_path).trials
    assert {k: trials[0].params[k] for k in ("lr", "hidden", "optimizer")} == {
        "lr": 0.3,
        "hidden": 32,
        "optimizer": "sgd",
    }
    assert trials[1].params["lr"] == 1.5 and len(trials[1].params) == 5  # the others drawn by the sampler
    assert trials[2].params["lr"] not in (0.3, 1.5)
    run_cli(*search, "hydra.sweeper.n_trials=4", "hydra.sweep.dir=second", cwd=tmp_path, check=0)
    trials = study(tmp_path).trials
    assert len(trials) == 4 and trials[3].params["lr"] not in (0.3, 1.5)  # asked, not queued again


@pytest.mark.parametrize(
    "override, message",
    [
        ("hydra.sweeper.sampler.name=bayes", "hydra.sweeper.sampler.name='bayes' is not one of tpe, random, grid"),
        ("+hydra.sweeper.sampler.n_startup=3", "does not take n_startup; it takes"),
        ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials=0 must be an integer >= 1"),
        ("hydra.sweeper.timeout=0", "hydra.sweeper.timeout=0.0 must be a number of seconds > 0, or null"),
        ("hydra.sweeper.pruner.name=asha", "hydra.sweeper.pruner.name='asha' is not one of none, median, halving"),
        ("+hydra.sweeper.pruner.warmup=2", "hydra.sweeper.pruner.name=none does not take warmup"),
        ("hydra.sweeper.direction=up", "hydra.sweeper.direction='up' is not one of maximize, minimize"),
        ("hydra.sweeper.objective=test_acc", "hydra.sweeper.objective=test_acc is a test-set number"),
        ("hydra.sweeper.warm_start=[nowhere]", "nowhere is not a folder of runs"),
        ("hydra.sweeper.seeds=0", "hydra.sweeper.seeds=0 must be an integer >= 1 (runs per trial)"),
        ("hydra.sweeper.aggregate=median", "hydra.sweeper.aggregate='median' is not one of mean, confidence_bound"),
        ("hydra.sweeper.aggregate=confidence_bound", "confidence_bound needs hydra.sweeper.seeds >= 2"),
        ("hydra.sweeper.seeds=2 seed=choice(0,1)", "seed is searched, and hydra.sweeper.seeds gives each trial"),
        ("hydra.sweeper.objective=val_acc_best", "hydra.sweeper.objective='val_acc_best' is not one of best_val_acc"),
        ("hydra.sweeper.objective=[best_val_acc,parameters]", "is one direction for 2 objectives: give one each"),
        (
            "hydra.sweeper.objective=[best_val_acc,parameters] hydra.sweeper.direction=[maximize,minimize] "
            "hydra.sweeper.pruner.name=median",
            "hydra.sweeper.pruner.name=median with 2 objectives: Optuna prunes single-objective studies only",
        ),
        (
            "hydra.sweeper.objective=wall_time_s hydra.sweeper.direction=minimize hydra.sweeper.pruner.name=median",
            "hydra.sweeper.objective=wall_time_s is known only at a run's end",
        ),
        (
            "hydra.sweeper.objective=[best_val_acc,parameters] hydra.sweeper.direction=[maximize,minimize] "
            "hydra.sweeper.sampler.name=cmaes",
            "hydra.sweeper.sampler.name=cmaes searches one objective",
        ),
        ("lrr=interval(0.1,1)", "unknown config key 'lrr'"),
        ("lr=interval(-1,1)", "lr=-1.0 is not allowed: must be a finite number > 0"),
        ("optimizer=choice(sgd,rmsprop)", "optimizer=rmsprop is not one of sgd, momentum, nesterov, adam"),
        ("hydra.sweeper.storage=sqlite:///a_file/x.db", "hydra.sweeper.storage=sqlite:///a_file/x.db cannot be opened"),
        ("hydra.sweeper.sampler.seed=abc", "hydra.sweeper.sampler: Optuna's TPESampler refuses seed='abc'"),
        ("hydra.sweeper.enqueue=[{lr:5}]", "hydra.sweeper.enqueue[0]: lr=5 is outside the search space: lr is from"),
        ("hydra.sweeper.enqueue=[{lrr:0.1}]", "hydra.sweeper.enqueue[0]: lrr=0.1: lrr is not searched (the space has"),
        ("hydra.sweeper.enqueue=[{hidden:48}]", "hidden=48 is outside the search space: hidden is [32, 64, 128, 256]"),
        (  # a setting only some of the searched options take, without its condition
            "hydra.sweeper.params=null optimizer=choice(sgd,momentum) optimizer.momentum=interval(0.5,0.9)",
            "optimizer.momentum=0.5: optimizer.momentum does not apply to optimizer=sgd (it takes weight_decay) (to "
            "search optimizer.momentum only with the optimizers that take it, give it a condition: "
            """'hydra.sweeper.conditions={optimizer.momentum: "optimizer=..."}')""",
        ),
        (  # checked under each value of its condition
            "optimizer.momentum=interval(0.5,1.0) "
            "hydra.sweeper.conditions={optimizer.momentum:'optimizer=momentum,nesterov'}",
            "optimizer=nesterov optimizer.momentum=1.0: optimizer.momentum=1.0 is not allowed",
        ),
        ("hydra.sweeper.conditions={lrr:'optimizer=sgd'}", "hydra.sweeper.conditions.lrr='optimizer=sgd': lrr is not"),
        (
            "optimizer.momentum=interval(0.5,0.9) hydra.sweeper.conditions={optimizer.momentum:'optimizer=adam'}",
            "adam is not one of optimizer's: sgd, momentum, nesterov",
        ),
        (
            "optimizer.momentum=interval(0.5,0.9) hydra.sweeper.conditions={optimizer.momentum:'lr=0.1'}",
            "lr must be a searched choice",
        ),
        (
            "optimizer.momentum=interval(0.5,0.9) hydra.sweeper.conditions={optimizer.momentum:'momentum'}",
            "a condition is written parent=value or parent=value,value",
        ),
        (
            "activation=choice(relu,tanh) "
            "hydra.sweeper.conditions={optimizer:'activation=relu',activation:'optimizer=sgd'}",
            "optimizer, activation depend on each other in a cycle",
        ),
        (
            "optimizer.momentum=interval(0.5,0.9) hydra.sweeper.conditions={optimizer.momentum:'optimizer=momentum'} "
            "hydra.sweeper.enqueue=[{optimizer:sgd,optimizer.momentum:0.7}]",
            "optimizer.momentum is searched only when optimizer=momentum, not optimizer=sgd",
        ),
        (
            "hydra.sweeper.params=null optimizer=choice(sgd,momentum) optimizer.momentum=choice(0.5,0.9) "
            "hydra.sweeper.conditions={optimizer.momentum:'optimizer=momentum'} hydra.sweeper.sampler.name=grid",
            "a conditional space needs another sampler",
        ),
        ("hidden.0=choice(32,64)", "hidden is searched as a whole and layer by layer"),
        ("~hydra.sweeper.params.hidden hidden.1=choice(32,64)", "found: hidden.1"),
        (
            "~hydra.sweeper.params.hidden hidden.layers=choice(1,2,3) hidden.0=choice(32,64) hidden.1=choice(32,64)",
            "hidden.layers must be a choice of numbers of hidden layers from 1 to 2",
        ),
        (
            "~hydra.sweeper.params.hidden hidden.layers=choice(1,2) hidden.0=choice(32,64) hidden.1=choice(0,16)",
            "hidden=[32,0]: hidden=[32, 0] is not allowed: must be an integer >= 1",
        ),
        ("hydra.sweeper.constraints={test_acc:'>=0.9'}", "hydra.sweeper.constraints.test_acc: test_acc is a test-set"),
        ("hydra.sweeper.constraints={params:'<=5000'}", "'params' is not a number a run records; one of best_val_acc"),
        ("hydra.sweeper.constraints={parameters:'<5000'}", "'<' is not a limit; write <= or >= and a bound"),
        ("hydra.sweeper.constraints={parameters:'<=many'}", "the bound 'many' is not a finite number"),
        ("hydra.sweeper.constraints=5000", "hydra.sweeper.constraints=5000 is not a mapping"),
        (
            "hydra.sweeper.pruner.name=median +hydra.sweeper.pruner.n_warmup_steps=-1",
            "Number of warmup steps cannot be negative",
        ),
        (
            "hydra.sweeper.pruner.name=median +hydra.sweeper.pruner.n_startup_trials=-2",
            "Number of startup trials cannot be negative",
        ),
    ],
)
def test_a_search_that_cannot_run_is_refused_in_one_line_before_any_trial(tmp_path, override, message):
    (tmp_path / "a_file").write_text("not a folder")
    proc = run_cli(*SEARCH, *override.split(), "hydra.sweep.dir=s", cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and message in output and "Traceback" not in output, output
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_a_search_in_sqlite_resumes_after_a_kill_and_two_launches_share_it(tmp_path):
    search = [*SEARCH, "hydra.sweeper.storage=sqlite:///search.db"]
    proc = subprocess.Popen(
        [sys.executable, "-m", *search, "hydra.sweeper.n_trials=4"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    # A job's result.json first (the study's tables exist by then: reading the file while the
    # search creates them would race it), then the study's record of a finished trial.
    while not (list(tmp_path.glob("runs/multirun/*/*/result.json")) and finished(tmp_path)):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the laptop lid: no chance to clean up
    proc.wait()
    before = finished(tmp_path)
    assert 1 <= before < 4

    again = run_cli(*search, "hydra.sweeper.n_trials=4", cwd=tmp_path, check=0)
    said = again.stdout + again.stderr
    assert f"holds {before} trials of n_trials=4" in said and "were cut short in" in said
    assert finished(tmp_path) == 4

    # Two launches on one machine share the study and its n_trials: together they make it 6.
    both = [  # each into a folder of its own: started in the same microsecond, two default folders would be one
        subprocess.Popen(
            [sys.executable, "-m", *search, "hydra.sweeper.n_trials=6", f"hydra.sweep.dir=launch{i}"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    assert finished(tmp_path) == 6


@pytest.mark.slow
def test_a_journal_file_storage_for_a_shared_disk(tmp_path):
    run_cli(*SEARCH, "hydra.sweeper.n_trials=2", "hydra.sweeper.storage=journal://search.log", cwd=tmp_path, check=0)
    again = run_cli(*SEARCH, "hydra.sweeper.n_trials=3", "hydra.sweeper.storage=journal://search.log", cwd=tmp_path)
    assert "holds 2 trials of n_trials=3" in again.stdout + again.stderr
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = JournalStorage(JournalFileBackend(str(tmp_path / "search.log")))
    assert len(optuna.load_study(study_name="mlp", storage=journal).trials) == 3


@pytest.mark.slow  # two launches: over 6 s
def test_a_changed_resume_of_a_search_says_the_one_difference_and_how_to_extend_it(tmp_path):
    search = [*SEARCH, "epochs=1", "hydra.sweeper.storage=sqlite:///s.db", "hydra.sweep.dir=s"]
    run_cli(*search, "hydra.sweeper.n_trials=1", cwd=tmp_path, check=0)
    proc = run_cli(*search, "hydra.sweeper.n_trials=2", "resume=true", cwd=tmp_path, check=2)
    said = [line for line in proc.stderr.splitlines() if "cannot resume" in line]
    assert len(said) == 1 and "Traceback" not in proc.stderr
    assert "other overrides than it was launched with: hydra.sweeper.n_trials: 1 at launch, 2 now (" in said[0]
    assert "to extend a search (more trials, other settings), launch it again, without resume=true" in said[0]
    assert len(study(tmp_path, file="s.db").trials) == 1


@pytest.mark.slow  # over 6 s: make test's budget
def test_a_pruned_trial_stops_after_the_epoch_it_was_judged_keeps_its_files_and_is_never_resumed(tmp_path):
    proc = run_cli(
        *SEARCH, "epochs=12", "hydra.sweeper.n_trials=10", "hydra.sweeper.pruner.name=median",
        "+hydra.sweeper.pruner.n_startup_trials=2", "hydra.sweeper.storage=sqlite:///search.db", "hydra.sweep.dir=s",
        cwd=tmp_path, check=0,
    )  # fmt: skip
    trials = {t.number: t for t in study(tmp_path).trials}
    pruned = [n for n, t in trials.items() if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "the median pruner stopped no trial"
    runs = load_runs(tmp_path / "s")
    for number in pruned:
        (run_dir,) = (tmp_path / "s").glob(f"{number}_*")
        result = json.loads((run_dir / "result.json").read_text())
        judged = max(trials[number].intermediate_values)  # the last epoch Optuna was told of
        assert result["status"] == "pruned" and result["epochs_completed"] == judged < 12
        assert len((run_dir / "metrics.csv").read_text().splitlines()) == 1 + judged
        assert (run_dir / "model.npz").is_file() and not (run_dir / "checkpoint.npz").exists()
        # Finished: resume=true leaves it as it is.
        before = (run_dir / "result.json").read_text()
        overrides = (run_dir / ".hydra" / "overrides.yaml").read_text().replace("- ", "").split()
        overrides = [o for o in overrides if not o.startswith("hparams_search")]
        assert train(composed(*overrides, "resume=true"), run_dir)["status"] == "pruned"
        assert (run_dir / "result.json").read_text() == before
    # Never ranked, however good its best epoch; listed apart, with the epoch it stopped after.
    output = proc.stdout + proc.stderr
    assert set(runs["status"]) == {"completed", "pruned"}
    assert f"{len(pruned)} trials pruned by the search, after epoch" in output
    board = output[output.index("the best") : output.index("the full table")]
    assert "pruned" not in board


def test_pruning_needs_a_launcher_that_reports_each_epoch(tmp_path):
    proc = run_cli(
        *SEARCH, "hydra.sweeper.pruner.name=median", "hydra/launcher=basic", "hydra.sweep.dir=s", cwd=tmp_path
    )
    assert proc.returncode == 2 and "needs a launcher that reports each epoch" in proc.stdout + proc.stderr
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_a_grid_with_optunas_median_pruner_stops_jobs_as_they_go(tmp_path):
    """Halving over a grid is synchronous (tests/test_halving.py); Optuna's pruners judge each job as it reports."""
    grid = ["-m", "data=digits", "epochs=12", "lr=0.01,0.05,0.2,1", "hidden=16,64", "seed=0,1"]
    median = ["hydra.sweeper.pruner.name=median", "+hydra.sweeper.pruner.n_startup_trials=2"]
    proc = run_cli("experiments.train", *grid, *median, "hydra.sweep.dir=s", cwd=tmp_path)
    runs = load_runs(tmp_path / "s")
    assert len(runs) == 16 and (runs["epochs_completed"] >= 1).all()  # every configuration started
    pruned = runs[runs["status"] == "pruned"]
    assert len(pruned) >= 2 and (pruned["epochs_completed"] < 12).all()
    assert set(runs["status"]) == {"completed", "pruned"} and proc.returncode == 0
    assert f"{len(pruned)} of 16 jobs pruned by median" in proc.stdout + proc.stderr


def test_a_grid_pruner_that_cannot_run_is_refused_before_any_job(tmp_path):
    grid = ["-m", "data=digits", "epochs=2", "lr=0.1,0.2,0.3", "hydra.sweep.dir=s"]
    for extra, message in (
        (["hydra.sweeper.pruner.name=asha"], "hydra.sweeper.pruner.name='asha' is not one of none, median"),
        (["hydra/launcher=basic", "hydra.sweeper.pruner.name=halving"], "needs a launcher that reports each epoch"),
        (
            ["hydra.sweeper.pruner.name=halving", "+hydra.sweeper.pruner.reduction_factor=1"],
            "hydra.sweeper.pruner.reduction_factor=1 must be an integer >= 2",
        ),  # a value halving refuses, found before any job
    ):
        proc = run_cli("experiments.train", *grid, *extra, cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stdout + proc.stderr
        assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_optuna_dashboard_opens_a_stored_search(tmp_path):
    """The README's command, on 127.0.0.1: the study and its trials are there, through the dashboard's HTTP API."""
    import shutil
    import socket
    import urllib.request

    dashboard = shutil.which("optuna-dashboard", path=os.path.dirname(sys.executable))
    if dashboard is None:
        pytest.skip("optuna-dashboard is not installed (pip install .[dashboard])")
    run_cli(*SEARCH, "hydra.sweeper.n_trials=3", "hydra.sweeper.storage=sqlite:///search.db", cwd=tmp_path, check=0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [dashboard, "sqlite:///search.db", "--host", "127.0.0.1", "--port", str(port), "--quiet"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as response:
                    studies = json.load(response)["study_summaries"]
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.2)
        (summary,) = studies
        assert summary["study_name"] == "mlp"
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}", timeout=5
        ) as response:
            trials = json.load(response)["trials"]
        assert len(trials) == 3 and {t["state"] for t in trials} == {"Complete"}
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.slow
def test_what_the_search_learned_importance_and_parallel_coordinates(tmp_path, capsys):
    from experiments.compare import main as compare_main

    proc = run_cli(*SEARCH, "hydra.sweeper.n_trials=8", "hydra.sweep.dir=s", cwd=tmp_path, check=0)
    assert "how much each hyperparameter mattered to best_val_acc (PED-ANOVA importance" in proc.stdout + proc.stderr
    assert (
        compare_main([str(tmp_path / "s"), "--plot", str(tmp_path / "c.png"), "--html", str(tmp_path / "r.html")]) == 0
    )
    out = capsys.readouterr().out
    table = out[out.index("PED-ANOVA importance") :]
    for key in ("lr", "hidden", "batch_size", "init_scale", "optimizer.name"):
        assert f"\n{key} " in table
    assert (tmp_path / "c_parallel.png").stat().st_size > 10_000
    page = (tmp_path / "r.html").read_text()
    assert "What the runs say about the hyperparameters" in page and 'alt="parallel coordinates"' in page


def test_a_search_runs_on_optunas_grpc_storage_proxy(tmp_path):
    """Beyond what one file serves: hydra.sweeper.storage=grpc://host:port, a client of Optuna's
    storage proxy in front of a database (here SQLite, in a server process this test starts)."""
    import contextlib
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-c", "import optuna, sys; optuna.storages.run_grpc_proxy_server("
         f"optuna.storages.RDBStorage('sqlite:///{tmp_path}/behind.db'), host='127.0.0.1', port={port})"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(300):  # until the server listens
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.1)
        run_cli("experiments.train", "hparams_search=optuna", "data=digits", "epochs=1", "hydra.sweeper.n_trials=3",
                f"hydra.sweeper.storage=grpc://127.0.0.1:{port}", "hydra.sweep.dir=s", cwd=tmp_path)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    trials = optuna.load_study(study_name="mlp", storage=f"sqlite:///{tmp_path}/behind.db").trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert sorted(load_runs(tmp_path / "s")["best_val_acc"]) == sorted(t.value for t in trials)


def test_the_search_settings_are_checked_once_and_the_sweeper_takes_them_from_the_sweep_checks(monkeypatch):
    """The sweep's callback checks hydra.sweeper.* once, into one SearchSettings (what its dry
    run and its checks read); the sweeper Hydra builds after it takes that very value through
    the callbacks Hydra hands it, and checks nothing again. Without the callback (a sweeper in
    another app), the sweeper checks its settings itself, once, as its sweep starts."""
    from hydra._internal.callbacks import Callbacks
    from hydra.types import HydraContext

    from experiments.sweep.checks import SweepChecks
    from experiments.sweep.search import sweeper as sweeper_module
    from experiments.sweep.search.checks import checked_settings
    from experiments.sweep.search.settings import SearchSettings, search_settings

    given = ["hparams_search=optuna", "data=digits", "++hydra.sweeper.params.lr='interval(0.01, 1)'"]
    config = composed(*given, "hydra.sweeper.seeds=3", "seed=5", return_hydra_config=True)
    settings = checked_settings(config)
    assert (settings.seeds, settings.first_seed, "seed=5" in settings.fixed) == (3, 5, False)

    def build(hydra_context):
        sweeper = sweeper_module.OptunaSearch(**{k: v for k, v in config.hydra.sweeper.items() if k != "_target_"})
        sweeper.setup(hydra_context=hydra_context, task_function=lambda cfg: None, config=config)
        return sweeper

    checks = SweepChecks()
    checks.search = settings  # as on_multirun_start leaves it
    callbacks = Callbacks()
    callbacks.callbacks.append(checks)
    built = []
    monkeypatch.setattr(sweeper_module, "search_settings", lambda *args: built.append(args) or search_settings(*args))
    monkeypatch.setattr(sweeper_module.OptunaSearch, "search", lambda self: None)  # the checks are what is tested
    with_checks = build(HydraContext(config_loader=None, callbacks=callbacks))
    with_checks.sweep(list(config.hydra.overrides.task))
    assert with_checks.settings is settings and built == []

    alone = build(HydraContext(config_loader=None, callbacks=Callbacks()))
    assert alone.settings is None
    alone.sweep(list(config.hydra.overrides.task))
    assert isinstance(alone.settings, SearchSettings) and len(built) == 1
    assert (alone.settings.seeds, alone.settings.first_seed, alone.settings.fixed) == (3, 5, settings.fixed)
