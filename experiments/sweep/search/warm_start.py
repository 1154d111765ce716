"""A search that starts from runs already on disk (hydra.sweeper.warm_start=[runs/multirun/X, ...]).

Each completed run of the folders named that this search could have run (its data and every
setting the search does not vary are the search's; each searched key's value is inside the
space) is added to the study as a finished trial before the first ask: its parameters, its
objectives' values and its per-epoch values (what a pruner compares against), read from its
files. The sampler starts from what they teach; they do not count toward n_trials (the
search's own trials do). Each run is added once per study (its folder is kept with its
trial), so a launch again adds only runs it had not. The others are counted and left out,
said in one line with why.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from experiments.run.files import RunFolder, Status, read_result
from experiments.run.record import TRIAL_KEY, TrialState
from experiments.sweep.search.objectives import OBJECTIVES, SEED_VALUES, aggregated, values_of
from experiments.sweep.search.space import flat
from experiments.sweep.search.study import SearchError

log = logging.getLogger(__name__)

FROM_RUN = "warm_start_from"  # a trial's user attribute: the run folder it was made from


def folders_of(warm_start) -> list[Path]:
    """hydra.sweeper.warm_start as folders, each checked to exist (SearchError naming the first that does not)."""
    paths = [warm_start] if isinstance(warm_start, str) else list(warm_start or [])
    folders = [Path(str(p)).absolute() for p in paths]
    for folder in folders:
        if not folder.is_dir():
            raise SearchError(f"hydra.sweeper.warm_start: {folder} is not a folder of runs")
    return folders


def configuration(settings: dict) -> dict:
    """A run's flattened settings without those that do not change what is trained (the seed,
    where the data is, how it runs: experiments.results.runs.NOT_A_CONFIGURATION)."""
    from experiments.results.ranking import NOT_A_CONFIGURATION

    def aside(key: str) -> bool:
        return any(key == k or key.startswith(f"{k}.") for k in NOT_A_CONFIGURATION)

    return {key: value for key, value in settings.items() if not aside(key)}


def warm_start(study, folders: list[Path], trial_settings, space, objectives: list, seeds: int = 1,
               aggregate: str = "mean", limits: list = ()) -> None:  # fmt: skip
    """Add the completed runs of `folders` that fit the search to `study` as finished trials.
    trial_settings: params -> the settings a trial of this search with those values runs (its
    config, flattened: every setting, a searched group's option's own included); space: a
    sweep.space.Space; objectives: (Objective, direction) pairs. With `seeds` > 1 (a search whose
    trials run several seeds) the runs of one configuration, one per seed (its latest run), are one
    trial, valued as the search values its own (`aggregate` of their values; the pruner's per-epoch
    values their mean); with aggregate=confidence_bound, a configuration with fewer seeds than the
    search's is left out, as it could not be valued by the same rule. A configuration that breaks
    one of `limits` (hydra.sweeper.constraints), its seeds' mean against each, is left out too."""
    known = {run for t in study.get_trials(deepcopy=False) for run in from_runs(t)}
    left_out: dict[str, int] = {}  # why -> how many runs

    def leave_out(why: str, count: int = 1) -> None:
        left_out[why] = left_out.get(why, 0) + count

    measured = [*objectives, *((OBJECTIVES[limit.name], "minimize") for limit in limits)]
    fitting = runs_that_fit(folders, known, trial_settings, space, measured, seeds, leave_out)
    if aggregate == "confidence_bound":
        short = [trial for trial, runs in fitting.items() if len(runs) < seeds]
        for trial in short:
            leave_out(f"of configurations with fewer than {seeds} seeds (confidence_bound needs as many)",
                      len(fitting.pop(trial)))  # fmt: skip
    n = len(objectives)
    for trial, runs in list(fitting.items()):
        means = [sum(column) / len(column) for column in zip(*(values[n:] for _, _, values in runs.values()))]
        if not all(limit.allows(value) for limit, value in zip(limits, means)):
            leave_out(f"breaking the constraints ({', '.join(map(str, limits))})", len(fitting.pop(trial)))
    column = objectives[0][0].each_epoch if len(objectives) == 1 else None
    for by_seed in fitting.values():
        add_trial(study, list(by_seed.values()), space, objectives, aggregate, seeds, column)
    added = sum(len(runs) for runs in fitting.values())
    as_trials = f"as {len(fitting)} finished trial(s) (a configuration's seeds one trial)" if seeds > 1 else ""
    reasons = "; ".join(f"{count} {why}" for why, count in left_out.items())
    log.info(
        "warm start from %s: %d run(s) added to study %s %s%s",
        ", ".join(map(str, folders)), added, study.study_name, as_trials or "as finished trials",
        f"; left out: {reasons}" if reasons else "",
    )  # fmt: skip


def runs_that_fit(folders: list[Path], known: set, trial_settings, space, measured: list, seeds: int,
                  leave_out) -> dict:  # fmt: skip
    """The completed runs of `folders` a trial of this search could have run, not `known` to the
    study already: {trial key (its params with seeds > 1, else the run): {seed: (run folder,
    params, values of `measured`)}}, the latest run of a seed; each run left out is told to
    `leave_out(why)`."""
    from experiments.results.runs import find_run_dirs

    composed: dict[str, dict] = {}  # a trial's params (as JSON) -> what a trial with them runs
    fitting: dict[str, dict] = {}
    for run_dir in sorted(run for folder in folders for run in find_run_dirs(folder)):  # run folders by time
        if str(run_dir) in known:
            leave_out("already in the study")
            continue
        result = read_result(run_dir)
        settings = flat((result or {}).get("hyperparameters") or {})
        params = space.params_of(settings)
        why = misfit(result, settings, params, space)
        if why is None:
            key = json.dumps(params, sort_keys=True, default=str)
            if key not in composed:
                composed[key] = configuration(trial_settings(params))
            why = differs(configuration(settings), composed[key])
        values = values_of(run_dir, measured) if why is None else None
        if why is None and values is None:
            why = "without a finite objective"
        if why:
            leave_out(why)
            continue
        trial = json.dumps(params, sort_keys=True) if seeds > 1 else str(run_dir)
        runs = fitting.setdefault(trial, {})
        if settings.get("seed") in runs:  # the same seed again is no other sample: its latest run counts
            leave_out("repeating a seed of their configuration (its latest run counts)")
        runs[settings.get("seed")] = (run_dir, params, values)
    return fitting


def add_trial(study, runs: list, space, objectives: list, aggregate: str, seeds: int, column: str | None) -> None:
    """One finished trial made of `runs` ((run folder, params, values) of one configuration,
    one a seed), valued as the search values its own; its per-epoch values their mean."""
    import optuna

    n = len(objectives)
    folders_of_runs, params = [str(r) for r, _, _ in runs], runs[0][1]
    seed_values = [v[:n] for _, _, v in runs]
    attrs = {FROM_RUN: folders_of_runs[0]} if seeds == 1 else {FROM_RUN: folders_of_runs, SEED_VALUES: seed_values}
    study.add_trial(
        optuna.trial.create_trial(
            params=params, distributions=space.distributions_of(params),
            values=aggregated(seed_values, objectives, aggregate),
            intermediate_values=mean_per_epoch([r for r, _, _ in runs], column), user_attrs=attrs,
        )
    )  # fmt: skip


def differs(run: dict, trial: dict) -> str | None:
    """How a run's configuration differs from the trial's of the same values, in a few words; None if not."""
    keys = sorted(k for k in {*run, *trial} if run.get(k, "unset") != trial.get(k, "unset"))
    if not keys:
        return None
    if any(k.startswith("data.") for k in keys):
        return "on other data"
    return f"with other settings than this search's trials ({keys[0]})"


def from_runs(trial) -> list[str]:
    """The run folders a warm start made `trial` from: one, or each seed's; none for the search's own trials."""
    made_from = trial.user_attrs.get(FROM_RUN)
    return [made_from] if isinstance(made_from, str) else list(made_from or [])


def misfit(result: dict | None, settings: dict, params: dict, space) -> str | None:
    """Why a run (its result.json, its settings flattened, the values it has for the space's
    keys: space.params_of) cannot be one of the search's trials, in a few words; None when it
    may (its other settings are compared with the trial's next: warm_start)."""
    if not result or result.get("status") != Status.COMPLETED:
        return "not completed"
    fate = (result.get(TRIAL_KEY) or {}).get("state")
    if fate not in (None, TrialState.COMPLETED):  # a seed that finished in a trial its search pruned or failed
        return f"seeds of a {fate} trial"
    if not settings:
        return "without its settings (an old result.json)"
    if (result.get("data") or {}).get("name") != settings.get("data.name"):
        return "on other data than configured"
    if not space.contains(params):
        return "outside the search space"
    return None


def per_epoch(run_dir: Path, column: str | None) -> dict:
    """The run's value of `column` after each epoch ({epoch: value}), what a pruner compares with."""
    if column is None:
        return {}
    try:
        return {row["epoch"]: row[column] for row in RunFolder(run_dir).epochs()}
    except (OSError, ValueError, KeyError):
        return {}


def mean_per_epoch(run_dirs: list[Path], column: str | None) -> dict:
    """The runs' mean value of `column` after each epoch they all reached (a trial's seeds' mean
    curve, what the search's pruner judges); one run's own values when it is alone."""
    curves = [per_epoch(run_dir, column) for run_dir in run_dirs]
    epochs = set.intersection(*(set(curve) for curve in curves))
    return {epoch: sum(curve[epoch] for curve in curves) / len(curves) for epoch in sorted(epochs)}
