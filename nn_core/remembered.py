"""Arrays computed once and read from disk afterwards.

Some inputs of a run are always the same for the same arguments but cost more
than the run itself to make: scikit-learn's stratified split and its digits
data set each need scikit-learn, whose import alone takes about a second and
130 MB (pandas and SciPy come with it), while a 1-epoch run on the digits takes
a fraction of that. The first run computes them, as it always did; the runs
after it read the same arrays from cache_home()/computed/, one .npz per key.

The key is a hash of everything the arrays depend on (the labels, the sizes,
the seed, scikit-learn's version), so a cached entry is always what the
computation would give now. An entry that cannot be read is computed again and
rewritten; one that cannot be written (a read-only home, a full disk) is not
kept, and the run goes on with what it computed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from importlib import metadata

import numpy as np

from nn_core.atomic import reading_npz, write_npz_atomically
from nn_core.idx import DataError
from nn_core.idx_sets import cache_home

log = logging.getLogger(__name__)


def library_version(distribution: str) -> str:
    """A package's installed version, read without importing it."""
    return metadata.version(distribution)


def key_of(*parts) -> str:
    """A hash of arrays and plain values: the same parts give the same key."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype.str}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def remembered(kind: str, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """compute()'s arrays, read from cache_home()/computed/<kind>-<key>.npz when an
    earlier call kept them, else computed and kept there."""
    path = cache_home() / "computed" / f"{kind}-{key}.npz"
    if path.is_file():
        try:
            with reading_npz(path) as stored:
                return {name: stored[name] for name in stored.files}
        except DataError as error:  # damaged: computed again below, and rewritten
            log.debug("%s; computing it again", error)
    arrays = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz_atomically(path, arrays)
    except OSError as error:
        log.debug("%s not kept (%s)", path, error)
    return arrays
