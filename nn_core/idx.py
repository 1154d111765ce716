"""Reader for the IDX format that MNIST and Fashion-MNIST ship in.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension,
then the payload in C order. The magic is two zero bytes, a type code
(0x08 = unsigned byte, the only one MNIST uses) and the number of dimensions,
so MNIST labels have magic 2049 (0x00000801, 1-D) and images 2051
(0x00000803, 3-D: count x rows x cols).
Files may be gzip-compressed (as distributed) or raw.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

LABELS_MAGIC = 2049
IMAGES_MAGIC = 2051
_GZIP_SIGNATURE = b"\x1f\x8b"
_CHUNK = 1 << 20


class DataError(ValueError):
    """A data file is missing, corrupt or not what it claims to be."""


def _open(path: Path):
    """The file as a stream of its IDX bytes, decompressing gzip as it is read."""
    try:
        f = open(path, "rb")
        if f.read(2) == _GZIP_SIGNATURE:
            f.seek(0)
            return gzip.GzipFile(fileobj=f, mode="rb")
        f.seek(0)
        return f
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from e


def _read(stream, n: int, path: Path) -> bytes:
    """Up to n bytes, read in chunks: a header that declares more than the file
    holds costs no more memory than the file does."""
    chunks, remaining = [], n
    try:
        while remaining > 0:
            chunk = stream.read(min(remaining, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except (OSError, EOFError, gzip.BadGzipFile) as e:  # truncated or damaged gzip stream
        raise DataError(f"{path}: the gzip stream is corrupt ({e})") from e
    return b"".join(chunks)


def load_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzip or raw) into a uint8 array.

    The header is read first and the payload only up to the size it declares,
    so a small .gz that would inflate to gigabytes is refused after reading
    one byte more than the header promised.

    Parameters
    ----------
    path : the file.
    expected_magic : 2049 (labels) or 2051 (images); None accepts either.

    Returns
    -------
    (n,) uint8 for labels, (n, rows, cols) uint8 for images.

    Raises
    ------
    DataError naming the file when it cannot be read, the magic is wrong, it
    declares no samples, or the payload size does not match the header.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file" + (" (it is a folder)" if path.is_dir() else ""))
    with _open(path) as stream:
        magic_bytes = _read(stream, 4, path)
        if len(magic_bytes) < 4:
            raise DataError(f"{path}: {len(magic_bytes)} bytes is too short for an IDX header")
        magic = int.from_bytes(magic_bytes, "big")
        allowed = (LABELS_MAGIC, IMAGES_MAGIC) if expected_magic is None else (expected_magic,)
        if magic not in allowed:
            raise DataError(
                f"{path}: magic number {magic} is not an MNIST IDX file (expected {' or '.join(map(str, allowed))})"
            )
        ndim = magic & 0xFF
        dims = _read(stream, 4 * ndim, path)
        if len(dims) < 4 * ndim:
            raise DataError(f"{path}: header truncated ({4 + len(dims)} of {4 + 4 * ndim} bytes)")
        shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
        if shape[0] == 0:
            raise DataError(f"{path}: the header declares 0 samples; an IDX data file needs at least one")
        declared = int(np.prod(shape))
        payload = _read(stream, declared + 1, path)  # one byte more tells a longer payload
    if len(payload) != declared:
        what = "longer than" if len(payload) > declared else f"{len(payload)} bytes, shorter than"
        raise DataError(
            f"{path}: payload is {what} the {declared} bytes the header declares "
            f"(shape {shape}); the file is truncated or corrupt"
        )
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def load_idx_pair(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read matching image and label files and check they agree.

    Returns
    -------
    X : (n, rows * cols) uint8, pixel values 0-255, one flattened image per row.
    y : (n,) int64 class labels in 0-9.
    """
    images = load_idx(images_path, IMAGES_MAGIC)
    labels = load_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; they must be the same count"
        )
    if labels.size and labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise DataError(f"{labels_path}: label {int(labels[bad])} at index {bad} is outside 0-9")
    return images.reshape(len(images), -1), labels.astype(np.int64)


def save_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as IDX (gzip when the name ends in .gz); for tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)
