"""Optuna searches that survive interruption (hparams_search=optuna).

With a storage (hydra.sweeper.storage=sqlite:///search.db) every finished trial
is in the database. Launched again with the same storage and study name, a
search continues toward its n_trials total instead of starting over: it counts
the trials already finished (completed, pruned or failed), runs only the rest,
and numbers its jobs after the study's trials. Trials cut short by the
interruption stay in the study as RUNNING and are not counted. Two launches
with one storage share the study: each asks Optuna for trials that the other's
results inform.
"""

from __future__ import annotations

import logging

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

log = logging.getLogger(__name__)


class ResumableOptunaSweeper(OptunaSweeper):
    def sweep(self, arguments: list[str]) -> None:
        import optuna

        search = self.sweeper  # the plugin's implementation, which holds n_trials and the job counter
        if search.storage:
            try:
                study = optuna.load_study(study_name=search.study_name, storage=search.storage)
            except KeyError:  # no such study yet: a new search
                pass
            else:
                finished = sum(1 for t in study.trials if t.state.is_finished())
                log.info(
                    "study %s in %s has %d finished trials of n_trials=%d; running the other %d",
                    search.study_name,
                    search.storage,
                    finished,
                    search.n_trials,
                    max(0, search.n_trials - finished),
                )
                search.n_trials = max(0, search.n_trials - finished)
                search.job_idx = len(study.trials)
        return super().sweep(arguments)
