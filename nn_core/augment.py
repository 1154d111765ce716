"""Data augmentation of training minibatches: random shifts and horizontal flips.

Works on raw uint8 pixels before scaling. The images are padded once with
`shift` zeros on every side; shifting an image by (dy, dx) is then reading the
side x side window that starts `shift - dy` rows and `shift - dx` columns into
its padded copy, and a batch of windows is one fancy-indexing gather from a
sliding-window view (no copies but the batch itself). A flip reverses the
window's columns. Validation and test images are never augmented.
"""

from __future__ import annotations

import numpy as np


def square_side(n_pixels: int) -> int | None:
    """The side of a square image of n_pixels pixels (28 for 784), or None when n_pixels is not a square."""
    side = int(round(np.sqrt(n_pixels)))
    return side if side * side == n_pixels else None


class Augment:
    """images : (n, side * side) raw pixels of square images.
    shift : largest shift in pixels, each direction drawn uniformly from -shift .. shift.
    flip : mirror each image left-right with probability 1/2 (for Fashion-MNIST, not digits)."""

    def __init__(self, images: np.ndarray, shift: int = 0, flip: bool = False):
        self.shift, self.flip = shift, flip
        side = square_side(images.shape[1])
        if side is None:
            raise ValueError(f"augmentation needs square images; {images.shape[1]} pixels is not a square")
        padded = np.pad(images.reshape(-1, side, side), ((0, 0), (shift, shift), (shift, shift)))
        # windows[i, y, x] is the side x side view of padded image i starting at row y, column x.
        self.windows = np.lib.stride_tricks.sliding_window_view(padded, (side, side), axis=(1, 2))

    def __call__(self, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """indices : (n,) rows of the images -> (n, side * side) augmented copies."""
        n = len(indices)
        y, x = rng.integers(0, 2 * self.shift + 1, size=(2, n))
        batch = self.windows[indices, y, x]  # (n, side, side), a copy
        if self.flip:
            mirrored = rng.random(n) < 0.5
            batch[mirrored] = batch[mirrored, :, ::-1]
        return batch.reshape(n, -1)
