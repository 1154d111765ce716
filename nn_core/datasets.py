"""Data sets as train / validation / test splits of raw pixels and labels.

Images stay uint8 in memory (a quarter of float32's footprint); the trainer
scales each minibatch to float in [0, 1] as it uses it (see nn_core.network.scale_pixels).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from nn_core.download import DownloadError, download, md5sum
from nn_core.idx import DataError, load_idx_pair

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Dataset:
    """Three splits of one data set.

    X_* : (n, n_features) uint8 raw pixels; `X / pixel_max` is in [0, 1].
    y_* : (n,) int64 class labels in 0 .. n_classes - 1.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    pixel_max: float
    n_classes: int = 10
    # Where the samples were read: a folder, or the loader of a bundled set.
    source: str = ""
    # The files read, {file name: {"md5": ..., "samples": n}}: what a run's provenance records of its data.
    files: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """What result.json records of the data a run actually used."""
        return {
            "name": self.name,
            "source": self.source,
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
            "files": self.files,
        }

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


def default_data_root(name: str) -> Path:
    """Cache folder for a downloaded data set: $MNIST_FROM_SCRATCH_DATA/<name>,
    else ~/.cache/mnist-from-scratch/<name>."""
    home = os.environ.get(DATA_HOME_ENV) or Path.home() / ".cache" / "mnist-from-scratch"
    return Path(home).expanduser() / name


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
    for folder in (root,) if named else (root, *map(Path, source.system_dirs)):
        found = [_find_file(folder, f) for f in IDX_FILES]
        if all(found):
            return found

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


def split_validation(X, y, val_size, seed, key="data.val_size"):
    """Carve a stratified, seeded held-out set out of (X, y).

    val_size : int >= 1, a count; or float in (0, 1), a fraction of the samples.
    key : the config key val_size came from, named in the error.
    Returns X_train, X_val, y_train, y_val.
    """
    from sklearn.model_selection import train_test_split  # slow import: only when splitting

    n_val = val_size if isinstance(val_size, (int, np.integer)) else round(val_size * len(y))
    n_classes = len(np.unique(y))
    if not n_classes <= n_val <= len(y) - n_classes:
        raise DataError(
            f"{key}={val_size} gives {n_val} validation samples out of {len(y)}; "
            f"a stratified split needs between {n_classes} and {len(y) - n_classes}"
        )
    return train_test_split(X, y, test_size=n_val, stratify=y, random_state=seed)


def load_idx_dataset(source: IdxSource | str, root=None, val_size=1 / 6, split_seed=0, mirrors=None) -> Dataset:
    """MNIST or Fashion-MNIST: the official train/test split, validation carved from train."""
    source = IDX_SOURCES[source] if isinstance(source, str) else source
    if source is SAMPLE:
        train_images, train_labels, test_images, test_labels = (sample_folder() / f for f in IDX_FILES)
    else:
        train_images, train_labels, test_images, test_labels = locate_idx_files(source, root, mirrors)
    X_train, y_train = load_idx_pair(train_images, train_labels)
    X_test, y_test = load_idx_pair(test_images, test_labels)
    if X_train.shape[1] != X_test.shape[1]:
        raise DataError(
            f"{train_images} has {X_train.shape[1]} pixels per image but {test_images} "
            f"has {X_test.shape[1]}; train and test must match"
        )
    read = ((train_images, X_train), (train_labels, y_train), (test_images, X_test), (test_labels, y_test))
    files = {Path(path).name: {"md5": md5sum(path), "samples": len(samples)} for path, samples in read}
    name = source.name
    published = published_as(X_test) if source.test_pixels_md5 else None  # the sample is MNIST's own
    if published not in (None, source.name):  # data=mnist data.root=<a Fashion-MNIST folder>
        log.warning("%s holds the official %s test images, not %s's: the run trains on that data and records it "
                    "as %s", Path(train_images).parent, published, source.name, published)  # fmt: skip
        name = published
    X_train, X_val, y_train, y_val = split_validation(X_train, y_train, val_size, split_seed)
    return Dataset(
        name,
        X_train,
        y_train,
        X_val,
        y_val,
        X_test,
        y_test,
        pixel_max=255.0,
        source=str(Path(train_images).parent.resolve()),
        files=files,
    )


def published_as(test_images: np.ndarray) -> str | None:
    """The known data set whose official test images these are (n, 784) uint8, by the MD5
    of their pixels; None for any other images."""
    digest = hashlib.md5(np.ascontiguousarray(test_images).tobytes()).hexdigest()
    return next((known.name for known in (MNIST, FASHION_MNIST) if known.test_pixels_md5 == digest), None)


def load_mnist(root=None, val_size=1 / 6, split_seed=0, mirrors=None, fallback=True) -> Dataset:
    """Full MNIST from data.root, the cache or a mirror; when none has it, `fallback`
    is on and the user named neither a folder nor mirrors, the bundled sample, with
    one warning saying so."""
    try:
        return load_idx_dataset(MNIST, root, val_size, split_seed, mirrors)
    except DataNotFound as e:
        if not falls_back(root, mirrors, fallback):
            raise
        data = load_idx_dataset(SAMPLE, val_size=val_size, split_seed=split_seed)
        n_train, n_val, n_test = len(data.y_train), len(data.y_val), len(data.y_test)
        log.warning(
            f"full MNIST not found in {root or default_data_root('mnist')} and not downloadable ({e.reason}); "
            f"training on the bundled sample instead: {n_train + n_val:,} training digits ({n_train:,} train + "
            f"{n_val:,} validation) and the official {n_test:,} test digits. For all 60,000: run once with network, "
            "or pass data.root=DIR holding the four IDX files; data.fallback=false makes this an error."
        )
        return data


def load_digits_dataset(test_size=360, val_size=360, split_seed=0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images, pixel values 0-16), offline.

    It has no official split, so the test set is carved first, then the
    validation set from the rest, both stratified and seeded.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, y = digits.data.astype(np.uint8), digits.target.astype(np.int64)
    X_rest, X_test, y_rest, y_test = split_validation(X, y, test_size, split_seed, key="data.test_size")
    X_train, X_val, y_train, y_val = split_validation(X_rest, y_rest, val_size, split_seed)
    return Dataset(
        "digits",
        X_train,
        y_train,
        X_val,
        y_val,
        X_test,
        y_test,
        pixel_max=16.0,
        source="sklearn.datasets.load_digits",
    )


@dataclass(frozen=True)
class DataShape:
    """What a network for a data set looks like before the data is loaded: what a Dataset
    also says of itself (n_features, n_classes, pixel_max)."""

    n_features: int
    n_classes: int
    pixel_max: float


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: how to load a data set and which options it takes."""

    load: Callable[..., Dataset]
    options: tuple[str, ...]
    # Finds (or downloads) the files without reading them; raises DataNotFound.
    locate: Callable[..., object] | None = None
    # As published: lets a run refuse a network too large for memory before loading anything.
    shape: DataShape | None = None


MNIST_SHAPE = DataShape(n_features=784, n_classes=10, pixel_max=255.0)  # 28x28 greyscale, 10 classes


_IDX_OPTIONS = ("root", "val_size", "split_seed", "mirrors")

# The data sets by name, as data.name and conf/data/<name>.yaml spell them.
# A new data set is one entry here and one YAML file; the config rules read this.
DATASETS = {
    "mnist": DatasetSpec(
        load_mnist,
        (*_IDX_OPTIONS, "fallback"),  # MNIST, 60,000 + 10,000 digits (downloaded)
        locate=lambda root=None, mirrors=None, **_: locate_idx_files(MNIST, root, mirrors),
        shape=MNIST_SHAPE,
    ),
    "mnist_sample": DatasetSpec(
        lambda **o: load_idx_dataset(SAMPLE, **o),
        ("val_size", "split_seed"),  # the 10,000 + 10,000 real digits shipped here
        shape=MNIST_SHAPE,
    ),
    "fashion_mnist": DatasetSpec(
        lambda **o: load_idx_dataset(FASHION_MNIST, **o),
        _IDX_OPTIONS,  # Fashion-MNIST, 60,000 + 10,000 (downloaded)
        locate=lambda root=None, mirrors=None, **_: locate_idx_files(FASHION_MNIST, root, mirrors),
        shape=MNIST_SHAPE,
    ),
    "digits": DatasetSpec(  # scikit-learn's 1,797 8x8 digits
        load_digits_dataset, ("test_size", "val_size", "split_seed"), shape=DataShape(64, 10, 16.0)
    ),
}


def load_dataset(name: str, **options) -> Dataset:
    """The data set registered as `name` (see DATASETS), loaded with its options
    (or the one keep_loaded() kept, for the same arguments)."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return _kept.get(_key(name, options)) or DATASETS[name].load(**options)


# Data sets loaded once and kept for the processes forked afterwards: a sweep's launcher
# loads its jobs' data set before it forks them, and no job loads and splits it again.
_kept: dict[str, Dataset] = {}


def _key(name: str, options: dict) -> str:
    return repr((name, sorted(options.items())))


def keep_loaded(name: str, **options) -> Dataset:
    """Load a data set and keep it: load_dataset(name, **options) returns this one from
    now on, in this process and in those it forks. Its arrays are made read-only, so
    that no run can change the data of the runs after it."""
    data = load_dataset(name, **options)
    for array in (data.X_train, data.y_train, data.X_val, data.y_val, data.X_test, data.y_test):
        array.flags.writeable = False
    _kept[_key(name, options)] = data
    return data
