"""A search's answer, said at its end: its best trial (and, with seeds, the trials tied with it
by Welch's t-test), or with several objectives its Pareto front; and what the constraints did."""

from __future__ import annotations

import logging

import numpy as np

from experiments.sweep.search import warm_start
from experiments.sweep.search.objectives import SEED_VALUES
from experiments.sweep.search.trials import INFEASIBLE

log = logging.getLogger(__name__)


def say_answer(study, settings) -> None:
    """The search's answer: its best trial, or (several objectives) its Pareto front (settings: a SearchSettings)."""
    import optuna

    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if settings.limits:
        log.info("%s", constrained_in_words(study.trials, settings.limits))
        completed = [t for t in completed if feasible(t)]
    if not completed:
        meeting = " that meets the constraints" if settings.limits else ""
        log.warning("study %s has no completed trial%s", settings.study_name, meeting)
    elif len(settings.objectives) == 1:
        best = study.best_trial
        name = settings.objectives[0][0].name
        runs = warm_start.from_runs(best)
        source = f" (added by the warm start: {', '.join(runs)})" if runs else ""
        seeds = len(best.user_attrs.get(SEED_VALUES, [])) or settings.seeds
        of_seeds = f" ({settings.aggregate} of {seeds} seeds)" if settings.seeds > 1 else ""
        log.info("best trial %d%s: %s %.4f%s with %s", best.number, source, name, best.value, of_seeds, best.params)
        if settings.seeds > 1:
            log.info("%s", tied_with_best(completed, best))
    else:
        front = sorted(study.best_trials, key=lambda trial: trial.number)
        names = [f"{o.name} ({d})" for o, d in settings.objectives]
        lines = [f"  trial {t.number}: {in_values(t.values)} with {t.params}" for t in front]
        log.info(
            "the Pareto front of %s: %d of %d completed trials, none beaten in every objective by another:\n%s",
            ", ".join(names), len(front), len(completed), "\n".join(lines),
        )  # fmt: skip


def tied_with_best(completed: list, best) -> str:
    """The trials not distinguishable from the best over their seeds (Welch's t-test on the first
    objective's per-seed values, p >= 0.05, as compare's tied_with_best), in a line. A test needs
    two seeds on each side: a trial with fewer (one a warm start added) is said to be untestable."""
    from experiments.results.ranking import p_values_against

    def seeds_of(trial) -> list[float]:
        return [values[0] for values in trial.user_attrs.get(SEED_VALUES, [])]

    best_samples = np.array(seeds_of(best), dtype=float)
    if len(best_samples) < 2:
        return f"which trials are tied with trial {best.number} cannot be told: it has fewer than 2 seeds"
    others = [t for t in completed if t.number != best.number]
    testable = [t for t in others if len(seeds_of(t)) >= 2]
    untestable = [t.number for t in others if len(seeds_of(t)) < 2]
    p = p_values_against([seeds_of(t) for t in testable], best_samples)
    tied = [t.number for t, p_value in zip(testable, p) if p_value >= 0.05]
    cannot = f"; trials {', '.join(map(str, untestable))} have fewer than 2 seeds: not tested" if untestable else ""
    if not tied:
        return f"no other trial is tied with trial {best.number} (Welch's t-test over seeds, p < 0.05 for each){cannot}"
    return (
        f"tied with trial {best.number} (Welch's t-test over seeds, p >= 0.05, as compare's tied_with_best): "
        f"trials {', '.join(map(str, tied))}{cannot}"
    )


def feasible(trial) -> bool:
    """Whether a trial meets every constraint it was told (one told none meets them all)."""
    return all(value <= 0 for value in trial.constraints.values())


def constrained_in_words(trials: list, limits: list) -> str:
    """What the constraints did to a search's trials, in a line: how many completed trials meet
    them, how many break them, and how many were never trained (their size broke a limit)."""
    import optuna

    completed = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    met = sum(map(feasible, completed))
    untrained = sum(INFEASIBLE in t.user_attrs for t in trials)
    too_big = f", {untrained} not trained (too big)" if untrained else ""
    return (
        f"constraints {', '.join(map(str, limits))}: {met} of {len(completed)} completed trials meet them, "
        f"{len(completed) - met} break them (never the best){too_big}"
    )


def in_values(values: list[float]) -> str:
    return ", ".join(f"{value:.4g}" for value in values)
