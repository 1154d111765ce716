"""Save and load a network's weights as a plain .npz (no pickle)."""

from __future__ import annotations

import numpy as np


def save_params(path, params, activation="sigmoid"):
    """Write W1, b1, W2, b2, ... and the activation's name to `path` (.npz)."""
    arrays = {}
    for i, layer in enumerate(params, start=1):
        arrays[f"W{i}"] = layer["W"]
        arrays[f"b{i}"] = layer["b"]
    np.savez(path, activation=np.array(activation), **arrays)


def load_params(path):
    """Read a file written by save_params. Returns (params, activation)."""
    with np.load(path, allow_pickle=False) as f:
        n_layers = sum(1 for key in f.files if key.startswith("W"))
        params = [{"W": f[f"W{i}"], "b": f[f"b{i}"]} for i in range(1, n_layers + 1)]
        return params, str(f["activation"])
