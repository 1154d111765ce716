"""The JobReturns a launch hands back (Hydra's Launcher API: one per job, in job order), kept
off the launcher's heap.

Each JobReturn holds its job's whole config (about 0.12 MB once unpickled), so a 10,000-job
grid's would take 1.2 GB in the process every job is forked from. Here each is pickled and
compressed (4 KB) into an unnamed temporary file in the sweep's folder as it arrives, and read
back when asked for; where the file cannot be written (a full disk), it is kept in memory. A
job that had finished in an earlier launch (resume=true) is not composed to be skipped: its
JobReturn is composed from its overrides only if someone reads it.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from hydra.core.utils import JobReturn


class JobReturns(Sequence):
    """The JobReturns of the jobs kept so far, in job order (`returns[i]` is the i-th smallest number's)."""

    def __init__(self, folder: Path, finished_before: Callable[[list, int, object], JobReturn]):
        self.folder = folder
        self.finished_before = finished_before  # (overrides, number, value) -> its JobReturn, composed
        self.kept: dict[int, object] = {}  # number -> (offset, size) in the file, bytes, or ("finished", ...)
        self.file = None
        self.numbers: list[int] | None = None  # sorted(kept), made when first read

    def keep(self, number: int, returned: JobReturn) -> None:
        packed = zlib.compress(pickle.dumps(returned), 1)
        try:
            if self.file is None:
                self.file = tempfile.TemporaryFile(dir=self.folder)  # unnamed: gone with the process, however it ends
            offset = self.file.seek(0, os.SEEK_END)
            self.file.write(packed)
            self.file.flush()
            self.kept[number] = (offset, len(packed))
        except OSError:  # no room in the sweep's folder: this one stays in memory
            self.kept[number] = packed
        self.numbers = None

    def keep_finished_before(self, number: int, overrides: list, value) -> None:
        self.kept[number] = ("finished", list(overrides), value)
        self.numbers = None

    def __len__(self) -> int:
        return len(self.kept)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if self.numbers is None:
            self.numbers = sorted(self.kept)
        number = self.numbers[index]
        kept = self.kept[number]
        if isinstance(kept, tuple) and kept[0] == "finished":
            return self.finished_before(kept[1], number, kept[2])
        if isinstance(kept, tuple):
            offset, size = kept
            self.file.seek(offset)
            kept = self.file.read(size)
        return pickle.loads(zlib.decompress(kept))
