"""Data augmentation of training minibatches: random shifts and horizontal flips.

Works on raw uint8 pixels before scaling, by one gather per batch from images
padded once with zeros: shifting an image by (dy, dx) is reading a window of
the padded image `shift + dy` rows down and `shift + dx` columns across, and a
flip reads the window's columns in reverse. Validation and test images are never augmented.
"""

from __future__ import annotations

import numpy as np


class Augment:
    """images : (n, side * side) raw pixels of square images.
    shift : largest shift in pixels, each direction drawn uniformly from -shift .. shift.
    flip : mirror each image left-right with probability 1/2 (for Fashion-MNIST, not digits)."""

    def __init__(self, images: np.ndarray, shift: int = 0, flip: bool = False):
        self.shift, self.flip = shift, flip
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"augmentation needs square images; {images.shape[1]} pixels is not a square")
        padded_side = side + 2 * shift
        padded = np.zeros((len(images), padded_side, padded_side), images.dtype)
        padded[:, shift : shift + side, shift : shift + side] = images.reshape(-1, side, side)
        self.padded = padded.reshape(len(images), -1)
        rows, cols = np.divmod(np.arange(side * side), side)
        # Flat positions in the padded image of the unshifted window, and of its mirror image.
        self.window = (rows * padded_side + cols).astype(np.intp)
        self.mirrored = (rows * padded_side + (side - 1 - cols)).astype(np.intp)
        self.padded_side = padded_side

    def __call__(self, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """indices : (n,) rows of the images -> (n, side * side) augmented copies."""
        n = len(indices)
        dy, dx = rng.integers(0, 2 * self.shift + 1, size=(2, n))
        offsets = (indices * self.padded.shape[1] + dy * self.padded_side + dx)[:, None]
        window = self.window
        if self.flip:
            window = np.where((rng.random(n) < 0.5)[:, None], self.mirrored, self.window)
        return self.padded.ravel().take(offsets + window)
