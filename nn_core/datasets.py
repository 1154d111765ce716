"""Data sets as train / validation / test splits of raw pixels and labels.

Images stay uint8 in memory (a quarter of float32's footprint); the trainer
scales each minibatch to float in [0, 1] as it uses it (see nn_core.network.scale_pixels).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nn_core.download import md5sum
from nn_core.idx import DataError, load_idx_pair
from nn_core.idx_sets import (
    FASHION_MNIST,
    IDX_FILES,
    IDX_SOURCES,
    MNIST,
    SAMPLE,
    DataNotFound,
    IdxSource,
    default_data_root,
    falls_back,
    locate_idx_files,
    published_as,
    sample_folder,
)
from nn_core.remembered import key_of, library_version, remembered

log = logging.getLogger(__name__)


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


def split_validation(X, y, val_size, seed, key="data.val_size"):
    """Carve a stratified, seeded held-out set out of (X, y).

    val_size : int >= 1, a count; or float in (0, 1), a fraction of the samples.
    key : the config key val_size came from, named in the error.
    Returns X_train, X_val, y_train, y_val.
    """
    n_val = val_size if isinstance(val_size, (int, np.integer)) else round(val_size * len(y))
    n_classes = len(np.unique(y))
    if not n_classes <= n_val <= len(y) - n_classes:
        raise DataError(
            f"{key}={val_size} gives {n_val} validation samples out of {len(y)}; "
            f"a stratified split needs between {n_classes} and {len(y) - n_classes}"
        )
    split = remembered("split", key_of(y, n_val, seed, library_version("scikit-learn")), lambda: _split(y, n_val, seed))
    train, val = split["train"], split["val"]
    return X[train], X[val], y[train], y[val]


def _split(y, n_val, seed) -> dict[str, np.ndarray]:
    """The row numbers of scikit-learn's stratified split of (X, y): what train_test_split
    takes of X and y (the split depends on y, n_val and seed only)."""
    from sklearn.model_selection import train_test_split  # slow import: only when not remembered

    train, val = train_test_split(np.arange(len(y)), test_size=n_val, stratify=y, random_state=seed)
    return {"train": train, "val": val}


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
    digits = remembered("digits", key_of(library_version("scikit-learn")), _load_digits)
    X, y = digits["X"], digits["y"]
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


def _load_digits() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits  # slow import: only when not remembered

    digits = load_digits()
    return {"X": digits.data.astype(np.uint8), "y": digits.target.astype(np.int64)}


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
