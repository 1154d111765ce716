"""Minibatch training and evaluation of a network from nn_core.network."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np

from nn_core.datasets import Dataset, scale_pixels
from nn_core.network import backward, cross_entropy, forward
from nn_core.optim import SGD, learning_rate

EVAL_CHUNK = 4096  # rows scored at once: bounds memory, not results


@dataclass
class FitResult:
    """What `fit` ends with.

    params : the weights to keep (the best epoch's when early stopping is on).
    history : one dict per finished epoch (see `fit`).
    status : "completed" or "diverged".
    best_epoch : 1-based epoch of the lowest validation loss.
    weights_epoch : the epoch `params` come from: best_epoch with early stopping, else the last.
    stopped_early : True when patience ran out before `epochs`.
    """

    params: list
    history: list = field(default_factory=list)
    status: str = "completed"
    best_epoch: int | None = None
    weights_epoch: int | None = None
    stopped_early: bool = False


def train_epoch(params, X, y, *, optimizer, lr, batch_size, rng, activation="sigmoid", pixel_max=1.0, dtype=np.float32):
    """One pass over (X, y) in a fresh random order, updating the layer dicts in params.

    X : (n, d) raw pixels (uint8 or float), scaled by 1 / pixel_max per batch.
    y : (n,) int labels.
    Returns the mean training loss and accuracy over the epoch's minibatches
    (each measured before its own update, as the weights moved).
    """
    n = len(y)
    order = rng.permutation(n)
    # Buffers reused by every step: allocating weight- or batch-sized arrays
    # afresh each step costs page faults that rival the arithmetic.
    grads = [{key: np.empty_like(value) for key, value in layer.items()} for layer in params]
    batch_buffer = np.empty((min(batch_size, n), X.shape[1]), dtype)
    total_loss, correct = 0.0, 0
    for start in range(0, n, batch_size):
        batch = order[start : start + batch_size]
        X_batch = scale_pixels(X[batch], pixel_max, dtype, out=batch_buffer[: len(batch)])
        y_batch = y[batch]
        logits, layer_inputs = forward(params, X_batch, activation)
        loss, dlogits = cross_entropy(logits, y_batch)
        backward(params, layer_inputs, dlogits, activation, out=grads)
        optimizer.step(params, grads, lr)
        total_loss += loss * len(batch)
        correct += int((logits.argmax(axis=1) == y_batch).sum())
    return total_loss / n, correct / n


def evaluate(params, X, y, *, activation="sigmoid", pixel_max=1.0, dtype=np.float32):
    """Mean cross-entropy and accuracy of the network on (X, y), no updates."""
    total_loss, correct = 0.0, 0
    for start in range(0, len(y), EVAL_CHUNK):
        X_chunk = scale_pixels(X[start : start + EVAL_CHUNK], pixel_max, dtype)
        y_chunk = y[start : start + EVAL_CHUNK]
        logits, _ = forward(params, X_chunk, activation)
        loss, _ = cross_entropy(logits, y_chunk)
        total_loss += loss * len(y_chunk)
        correct += int((logits.argmax(axis=1) == y_chunk).sum())
    return total_loss / len(y), correct / len(y)


def fit(
    params,
    data: Dataset,
    *,
    epochs,
    batch_size,
    lr,
    rng,
    optimizer=None,
    activation="sigmoid",
    schedule="constant",
    lr_step_size=10,
    lr_gamma=0.1,
    patience=0,
    dtype=np.float32,
    on_epoch_end=None,
):
    """Train on data.X_train, scoring data.X_val after every epoch.

    optimizer : anything with step(params, grads, lr); plain SGD by default.
    schedule, lr_step_size, lr_gamma : see nn_core.optim.learning_rate.
    patience : stop when the validation loss has not improved for this many
        epochs and keep the best epoch's weights; 0 turns early stopping off.
    on_epoch_end : called with each epoch's row as soon as it is known:
        {"epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s"}.

    A loss that becomes NaN or infinite ends training with status "diverged".
    The layer dicts in params are updated as training goes, so after a
    KeyboardInterrupt they hold the weights as they were.
    """
    optimizer = optimizer or SGD(params)
    result = FitResult(params=params)
    best_val_loss = math.inf
    epochs_without_improvement = 0
    scoring = dict(activation=activation, pixel_max=data.pixel_max, dtype=dtype)
    # Overflow in a diverging run is expected and reported as status, not as warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(epochs):
            start = time.perf_counter()
            epoch_lr = learning_rate(epoch, lr, schedule, epochs, lr_step_size, lr_gamma)
            train_loss, train_acc = train_epoch(
                params, data.X_train, data.y_train, optimizer=optimizer, lr=epoch_lr,
                batch_size=batch_size, rng=rng, **scoring,
            )
            val_loss, val_acc = evaluate(params, data.X_val, data.y_val, **scoring)
            row = {
                "epoch": epoch + 1,
                "lr": epoch_lr,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "epoch_time_s": time.perf_counter() - start,
            }
            result.history.append(row)
            if on_epoch_end:
                on_epoch_end(row)
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                result.status = "diverged"
                break
            if val_loss < best_val_loss:
                best_val_loss, result.best_epoch = val_loss, epoch + 1
                epochs_without_improvement = 0
                if patience:
                    result.params = copy.deepcopy(params)
            else:
                epochs_without_improvement += 1
                if patience and epochs_without_improvement >= patience:
                    result.stopped_early = True
                    break
    result.weights_epoch = result.best_epoch if patience else len(result.history)
    return result
