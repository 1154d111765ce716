"""Hydra callbacks around a sweep (registered in conf/config.yaml)."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class SweepGuard(Callback):
    """Refuses to start a sweep in a directory that already holds one, and
    ends every sweep with its leaderboard and the jobs that went wrong."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir() and any(sweep_dir.iterdir()):
            log.error(
                "hydra.sweep.dir=%s already holds a sweep; a second one would mix with it. "
                "Leave hydra.sweep.dir at its default (a new timestamped folder) or name an empty one.",
                sweep_dir,
            )
            # Hydra turns a callback's exceptions into warnings; only an exit stops the sweep.
            raise SystemExit(2)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from experiments.compare import leaderboard, load_runs, unsuccessful_runs

        sweep_dir = Path(config.hydra.sweep.dir)
        runs = load_runs(sweep_dir)
        if runs.empty:
            return
        board = leaderboard(runs).drop(columns="run")
        log.info("sweep %s: %d runs, by status: %s\n%s", sweep_dir, len(runs),
                 runs["status"].value_counts().to_dict(), board.to_string(float_format=lambda v: f"{v:.4f}"))
        for _, r in unsuccessful_runs(runs).iterrows():
            log.warning("%s: %s: %s", Path(r["run"]).name, r["status"], r["reason"])
        if (runs["status"] == "failed").any():
            raise SystemExit(1)  # the sweep's results are all on disk; the exit code says not all succeeded
