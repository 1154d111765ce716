"""Finding, downloading and splitting the data sets."""

import gzip
import hashlib

import numpy as np
import pytest

import nn_core.datasets as datasets
import nn_core.idx_sets as idx_sets
from helpers import write_idx_folder
from nn_core.datasets import load_digits_dataset, load_idx_dataset
from nn_core.idx import DataError
from nn_core.idx_sets import IDX_FILES, IdxSource
from nn_core.network import scale_pixels


def fake_source(folder, system_dirs=()):
    """An IdxSource whose published MD5s are those of the files in `folder`."""
    md5 = {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in IDX_FILES}
    return IdxSource("fake", mirrors=("http://127.0.0.1:9/",), md5=md5, system_dirs=system_dirs)


def test_a_users_folder_is_used_without_md5_or_network(idx_folder):
    data = load_idx_dataset("mnist", root=idx_folder, val_size=10)
    assert data.X_train.shape == (50, 784) and data.X_val.shape == (10, 784)
    assert data.X_test.shape == (20, 784) and data.pixel_max == 255.0
    # stratified: every class keeps its share in validation
    assert sorted(np.bincount(data.y_val)) == [1] * 10


def test_decompressed_files_are_found_too(tmp_path):
    folder = write_idx_folder(tmp_path / "raw")
    for name in IDX_FILES:
        (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress((folder / name).read_bytes()))
        (folder / name).unlink()
    assert load_idx_dataset("mnist", root=folder, val_size=0.2).X_val.shape == (12, 784)


def test_missing_files_are_downloaded_into_root_then_cached(tmp_path, idx_folder, mirror):
    for name in IDX_FILES:
        mirror.files[name] = (idx_folder / name).read_bytes()
    source = fake_source(idx_folder)
    root = tmp_path / "cache"
    first = load_idx_dataset(source, root=root, val_size=10, mirrors=[mirror.url])
    assert sorted(p.name for p in root.iterdir()) == sorted(IDX_FILES)
    assert len(mirror.requests) == 4
    second = load_idx_dataset(source, root=root, val_size=10, mirrors=[mirror.url])
    assert len(mirror.requests) == 4  # served from the cache
    np.testing.assert_array_equal(first.X_train, second.X_train)


def test_system_copy_is_found(tmp_path, idx_folder, monkeypatch):
    monkeypatch.setenv("MNIST_FROM_SCRATCH_DATA", str(tmp_path / "empty"))  # an empty cache; no folder named
    source = fake_source(idx_folder, system_dirs=(str(idx_folder),))
    data = load_idx_dataset(source, val_size=10)
    assert len(data.y_test) == 20
    with pytest.raises(DataError, match="does not exist"):  # a folder named is the only one read
        load_idx_dataset(source, root=tmp_path / "nowhere", val_size=10)


def test_no_data_anywhere_says_where_it_looked_and_how_to_go_offline(tmp_path, mirror):
    source = IdxSource("fake", mirrors=(), md5={n: "0" * 32 for n in IDX_FILES})
    with pytest.raises(DataError) as info:
        load_idx_dataset(source, root=tmp_path / "nowhere", mirrors=[mirror.url])
    message = str(info.value)
    assert str(tmp_path / "nowhere") in message and "404" in message
    assert "data=digits" in message and "data.root=DIR" in message


def test_a_damaged_file_in_a_users_folder_is_named_not_papered_over(idx_folder):
    path = idx_folder / IDX_FILES[2]
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DataError, match="t10k-images"):
        load_idx_dataset("mnist", root=idx_folder, val_size=10)


def test_default_cache_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(idx_sets.DATA_HOME_ENV, str(tmp_path))
    assert idx_sets.default_data_root("mnist") == tmp_path / "mnist"


def test_digits_split_is_seeded_and_sized():
    a, b = load_digits_dataset(split_seed=3), load_digits_dataset(split_seed=3)
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (1077, 360, 360)
    assert a.n_features == 64 and a.pixel_max == 16.0
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.y_val, load_digits_dataset(split_seed=4).y_val)


def test_val_size_too_large_is_refused(idx_folder):
    with pytest.raises(DataError, match="data.val_size=60 gives 60 validation samples out of 60"):
        load_idx_dataset("mnist", root=idx_folder, val_size=60)


def test_scale_pixels_maps_to_unit_interval():
    X = np.array([[0, 128, 255]], dtype=np.uint8)
    scaled = scale_pixels(X, 255.0)
    assert scaled.dtype == np.float32 and scaled.min() == 0 and scaled.max() == 1


def test_a_kept_data_set_is_what_later_loads_get_and_no_run_can_change_it(monkeypatch):
    """A sweep's launcher keeps its jobs' data set before forking them (keep_loaded): each job's
    load_dataset with the same arguments gets it, and it is read-only."""
    monkeypatch.setattr(datasets, "_kept", {})
    options = {"test_size": 0.2, "val_size": 100, "split_seed": 0}
    kept = datasets.keep_loaded("digits", **options)
    assert datasets.load_dataset("digits", **options) is kept
    other = datasets.load_dataset("digits", **{**options, "val_size": 200})
    assert other is not kept and len(other.y_val) == 200
    fresh = load_digits_dataset(**options)
    np.testing.assert_array_equal(kept.X_train, fresh.X_train)  # the same data as loading it anew
    with pytest.raises(ValueError, match="read-only"):
        kept.X_train[0, 0] = 1


def test_a_folder_of_another_known_data_set_is_named_and_recorded_as_what_it_is(tmp_path, caplog):
    """data=fashion_mnist data.root=<MNIST's files>: the official test images say which set it is,
    however the files were compressed (here: decompressed and gzipped again)."""
    for name in IDX_FILES:
        raw = gzip.decompress((idx_sets.sample_folder() / name).read_bytes())
        (tmp_path / name).write_bytes(gzip.compress(raw, compresslevel=1))  # other bytes, the same data
    with caplog.at_level("WARNING"):
        data = load_idx_dataset("fashion_mnist", root=tmp_path, val_size=100)
    assert data.name == "mnist" and "holds the official mnist test images, not fashion_mnist's" in caplog.text
    caplog.clear()
    assert load_idx_dataset("mnist", root=tmp_path, val_size=100).name == "mnist" and not caplog.text
    assert idx_sets.published_as(np.zeros((3, 784), np.uint8)) is None


# The validation split and the digits are scikit-learn's, computed once and read from the cache after.

READ_TWICE = """
import sys
from nn_core.datasets import load_dataset
data = load_dataset(sys.argv[1])
print("sklearn" in sys.modules, data.X_train.sum(), data.y_val.tolist()[:20])
"""


@pytest.mark.parametrize("name", ["mnist_sample", "digits"])
def test_the_second_run_reads_scikit_learns_split_without_importing_it(tmp_path, name):
    import os
    import subprocess
    import sys

    env = {**os.environ, idx_sets.DATA_HOME_ENV: str(tmp_path)}
    command = [sys.executable, "-c", READ_TWICE, name]
    runs = [subprocess.run(command, env=env, capture_output=True, text=True, check=True) for _ in range(2)]
    first, second = (run.stdout.split(" ", 1) for run in runs)
    assert first[0] == "True" and second[0] == "False"  # computed by scikit-learn, then read
    assert first[1] == second[1]  # the same samples in the same order


def test_a_remembered_split_is_scikit_learns_and_a_damaged_one_is_made_again(tmp_path, monkeypatch):
    from sklearn.model_selection import train_test_split

    monkeypatch.setenv(idx_sets.DATA_HOME_ENV, str(tmp_path))
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 256, (300, 4), dtype=np.uint8), rng.integers(0, 10, 300)
    expected = train_test_split(X, y, test_size=50, stratify=y, random_state=3)
    computed = datasets.split_validation(X, y, 50, seed=3)
    [entry] = (tmp_path / "computed").iterdir()
    entry.write_bytes(entry.read_bytes()[:100])  # cut short, as by a full disk
    remade = datasets.split_validation(X, y, 50, seed=3)
    entry_again = datasets.split_validation(X, y, 50, seed=3)  # read from the rewritten entry
    for split in (computed, remade, entry_again):
        for got, want in zip(split, expected):
            np.testing.assert_array_equal(got, want)
    assert [p.name for p in (tmp_path / "computed").iterdir()] == [entry.name]  # no temporary file left
    assert datasets.split_validation(X, y, 50, seed=4)[3].tolist() != expected[3].tolist()  # the seed is in the key


def test_a_cache_that_cannot_be_written_is_not_kept_and_the_split_is_made(tmp_path, monkeypatch):
    home = tmp_path / "a_file"
    home.write_text("not a folder")
    monkeypatch.setenv(idx_sets.DATA_HOME_ENV, str(home))
    data = load_digits_dataset()
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 1797


def _write_at_once(path, queue, barrier):
    import os

    from nn_core.atomic import write_atomically

    def write(f):  # every process has its file open before any puts it in place
        barrier.wait(timeout=60)
        f.write(str(os.getpid()).encode() * 100_000)

    try:
        write_atomically(path, write)
        queue.put("written")
    except OSError as error:
        queue.put(repr(error))


def test_processes_that_write_one_cache_entry_at_once_all_write_it_whole(tmp_path):
    """Jobs started together compute the same split and keep it in one file: each writes
    its own temporary file, and the one renamed last is whole."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    queue, barrier = context.Queue(), context.Barrier(4)
    path = tmp_path / "entry.npz"
    workers = [context.Process(target=_write_at_once, args=(path, queue, barrier)) for _ in range(4)]
    for worker in workers:
        worker.start()
    said = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join()
    assert said == ["written"] * 4
    assert [p.name for p in tmp_path.iterdir()] == ["entry.npz"]  # no temporary file left
    content = path.read_bytes()
    assert content == content[: len(content) // 100_000] * 100_000  # one writer's bytes, whole
