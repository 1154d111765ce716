"""The files a run leaves in its directory, and the words for how it ended.

    metrics.csv     one row per epoch, written as each epoch ends
    checkpoint.npz  the whole training state after the last finished epoch (until the run completes)
    model.npz       the trained network (nn_core.save_network), written atomically
    result.json     written last, atomically: status and final numbers
    .run.lock       held (flock) by the one process writing the folder, for as long as it writes
    .hydra/         Hydra's record of the run: config.yaml, overrides.yaml, hydra.yaml

RunFolder names them, for every module that reads or writes one; RunFiles is their one
writer; load_result, read_result and read_epochs are their readers, which
experiments.results.runs builds its tables on.
"""

from __future__ import annotations

import csv
import enum
import fcntl
import io
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import nn_core
from nn_core.atomic import TEMPORARY_FILES, write_atomically

METRICS_COLUMNS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s"]


class Status(str, enum.Enum):
    """How a run ended (result.json's `status`); a str, so it reads and compares as its value."""

    COMPLETED = "completed"
    DIVERGED = "diverged"  # a loss became NaN or infinite
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM
    PRUNED = "pruned"  # stopped by a search that judged it would not catch up; finished, never resumed
    PAUSED = "paused"  # stopped at a rung of successive halving over a grid, to be continued or pruned
    FAILED = "failed"  # an error; result.json says which
    # Only ever inferred by readers of a directory without a (readable) result.json:
    RUNNING = "running"
    INCOMPLETE = "incomplete"
    BROKEN = "broken"

    def __str__(self) -> str:
        return self.value


RESULT_FILE = "result.json"
METRICS_FILE = "metrics.csv"
MODEL_FILE = "model.npz"  # the trained network (nn_core.save_network)
CHECKPOINT_FILE = "checkpoint.npz"  # the whole training state after the last finished epoch
HYDRA_DIR = ".hydra"  # Hydra's record of a run (config.yaml, overrides.yaml), written by Hydra


class InFolder:
    """A file of a run's folder, by its path inside it: RunFolder(run_dir).result_file is
    run_dir / "result.json". (A descriptor: read on a RunFolder, it joins its path.)"""

    def __init__(self, *parts: str):
        self.parts = parts

    def __get__(self, folder, owner=None) -> Path:
        return Path(folder.path, *self.parts)


@dataclass(frozen=True)
class RunFolder:
    """A run's folder: where each of its files is, by name, and its epochs read and checked.
    The one place a run's file names are joined to its folder."""

    path: Path

    result_file = InFolder(RESULT_FILE)
    metrics_file = InFolder(METRICS_FILE)
    model_file = InFolder(MODEL_FILE)
    checkpoint_file = InFolder(CHECKPOINT_FILE)
    hydra_dir = InFolder(HYDRA_DIR)
    config_file = InFolder(HYDRA_DIR, "config.yaml")  # the config the run ran with, as Hydra composed it
    overrides_file = InFolder(HYDRA_DIR, "overrides.yaml")  # its overrides, as Hydra recorded them

    def epochs(self, limit: int | None = None) -> list[dict]:
        """metrics.csv's rows (read_epochs)."""
        return read_epochs(self.metrics_file, limit)


ALREADY_COMPLETED = "%s: the run has already finished (completed or pruned); nothing to resume, nothing changed"


def load_result(run_dir: Path) -> dict:
    """A run's result.json as written. Raises FileNotFoundError when it has none
    (yet), ValueError (naming the reason) when it is unreadable or not a JSON object."""
    path = RunFolder(run_dir).result_file
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as error:  # ValueError: bad JSON or bad UTF-8
        raise ValueError(str(error)) from None
    if not isinstance(result, dict):
        raise ValueError("not a JSON object")
    return result


def read_result(run_dir: Path) -> dict | None:
    """A run's result.json as written, or None when it has none (yet) or it is unreadable."""
    try:
        return load_result(run_dir)
    except (OSError, ValueError):
        return None


def completed_result(run_dir: Path) -> dict | None:
    """The run's result.json if it says the run completed or was pruned: then there is nothing to resume."""
    result = read_result(run_dir)
    return result if result and result.get("status") in (Status.COMPLETED, Status.PRUNED) else None


# -- one writer per folder ----------------------------------------------------------------------------

LOCK_FILE = ".run.lock"  # in a run's folder (also a single run's claim on it: experiments.run.checks)
SWEEP_LOCK_FILE = ".sweep.lock"  # in a sweep's folder, held by its launcher (and so by its forked jobs)
LOCK_PATIENCE_S = 1.0  # how long a writer waits out a reader's momentary look (folder_in_use)
_held: dict[Path, int] = {}  # the lock files this process holds, and their descriptors: kept until it exits


class FolderBusy(RuntimeError):
    """Another process is writing the folder (a run, a resume or a sweep still going)."""


def hold_folder(folder: Path, lock_file: str = LOCK_FILE) -> None:
    """Become the one writer of `folder` until this process ends (an flock on its LOCK_FILE,
    which the kernel releases however the process ends, SIGKILL included; a forked job
    shares its launcher's). Raises FolderBusy when another process holds it. Holding it
    again in the same process changes nothing."""
    lock = Path(folder).absolute() / lock_file
    if lock in _held:
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + LOCK_PATIENCE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise FolderBusy(f"{lock.parent} is being written by another process right now") from None
            time.sleep(0.05)
    _held[lock] = fd


def folder_in_use(folder: Path, lock_file: str = LOCK_FILE) -> bool:
    """True while a process holds `folder` (hold_folder): a run without result.json is then
    still running, not dead. Looks without waiting, and lets go at once."""
    try:
        fd = os.open(Path(folder) / lock_file, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def objective(result: dict) -> float:
    """What a run returns to a sweeper (experiments/train.py), from its result.json: its best
    validation accuracy, 0.0 when no epoch had one."""
    return result.get("best_val_acc") or 0.0


RESUMABLE = (Status.INTERRUPTED, Status.PAUSED)  # ended, but resume=true continues them: not done


def prune_stopped(run_dir: Path, why: str) -> None:
    """A run stopped before its end (paused at a rung of successive halving: sweep/grid/halving.py;
    or cut short there by a signal) that its rung's verdict stops for good: its result.json says
    pruned, and why; its checkpoint goes, as a pruned run's does. Called by the sweep, the
    folder's one writer now that the run's job has ended. A run that ended otherwise is left."""
    result = read_result(run_dir)
    if not result or not (result.get("status") == Status.PAUSED or cut_short(result)):
        return
    result = {key: value for key, value in result.items() if key not in ("signal", "error")}
    result.update(status=Status.PRUNED, pruned_by=why)
    folder = RunFolder(run_dir)
    write_aside(folder.result_file, result_json(result))
    folder.checkpoint_file.unlink(missing_ok=True)


def cut_short(result: dict | None) -> bool:
    """True for a run stopped from outside before it finished: Ctrl-C or SIGTERM (interrupted),
    or a kill signal (failed, with the `signal` that killed it). resume=true continues it."""
    status = (result or {}).get("status")
    return status == Status.INTERRUPTED or (status == Status.FAILED and bool((result or {}).get("signal")))


class WriteError(OSError):
    """A run file could not be written (a full disk, a read-only folder); names the file and the cause."""


def _csv_line(row: dict) -> bytes:
    buffer = io.StringIO()
    csv.DictWriter(buffer, fieldnames=METRICS_COLUMNS).writerow(row)
    return buffer.getvalue().encode()


def write_aside(path: Path, content: bytes) -> None:
    """Write a whole file atomically (nn_core.atomic): readers see it complete or not at all."""
    try:
        write_atomically(path, lambda f: f.write(content))
    except OSError as error:
        raise WriteError(f"cannot write {path}: {error.strerror or error}") from None


def result_json(result: dict) -> bytes:
    return (json.dumps(result, indent=2, default=float) + "\n").encode()


def read_epochs(metrics: Path, limit: int | None = None) -> list[dict]:
    """The rows of a metrics.csv (the first `limit` of them), as numbers."""
    with open(metrics, newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    return [{k: int(v) if k == "epoch" else float(v) for k, v in r.items()} for r in rows]


def epoch_summary(history: list[dict]) -> dict:
    """What result.json says of the epochs: the best epoch is the one of lowest
    validation loss (what early stopping keeps); best_val_loss and best_val_acc
    are both that epoch's."""
    best = min((r for r in history if math.isfinite(r["val_loss"])), key=lambda r: r["val_loss"], default=None)
    return {
        "epochs_completed": len(history),
        "best_epoch": best and best["epoch"],
        "best_val_loss": best and best["val_loss"],
        "best_val_acc": best and best["val_acc"],
        "final_val_acc": history[-1]["val_acc"] if history else None,
    }


def remove_leftovers(run_dir: Path) -> None:
    """Remove the temporary files (nn_core.atomic.write_atomically's) of a writer that died
    mid-write: the file they were to become is whole, the old one. Only the folder's one
    writer, or whoever saw its writer die, calls this."""
    for leftover in Path(run_dir).glob(TEMPORARY_FILES):
        leftover.unlink(missing_ok=True)


def record_death(run_dir: Path, reason: str, since: float, status: Status = Status.FAILED, **fields) -> None:
    """Write result.json for a run that ended without writing one: killed by
    SIGKILL or by the kernel for want of memory (status failed, the reason as its
    error), or stopped by a signal before its files existed (status interrupted,
    `signal=...`); with what its metrics.csv kept. A result.json older than
    `since` (a time.time()) is from an earlier launch and is replaced.
    """
    run_dir = Path(run_dir)
    remove_leftovers(run_dir)
    folder = RunFolder(run_dir)
    if folder.result_file.is_file() and folder.result_file.stat().st_mtime >= since:
        return  # the run had its last word before it died
    try:
        history = folder.epochs()
    except (OSError, ValueError, KeyError):
        history = []
    result = {"status": status, "test_acc": None, "test_loss": None, **fields, **epoch_summary(history)}
    if status == Status.FAILED:
        result["error"] = reason
    run_dir.mkdir(parents=True, exist_ok=True)
    write_aside(folder.result_file, result_json(result))


class RunFiles:
    """A run directory's files. Creating it claims the directory: metrics.csv is
    created exclusively, so a directory that already holds a run's metrics is
    never written into by a second run, unless `resume_epochs` says that this
    is that run continuing: then metrics.csv keeps its first `resume_epochs`
    rows (those its checkpoint covers) and goes on from there.

    Every write either completes or leaves the file as it was: metrics.csv rows
    are appended whole (a row cut short by a full disk is cut off again), the
    other files are written aside and renamed. A failed write raises WriteError.
    """

    def __init__(self, run_dir: Path, resume_epochs: int | None = None):
        self.dir = Path(run_dir)
        self.folder = RunFolder(self.dir)
        remove_leftovers(self.dir)  # of an earlier writer killed mid-save: this one holds the folder now
        self.metrics = self.folder.metrics_file
        self.previous_epochs: list[dict] = []
        header = ",".join(METRICS_COLUMNS).encode() + b"\r\n"
        if resume_epochs is not None and self.metrics.is_file():
            self.previous_epochs = read_epochs(self.metrics, resume_epochs)
            kept = self.metrics.read_bytes().splitlines(keepends=True)[
                1 : resume_epochs + 1
            ]  # as written, to the digit
            write_aside(self.metrics, header + b"".join(kept))
            self._fd = os.open(self.metrics, os.O_WRONLY | os.O_APPEND)
            return
        try:
            self._fd = os.open(self.metrics, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise FileExistsError(
                f"{self.metrics} already exists: another run wrote into this directory; "
                "start the run again to get a fresh one, or continue it with resume=true"
            ) from None
        self._append(header)

    def _append(self, line: bytes) -> None:
        """Append one whole line to metrics.csv, or leave the file as it was and raise WriteError."""
        size = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, line)
            if written != len(line):
                raise OSError(28, "No space left on device")  # a short write: the disk filled up mid-line
        except OSError as error:
            os.ftruncate(self._fd, size)
            raise WriteError(f"cannot write {self.metrics}: {error.strerror or error}") from None

    def append_epoch(self, row: dict) -> None:
        """One row of metrics.csv, on disk as soon as it is written, so a crashed or
        interrupted run keeps every finished epoch."""
        self._append(_csv_line(row))

    def _guarded(self, path: Path, write) -> None:
        try:
            write()
        except OSError as error:
            raise WriteError(f"cannot write {path}: {error.strerror or error}") from None

    def save_network(self, network, **about) -> None:
        path = self.folder.model_file
        self._guarded(path, lambda: nn_core.save_network(path, network, **about))

    @property
    def checkpoint(self) -> Path:
        return self.folder.checkpoint_file

    def save_checkpoint(self, network, optimizer, rng, progress, **about) -> None:
        self._guarded(
            self.checkpoint,
            lambda: nn_core.save_checkpoint(self.checkpoint, network, optimizer, rng, progress, **about),
        )

    def finish(self, result: dict) -> None:
        """Close metrics.csv and write result.json, the run's last word."""
        os.close(self._fd)
        write_aside(self.folder.result_file, result_json(result))
