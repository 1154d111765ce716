"""Writing a whole file or nothing: the one atomic writer of the project.

A file is written under a temporary name beside its target, flushed to the disk
(fsync) and renamed over the target: a reader, or the machine after a crash,
sees the old file or the whole new one, never half of one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMPORARY_FILES = ".*.tmp"  # the glob of write_atomically's temporary names: ".name.tmp" beside "name"


def write_atomically(path, write: Callable[[BinaryIO], None]) -> None:
    """Call write(f) on a temporary file beside `path`, then put it in place.
    Anything raised on the way (a full disk, a signal) leaves `path` as it was
    and removes the temporary file; the error is raised again (an OSError naming `path`)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
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
