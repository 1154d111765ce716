"""Who runs a RUNNING trial, and what becomes of one whose runner is gone. Each trial records
its sweep folder and the lock file held there while it runs (by the launch, or by a SLURM
worker: workers.WORKER_LOCK); a trial whose holder's lock is free was cut short, and is
continued in its own folders, or counts no more toward n_trials."""

from __future__ import annotations

import logging
from pathlib import Path

from experiments.run.files import SWEEP_LOCK_FILE, folder_in_use
from experiments.run.resume import continue_command
from experiments.sweep.search import warm_start

log = logging.getLogger(__name__)


SWEEP_DIR = "sweep_dir"  # a trial's user attribute: the sweep folder its job runs in


# A trial's user attribute: the lock file in its sweep folder held while its trial runs, by the launch
# (SWEEP_LOCK_FILE) or by a worker on SLURM (workers.WORKER_LOCK). A study from before: the launch's.
HOLDER = "held_by"


def alive(trial) -> bool:
    """True while the process that runs a RUNNING trial (its launch, or its worker) lives."""
    folder = trial.user_attrs.get(SWEEP_DIR)
    return bool(folder) and folder_in_use(Path(folder), trial.user_attrs.get(HOLDER, SWEEP_LOCK_FILE))


def cut_short_trials(study, sweep_dir: Path, holder: str, continues: bool) -> list:
    """The study's trials cut short in `sweep_dir` by an earlier life of `holder` (this launch's
    folder, held now; or this worker, requeued), to continue first. A dead worker's trials are
    not among them: the workers claim those one at a time (orphaned_trials), since two workers
    starting together would both find them here. Trials cut short in other sweep folders, whose
    launchers are gone too, are left to those folders' resume, said in one line each."""
    import optuna

    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    elsewhere: dict[str, int] = {}
    for trial in running:
        folder = trial.user_attrs.get(SWEEP_DIR)
        if folder and folder != str(sweep_dir) and not alive(trial):
            elsewhere[folder] = elsewhere.get(folder, 0) + 1
    for folder, count in elsewhere.items():
        log.info("%d trial(s) of this study were cut short in %s: %s continues them", count, folder,
                 continue_command(Path(folder), sweep=True))  # fmt: skip
    mine = [
        trial
        for trial in running
        if trial.user_attrs.get(SWEEP_DIR) == str(sweep_dir) and trial.user_attrs.get(HOLDER, SWEEP_LOCK_FILE) == holder
    ]
    if mine and not continues:
        log.warning("%d trial(s) cut short stay RUNNING: only hydra/launcher=parallel continues them", len(mine))
        return []
    return mine


def orphaned_trials(study, sweep_dir: Path, in_flight: dict) -> list:
    """This sweep's RUNNING trials whose holder is gone (a worker preempted or killed), not
    running here: a worker continues them before asking a new trial."""
    import optuna

    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    return [
        trial
        for trial in running
        if trial.user_attrs.get(SWEEP_DIR) == str(sweep_dir) and trial.number not in in_flight and not alive(trial)
    ]


def held_trials(study) -> int:
    """The trials that count toward n_trials: finished ones (but those a warm start added), and
    those running in a launch or worker that is alive (its lock file in the sweep folder held:
    experiments/run/files.py)."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    running = [trial for trial in trials if trial.state == optuna.trial.TrialState.RUNNING]
    searched = sum(1 for trial in trials if trial.state.is_finished() and warm_start.FROM_RUN not in trial.user_attrs)
    return searched + sum(map(alive, running))
