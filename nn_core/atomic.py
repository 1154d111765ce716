"""Writing a whole file or nothing: the one atomic writer of the project, and
the one reader of the .npz files it writes.

A file is written under a temporary name beside its target, flushed to the disk
(fsync) and renamed over the target: a reader, or the machine after a crash,
sees the old file or the whole new one, never half of one.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nn_core.idx import DataError

TEMPORARY_FILES = ".*.tmp"  # the glob of write_atomically's temporary names: ".name.<pid>.tmp" beside "name"


def write_atomically(path, write: Callable[[BinaryIO], None]) -> None:
    """Call write(f) on a temporary file beside `path`, then put it in place.
    Anything raised on the way (a full disk, a signal) leaves `path` as it was
    and removes the temporary file; the error is raised again (an OSError naming `path`)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # two processes may write one file (a cache)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename in (None, str(tmp)):  # named as the file asked for
            error.filename = str(path)
        raise


def write_npz_atomically(path, arrays: dict) -> None:
    """np.savez(path, **arrays), whole or not at all."""
    write_atomically(path, lambda f: np.savez(f, **arrays))


@contextmanager
def reading_npz(path):
    """np.load(path) as a context; a file that is missing, cut short or not an .npz of
    ours (a disk that filled, a copy that stopped) raises DataError naming it, whether
    the damage shows on opening or only when an array is read."""
    try:
        with np.load(path, allow_pickle=False) as f:
            yield f
    except DataError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
