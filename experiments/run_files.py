"""The files a run leaves in its directory, and the words for how it ended.

    metrics.csv     one row per epoch, written as each epoch ends
    checkpoint.npz  the whole training state after the last finished epoch (until the run completes)
    model.npz       the trained network (nn_core.save_network), written atomically
    result.json     written last, atomically: status and final numbers

RunFiles is their one owner: train writes through it, compare reads what it wrote.
"""

from __future__ import annotations

import csv
import enum
import json
import os
from pathlib import Path

import nn_core

METRICS_COLUMNS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s"]


class Status(str, enum.Enum):
    """How a run ended (result.json's `status`); a str, so it reads and compares as its value."""

    COMPLETED = "completed"
    DIVERGED = "diverged"  # a loss became NaN or infinite
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM
    FAILED = "failed"  # an error; result.json says which
    # Only ever inferred by readers of a directory without a (readable) result.json:
    RUNNING = "running"
    INCOMPLETE = "incomplete"
    BROKEN = "broken"

    def __str__(self) -> str:
        return self.value


def write_json_atomically(path: Path, content: dict) -> None:
    """Readers never see a half-written file: write aside, then rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(content, indent=2, default=float) + "\n")
    os.replace(tmp, path)


def read_result(run_dir: Path) -> dict | None:
    """A run's result.json as written, or None when it has none (yet) or it is unreadable."""
    try:
        result = json.loads((Path(run_dir) / "result.json").read_text())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) else None


class RunFiles:
    """A run directory's files. Creating it claims the directory: metrics.csv is
    created exclusively, so a directory that already holds a run's metrics is
    never written into by a second run, unless `resume_epochs` says that this
    is that run continuing: then metrics.csv keeps its first `resume_epochs`
    rows (those its checkpoint covers) and goes on from there."""

    def __init__(self, run_dir: Path, resume_epochs: int | None = None):
        self.dir = Path(run_dir)
        path = self.dir / "metrics.csv"
        self.previous_epochs: list[dict] = []
        if resume_epochs is not None and path.is_file():
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))[:resume_epochs]
            self.previous_epochs = [{k: float(v) if k != "epoch" else int(v) for k, v in r.items()} for r in rows]
            tmp = path.with_name(f".{path.name}.tmp")
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=METRICS_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
            os.replace(tmp, path)
            self._metrics = open(path, "a", newline="")
            self._writer = csv.DictWriter(self._metrics, fieldnames=METRICS_COLUMNS)
            return
        try:
            self._metrics = open(path, "x", newline="")
        except FileExistsError:
            raise FileExistsError(
                f"{path} already exists: another run wrote into this directory; "
                "start the run again to get a fresh one, or continue it with resume=true"
            ) from None
        self._writer = csv.DictWriter(self._metrics, fieldnames=METRICS_COLUMNS)
        self._writer.writeheader()
        self._metrics.flush()

    def append_epoch(self, row: dict) -> None:
        """One row of metrics.csv, flushed so a crashed or interrupted run keeps every finished epoch."""
        self._writer.writerow(row)
        self._metrics.flush()

    def save_network(self, network, **about) -> None:
        nn_core.save_network(self.dir / "model.npz", network, **about)

    @property
    def checkpoint(self) -> Path:
        return self.dir / "checkpoint.npz"

    def save_checkpoint(self, network, optimizer, rng, progress, **about) -> None:
        nn_core.save_checkpoint(self.checkpoint, network, optimizer, rng, progress, **about)


    def finish(self, result: dict) -> None:
        """Close metrics.csv and write result.json, the run's last word."""
        self._metrics.close()
        write_json_atomically(self.dir / "result.json", result)
