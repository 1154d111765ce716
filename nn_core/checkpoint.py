"""Save and load a trained network as a plain, self-describing .npz (no pickle).

The file holds W1, b1, W2, b2, ... and `architecture`, a JSON text with the
layer sizes, activation, dropout, the input scaling (pixel_max) and anything
the caller adds (the data set's name): enough to use the network with no config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from nn_core.idx import DataError
from nn_core.layers import ACTIVATIONS
from nn_core.network import Network, assemble


def save_network(path, network: Network, **about) -> None:
    """Write the network to `path` (.npz) atomically: a reader sees the old file or the whole new one."""
    path = Path(path)
    arrays = {}
    for i, layer in enumerate(network.trainable, start=1):
        arrays[f"W{i}"], arrays[f"b{i}"] = layer.params["W"], layer.params["b"]
    description = {**network.architecture, "pixel_max": network.pixel_max, **about}
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, architecture=np.array(json.dumps(description)), **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_network(path) -> tuple[Network, dict]:
    """Read a file written by save_network. Returns (network, its description).

    Raises DataError naming the file and the layer when the file is not such a
    network: missing arrays, shapes that do not chain, an unknown activation.
    """
    try:
        f = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from e
    with f:
        if "architecture" not in f.files:
            raise DataError(f"{path}: no 'architecture' entry; not a network saved by nn_core.save_network")
        description = json.loads(str(f["architecture"]))
        sizes = description.get("sizes")
        activation = description.get("activation")
        if activation not in ACTIVATIONS:
            raise DataError(f"{path}: activation {activation!r} is not one of {', '.join(ACTIVATIONS)}")
        if not (isinstance(sizes, list) and len(sizes) >= 2):
            raise DataError(f"{path}: 'sizes' must list at least the input and output sizes, not {sizes!r}")
        weights = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            if f"W{i}" not in f.files or f"b{i}" not in f.files:
                raise DataError(f"{path}: layer {i} (W{i}, b{i}) is missing")
            W, b = f[f"W{i}"], f[f"b{i}"]
            if W.shape != (fan_in, fan_out) or b.shape != (fan_out,):
                raise DataError(
                    f"{path}: layer {i} has W{i} {W.shape} and b{i} {b.shape}; "
                    f"the sizes {sizes} need ({fan_in}, {fan_out}) and ({fan_out},)"
                )
            weights.append((W, b))
    network = assemble(weights, activation, description.get("dropout", 0.0), description.get("pixel_max", 1.0))
    return network, description
