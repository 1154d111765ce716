"""The files a run leaves in its directory: metrics.csv, result.json, model.npz."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

METRICS_COLUMNS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s"]


class MetricsCSV:
    """metrics.csv, one row per epoch, flushed as each epoch ends so a
    crashed or interrupted run keeps every finished epoch.

    The file is created exclusively: a directory that already holds a run's
    metrics is never written into by a second run.
    """

    def __init__(self, path: Path):
        try:
            self._file = open(path, "x", newline="")
        except FileExistsError:
            raise FileExistsError(
                f"{path} already exists: another run wrote into this directory; "
                "start the run again to get a fresh one"
            ) from None
        self._writer = csv.DictWriter(self._file, fieldnames=METRICS_COLUMNS)
        self._writer.writeheader()
        self._file.flush()

    def append(self, row: dict) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def write_json_atomically(path: Path, content: dict) -> None:
    """Readers never see a half-written file: write aside, then rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=2, default=float) + "\n")
    os.replace(tmp, path)
