"""What a sweep says when it ends: its best runs, what mattered (PED-ANOVA importance), the
runs not ranked with why, and the command that goes on. Called by the sweep's callback
(experiments/sweep/checks.py); exits 1 when some job failed or left no readable result. (Each
job's end is said by experiments/sweep/launch/progress.py.)"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from experiments.run import exits, loggers
from experiments.run.files import RESUMABLE, Status
from experiments.run.record import TrialState
from experiments.sweep.kinds import is_search
from experiments.sweep.search.study import as_list

log = logging.getLogger(__name__)
SUMMARY_ROWS = 5  # runs of the leaderboard logged at a sweep's end


def end_of_sweep(config: DictConfig) -> None:
    """The sweep's summary; SystemExit(1) when not every job succeeded (its results are all on disk)."""
    from experiments.results.ranking import amount, any_failed, pruned_by_the_search, ranking, unsuccessful_runs
    from experiments.results.runs import load_runs

    sweep_dir = Path(config.hydra.sweep.dir)
    if exits.command.left_running:  # its workers are still at it: said as they were submitted
        return
    runs = load_runs(sweep_dir)
    failed = any_failed(runs)
    loggers.end_sweep(config, sweep_dir, failed=failed)
    if runs.empty and is_search(config) and exits.command.set_aside:
        log.info("sweep %s: no trial was trained: the %d this launch asked were too big for the search's constraints",
                 sweep_dir, exits.command.set_aside)  # fmt: skip
        return
    if runs.empty and is_search(config):  # another launch on the study had asked the trials left
        log.info("sweep %s: this launch ran no trial (the study already held its n_trials)", sweep_dir)
        return
    if runs.empty:
        log.error("sweep %s: no job wrote a run", sweep_dir)
        raise SystemExit(exits.ExitCode.FAILED)
    by, said = ranked_by(config, runs)
    board = ranking(runs, by=by).drop(columns="run", errors="ignore")
    log.info(
        "sweep %s: %s, by status: %s; the best %d%s:\n%s\nthe full table: python -m experiments.compare %s",
        sweep_dir,
        amount(len(runs), "run"),
        runs["status"].value_counts().to_dict(),
        min(SUMMARY_ROWS, len(board)),
        f" by {by.words('n_seeds' in board)}{said}" if said else "",
        board.head(SUMMARY_ROWS).to_string(float_format=lambda v: f"{v:.4f}"),
        sweep_dir,
    )
    from experiments.results.learned import importance, importance_heading

    learned = importance(runs)
    if learned is not None:
        log.info("%s:\n%s", importance_heading(), learned.to_string(float_format=lambda v: f"{v:.3f}"))
    unsuccessful = unsuccessful_runs(runs)
    pruned = pruned_by_the_search(unsuccessful)  # the search's own decision, not a fault: counted
    if pruned.any():
        log.info("%s: each listed by compare", pruned_in_words(unsuccessful[pruned]))
    infeasible = unsuccessful["trial_infeasible"].notna() & ~pruned  # its constraints': counted too
    if infeasible.any():
        trials = unsuccessful[infeasible].drop_duplicates(subset=["trial"])
        log.info("%s (%s) broke the search's constraints, never ranked: each listed by compare",
                 amount(len(trials), "trial"), amount(int(infeasible.sum()), "run"))  # fmt: skip
    for _, r in unsuccessful[~pruned & ~infeasible].iterrows():
        log.warning("%s: %s: %s", Path(r["run"]).name, r["status"], (r["reason"].splitlines() or [""])[0])
    unfinished = unsuccessful["status"].isin([*RESUMABLE, Status.FAILED, Status.INCOMPLETE])
    unfinished &= unsuccessful["trial_state"] != TrialState.FAILED  # a search's failed trial is not run again
    if unfinished.any() and exits.command.continue_with:  # killed, stopped or failed jobs: resume goes on
        log.warning("%d job(s) did not finish; to go on from where each stopped: %s", unfinished.sum(),
                    exits.command.continue_with)  # fmt: skip
    if failed:
        raise SystemExit(
            exits.ExitCode.FAILED
        )  # the sweep's results are all on disk; the exit code says not all succeeded


def ranked_by(config: DictConfig, runs):
    """What the sweep's summary ranks by, and how it says so: a search's own (first) objective,
    in its direction, by its seeds' aggregate; a grid's best validation accuracy."""
    from experiments.results.ranking import RankBy

    if not is_search(config):
        return RankBy(), ""
    sweeper = config.hydra.sweeper
    objectives, directions = as_list(sweeper.get("objective")), as_list(sweeper.get("direction"))
    several = f"; the search's Pareto front of {', '.join(objectives)} is above" if len(objectives) > 1 else ""
    if not objectives or objectives[0] not in runs:  # a last epoch's metric: not a result.json column
        return RankBy(), f" (the search's objective {objectives[0] if objectives else '?'} is not in result.json)"
    by = RankBy(objectives[0], directions[0] == "maximize", sweeper.get("aggregate") or "mean")
    return by, f", the search's objective{several}"


def pruned_in_words(pruned) -> str:
    """'2 trials pruned by the search (4 runs), after epoch 1 (1 trial), 5 (1 trial)'; for a grid's
    pruned jobs, which are no trials, '3 runs pruned by the search, after epoch 1 (2 runs), 4 (1 run)'."""
    from experiments.results.ranking import amount

    def counted(counts, what):
        return ", ".join(f"{epoch} ({amount(count, what)})" for epoch, count in counts.items())

    trials = pruned.dropna(subset=["trial"]) if "trial" in pruned else pruned.iloc[:0]
    alone = pruned.drop(trials.index)
    said = []
    if len(trials):
        per_trial = trials.drop_duplicates(subset=["trial"])
        at = per_trial["trial_pruned_at"].fillna(per_trial["epochs_completed"]).astype(int)
        seeds = f" ({amount(len(trials), 'run')}, their seeds)" if len(trials) > len(per_trial) else ""
        said.append(f"{amount(len(per_trial), 'trial')} pruned by the search{seeds}, "
                    f"after epoch {counted(at.value_counts().sort_index(), 'trial')}")  # fmt: skip
    if len(alone):
        after = alone["epochs_completed"].astype(int).value_counts().sort_index()
        said.append(f"{amount(len(alone), 'run')} pruned by the search, after epoch {counted(after, 'run')}")
    return "; ".join(said)
