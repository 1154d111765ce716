"""Save and load a trained network as a plain, self-describing .npz (no pickle),
and a training checkpoint: everything needed to continue training exactly.

The network file holds W1, b1, W2, b2, ... (with batch norm also gamma1, beta1,
mean1, var1, ...: Network.arrays) and `architecture`, a JSON text with the
layer sizes, activation, dropout, batch_norm, the input scaling (pixel_max) and anything
the caller adds (the data set's name): enough to use the network with no config.
Both are written to a temporary name and renamed: a reader sees the old file or
the whole new one, never half of one.
"""

from __future__ import annotations

import json

import numpy as np

from nn_core.atomic import reading_npz, write_npz_atomically
from nn_core.idx import DataError
from nn_core.layers import ACTIVATIONS
from nn_core.network import Architecture, Network, assemble
from nn_core.training import Progress


def save_network(path, network: Network, **about) -> None:
    """Write the network to `path` (.npz) atomically: a reader sees the old file or the whole new one."""
    description = {**network.architecture.describe(), **about}
    write_npz_atomically(path, {"architecture": np.array(json.dumps(description)), **network.arrays()})


def load_network(path) -> tuple[Network, dict]:
    """Read a file written by save_network. Returns (network, its description).

    Raises DataError naming the file and the layer when the file is not such a
    network: missing arrays, shapes that do not chain, an unknown activation.
    """
    with reading_npz(path) as f:
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
        checked = {f"{key}{i}" for i in range(1, len(weights) + 1) for key in "Wb"}  # read above
        network = assemble(weights, Architecture.from_description(description))
        for name, array in network.arrays().items():
            if name in checked:
                continue
            if name not in f.files:  # the other layers' arrays (batch norm's)
                raise DataError(
                    f"{path}: {name} is missing (the architecture has batch_norm={network.architecture.batch_norm})"
                )
            if f[name].shape != array.shape:
                raise DataError(f"{path}: {name} has shape {f[name].shape}; the sizes {sizes} need {array.shape}")
            array[...] = f[name]
    return network, description


def save_checkpoint(path, network: Network, optimizer, rng: np.random.Generator, progress: Progress, **about) -> None:
    """Everything training needs to continue exactly: the weights, the optimiser's
    buffers, the random generator's state (shuffling, dropout, augmentation), the
    early-stopping bookkeeping and, with patience, the best epoch's weights."""
    scalars = {
        "epoch": progress.epoch,
        "start_val_loss": progress.start_val_loss,
        "best_val_loss": progress.best_val_loss,
        "best_epoch": progress.best_epoch,
        "epochs_without_improvement": progress.epochs_without_improvement,
        "has_best_weights": progress.best_weights is not None,
        "rng": rng.bit_generator.state,
        **about,
    }
    arrays = {**network.arrays(), **{f"optimizer.{k}": v for k, v in optimizer.state().items()}}
    arrays.update({f"best.{name}": value for name, value in (progress.best_weights or {}).items()})
    write_npz_atomically(path, {"progress": np.array(json.dumps(scalars)), **arrays})


def read_checkpoint_info(path) -> dict:
    """The checkpoint's scalars (epoch, best_epoch, ..., and what the caller added) without its arrays."""
    with reading_npz(path) as f:
        return json.loads(str(f["progress"]))


def load_checkpoint(path, network: Network, optimizer, rng: np.random.Generator) -> Progress:
    """Put a checkpoint's weights, optimiser buffers and generator state back in
    place (the network and optimiser built as for the run) and return its Progress."""
    with reading_npz(path) as f:
        info = json.loads(str(f["progress"]))
        for name, array in network.arrays().items():
            array[...] = f[name]
        optimizer.restore({k.removeprefix("optimizer."): f[k] for k in f.files if k.startswith("optimizer.")})
        best = None
        if info["has_best_weights"]:
            best = {name: f[f"best.{name}"] for name in network.arrays()}
    rng.bit_generator.state = info["rng"]
    return Progress(
        info["epoch"],
        info["start_val_loss"],
        info["best_val_loss"],
        info["best_epoch"],
        info["epochs_without_improvement"],
        best,
    )
