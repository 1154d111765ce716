"""The data sets published as four IDX files (MNIST, Fashion-MNIST, and the MNIST sample
shipped in this package): where they are published, and where a run finds their files (the
folder named, the cache, a system copy, a mirror, in that order), without other data ever
standing in for a folder or mirror the user named. Which published set a folder holds is
told by its test images (published_as). nn_core.datasets builds the splits from them."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from nn_core.download import DownloadError, download
from nn_core.idx import DataError

DATA_HOME_ENV = "MNIST_FROM_SCRATCH_DATA"
MIRRORS_ENV = "MNIST_FROM_SCRATCH_MIRRORS"  # this machine's mirrors (URL prefixes, space-separated) for the public ones
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@dataclass(frozen=True)
class IdxSource:
    """Where an IDX data set is published, and the MD5s of its four files."""

    name: str
    mirrors: tuple[str, ...]
    md5: dict[str, str]
    # Folders searched after data.root, e.g. a copy a system package installed.
    system_dirs: tuple[str, ...] = ()
    # MD5 of the official test images' pixels (uint8, in order): which data set a folder holds,
    # however its files were compressed (Debian re-compresses them; their .gz MD5s differ).
    test_pixels_md5: str = ""


class DataNotFound(DataError):
    """The files are nowhere to be found and could not be downloaded (as
    opposed to files that exist but are damaged). `reason`: the first failure, one line."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


MNIST = IdxSource(
    name="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    test_pixels_md5="240610fa99e73bfa49df8e7fc24d3206",
)

FASHION_MNIST = IdxSource(
    name="fashion_mnist",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian: dataset-fashion-mnist
    test_pixels_md5="b7656a891b218fc13e45205c48a92cae",
)

# Real MNIST digits installed with the package (see data/mnist_sample/README.md):
# the first 10,000 training digits and the official 10,000 test digits.
SAMPLE = IdxSource(name="mnist_sample", mirrors=(), md5={})


def sample_folder() -> Path:
    """The folder of the bundled MNIST sample, wherever the package is installed."""
    return Path(str(resources.files("nn_core") / "data" / "mnist_sample"))


IDX_SOURCES = {source.name: source for source in (MNIST, FASHION_MNIST)}


def cache_home() -> Path:
    """The project's cache: $MNIST_FROM_SCRATCH_DATA, else ~/.cache/mnist-from-scratch."""
    return Path(os.environ.get(DATA_HOME_ENV) or Path.home() / ".cache" / "mnist-from-scratch").expanduser()


def default_data_root(name: str) -> Path:
    """Cache folder for a downloaded data set: cache_home() / <name>."""
    return cache_home() / name


def default_mirrors(source: IdxSource) -> list[str]:
    """Where a data set is downloaded from when data.mirrors is not given: $MNIST_FROM_SCRATCH_MIRRORS
    (a site's own copies, or a test's server), else the public mirrors."""
    return os.environ.get(MIRRORS_ENV, "").split() or list(source.mirrors)


def _find_file(folder: Path, filename: str) -> Path | None:
    """The file as distributed (.gz) or already decompressed."""
    for candidate in (folder / filename, folder / filename.removesuffix(".gz")):
        try:
            if candidate.is_file():
                return candidate
        except OSError as error:  # a folder this process may not look into: Python raises, not False
            raise DataError(f"{candidate}: cannot be read ({error.strerror or error})") from None
    return None


def falls_back(root=None, mirrors=None, fallback=True, **_) -> bool:
    """Whether missing MNIST may be stood in for by the bundled sample: only for the
    defaults. A user who named a folder or mirrors gets that data or an error, never other data."""
    return bool(fallback) and root is None and mirrors is None


def found_idx_folder(source: IdxSource, root: str | Path | None = None) -> Path | None:
    """The folder that holds all four of the set's IDX files: `root` if named, else the cache
    and then the system folders; None when none does. Looks only: nothing is downloaded."""
    folders = (
        (Path(root).expanduser(),)
        if root is not None
        else (default_data_root(source.name), *map(Path, source.system_dirs))
    )
    return next((folder for folder in folders if all(_find_file(folder, f) for f in IDX_FILES)), None)


def locate_idx_files(source: IdxSource, root: str | Path | None = None, mirrors=None) -> list[Path]:
    """Paths of the four IDX files, downloading into `root` what is missing.

    A folder that already holds all four files is used as it is, whatever
    their MD5 (so a subset or a re-compressed copy works offline); headers
    are still checked when the files are read. Downloads are MD5-checked.
    With a `root` named and no `mirrors`, the files are looked for there only,
    and nothing is downloaded or created.
    """
    named = root is not None
    root = Path(root).expanduser() if named else default_data_root(source.name)
    _find_file(root.parent, root.name)  # a folder above it that cannot be looked into: one DataError
    if root.exists() and not root.is_dir():
        raise DataError(
            f"data.root={root} is a file; it must be the folder that holds (or will hold) the four IDX files"
        )
    if named and mirrors is None:
        missing = [f for f in IDX_FILES if not _find_file(root, f)]
        if missing:
            why = f"lacks {', '.join(missing)}" if root.is_dir() else "does not exist"
            raise DataNotFound(
                f"data.root={root} {why}. A folder named for the data is read, never replaced by "
                f"other data: put the four IDX files ({', '.join(IDX_FILES)}) there, add "
                f"data.mirrors=[URL, ...] to download them into it, or leave data.root unset.",
                reason=f"data.root={root} {why}",
            )
    found = found_idx_folder(source, root if named else None)
    if found:
        return [_find_file(found, f) for f in IDX_FILES]

    paths, failures = [], []
    for filename in IDX_FILES:
        existing = _find_file(root, filename)
        if existing:
            paths.append(existing)
            continue
        try:
            paths.append(download(filename, source.md5[filename], list(mirrors or default_mirrors(source)), root))
        except (DownloadError, OSError) as e:
            failures.append(str(e))
            break  # the other files would fail the same way
    if failures:
        looked_in = ", ".join(str(p) for p in (root, *source.system_dirs))
        raise DataNotFound(
            f"No {source.name} data: the four IDX files ({', '.join(IDX_FILES)}) are not in "
            f"{looked_in}, and downloading failed.\n{failures[0]}\n"
            f"To go on offline: put the four files in a folder and pass data.root=DIR, "
            f"or train on the bundled real digits with data=mnist_sample "
            f"(or scikit-learn's 8x8 ones with data=digits).",
            reason=failures[0].splitlines()[-1].strip(),
        )
    return paths


def published_as(test_images: np.ndarray) -> str | None:
    """The known data set whose official test images these are (n, 784) uint8, by the MD5
    of their pixels; None for any other images."""
    digest = hashlib.md5(np.ascontiguousarray(test_images).tobytes()).hexdigest()
    return next((known.name for known in (MNIST, FASHION_MNIST) if known.test_pixels_md5 == digest), None)
