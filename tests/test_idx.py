"""The IDX reader on files the tests write: good ones, gzip and raw, and corrupt ones."""

import gzip

import numpy as np
import pytest

from nn_core.idx import DataError, load_idx, load_idx_pair, save_idx


@pytest.mark.parametrize("name", ["images.idx3-ubyte", "images.idx3-ubyte.gz"])
def test_reads_images_gzip_and_raw(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    save_idx(tmp_path / name, images)
    np.testing.assert_array_equal(load_idx(tmp_path / name), images)


def test_pair_flattens_images_and_returns_int_labels(tmp_path):
    images = np.arange(3 * 4 * 2, dtype=np.uint8).reshape(3, 4, 2)
    save_idx(tmp_path / "x.gz", images)
    save_idx(tmp_path / "y.gz", np.array([0, 9, 3], dtype=np.uint8))
    X, y = load_idx_pair(tmp_path / "x.gz", tmp_path / "y.gz")
    assert X.shape == (3, 8) and X.dtype == np.uint8
    assert y.tolist() == [0, 9, 3] and y.dtype == np.int64


def test_truncated_payload_names_the_file(tmp_path):
    path = tmp_path / "x.idx3-ubyte"
    save_idx(path, np.zeros((4, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"x\.idx3-ubyte.*truncated"):
        load_idx(path)


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "x.gz"
    save_idx(path, np.zeros((40, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(DataError, match=r"x\.gz.*gzip"):
        load_idx(path)


def test_wrong_magic(tmp_path):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x0d\x03" + (1).to_bytes(4, "big") * 3 + b"\x00" * 4)
    with pytest.raises(DataError, match=r"x\.gz.*magic number 3331.*2049 or 2051"):
        load_idx(path)


def test_labels_where_images_expected(tmp_path):
    save_idx(tmp_path / "y.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataError, match="expected 2051"):
        load_idx_pair(tmp_path / "y.gz", tmp_path / "y.gz")


def test_count_mismatch(tmp_path):
    save_idx(tmp_path / "x.gz", np.zeros((3, 2, 2), dtype=np.uint8))
    save_idx(tmp_path / "y.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataError, match=r"3 images but .*y\.gz holds 4 labels"):
        load_idx_pair(tmp_path / "x.gz", tmp_path / "y.gz")


def test_label_out_of_range(tmp_path):
    save_idx(tmp_path / "x.gz", np.zeros((3, 2, 2), dtype=np.uint8))
    save_idx(tmp_path / "y.gz", np.array([1, 12, 3], dtype=np.uint8))
    with pytest.raises(DataError, match=r"y\.gz: label 12 at index 1 is outside 0-9"):
        load_idx_pair(tmp_path / "x.gz", tmp_path / "y.gz")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_idx(tmp_path / "absent.gz")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(DataError, match="too short"):
        load_idx(tmp_path / "empty")


def test_a_gzip_bomb_is_refused_after_what_the_header_declares(tmp_path):
    """10 images declared, 100 MB of zeros behind them: stopped after 7,841 bytes, not inflated whole."""
    import tracemalloc

    path = tmp_path / "bomb.gz"
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (10, 28, 28))
    with gzip.open(path, "wb") as f:
        f.write(header)
        zeros = bytes(1 << 20)
        for _ in range(100):
            f.write(zeros)
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"bomb\.gz: payload is longer than the 7840 bytes the header declares"):
            load_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 << 20  # bytes: a few MB of buffers, not 100 MB


def test_a_header_that_declares_more_than_the_file_holds(tmp_path):
    path = tmp_path / "liar.idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (10**6, 1000, 1000)) + b"\0" * 10)
    with pytest.raises(DataError, match="10 bytes, shorter than"):
        load_idx(path)


def test_zero_images_and_unreadable_paths_are_named(tmp_path):
    save_idx(tmp_path / "empty.gz", np.zeros((0, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match=r"empty\.gz: the header declares 0 samples"):
        load_idx(tmp_path / "empty.gz")
    (tmp_path / "folder.gz").mkdir()
    with pytest.raises(DataError, match=r"folder\.gz: no such file \(it is a folder\)"):
        load_idx(tmp_path / "folder.gz")
