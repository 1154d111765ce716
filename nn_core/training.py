"""Minibatch training and evaluation of a nn_core.network.Network."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from nn_core.augment import Augment
from nn_core.constraints import Boolean, Interval, Optional, constrained
from nn_core.datasets import Dataset
from nn_core.layers import Dense
from nn_core.network import Architecture, Network, cross_entropy, scale_pixels
from nn_core.optim import SGD, make_optimizer

EVAL_CHUNK = 4096  # rows scored at once: bounds memory, not results


@dataclass
class Progress:
    """Where training stands after `epoch` finished epochs: with the network's
    and optimiser's arrays and the generator's state, all `fit` needs to go on
    exactly as if it had never stopped (see nn_core.checkpoint)."""

    epoch: int = 0
    start_val_loss: float | None = None  # the untrained network's, the yardstick for divergence
    best_val_loss: float = math.inf
    best_epoch: int | None = None
    epochs_without_improvement: int = 0
    best_weights: dict | None = None  # with patience: the best epoch's arrays, named as Network.arrays()

    def finished(self, epoch: int, val_loss: float, network: Network, keep_best: bool) -> None:
        """Epoch `epoch` (1-based) ended with `val_loss`: note it, and whether it is the best so
        far (the lowest validation loss), keeping its weights when `keep_best` (early stopping)."""
        self.epoch = epoch
        if val_loss < self.best_val_loss:
            self.best_val_loss, self.best_epoch = val_loss, epoch
            self.epochs_without_improvement = 0
            if keep_best:
                self.best_weights = {name: array.copy() for name, array in network.arrays().items()}
        else:
            self.epochs_without_improvement += 1


@dataclass(frozen=True)
class TrainingOptions:
    """How `fit` trains, besides the optimiser and schedule. A new training option
    is a field here, with what it allows (`constrained`: the config rules read it);
    experiments.run.components fills every field from the config key of the same name (or
    the one experiments.run.config_rules.OPTION_KEYS maps it to).

    epochs : passes over the training set.
    batch_size : samples per SGD step.
    patience : stop when the validation loss has not improved for this many
        epochs and keep the best epoch's weights; 0 turns early stopping off.
    shift, flip : augment the training images (see nn_core.augment.Augment).
    label_smoothing : of the training targets, in [0, 1) (see cross_entropy); the
        validation loss, and so early stopping and the best epoch, stay plain cross-entropy.
    diverge_factor : a training or validation loss above this multiple of the
        untrained network's validation loss counts as divergence, as does one
        that is NaN or infinite (a loss can explode and stay finite); None = only the latter.
    """

    epochs: int = constrained(10, Interval(Integral, 1, None))
    batch_size: int = constrained(32, Interval(Integral, 1, None))
    patience: int = constrained(0, Interval(Integral, 0, None))
    shift: int = constrained(0, Interval(Integral, 0, 8))
    flip: bool = constrained(False, Boolean())
    label_smoothing: float = constrained(0.0, Interval(Real, 0, 1, closed="left"))
    diverge_factor: float | None = constrained(10.0, Optional(Interval(Real, 1, None, closed="neither")))


@dataclass
class FitResult:
    """What `fit` ends with.

    network : the trained network (holding the best epoch's weights when early stopping is on).
    history : one dict per finished epoch (see `fit`).
    diverged : True when a loss became NaN or infinite, which ended training.
    best_epoch : 1-based epoch of the lowest validation loss.
    weights_epoch : the epoch the network's weights come from: best_epoch with early stopping, else the last.
    stopped_early : True when patience ran out before `epochs`.
    """

    network: Network
    history: list = field(default_factory=list)
    diverged: bool = False
    best_epoch: int | None = None
    weights_epoch: int | None = None
    stopped_early: bool = False


@dataclass(frozen=True)
class MemoryEstimate:
    """What training a network holds at its peak, besides the data set.

    n_parameters : numbers the network is made of (Architecture.n_parameters).
    copies : parameter-sized arrays: the weights, their gradients, the optimiser's
        state (velocities, moments) and, with early stopping, the best epoch's copy.
    bytes : those copies and what the layers keep for one training batch and one
        evaluation chunk (Architecture.units_kept_per_row), in `dtype`.
    """

    n_parameters: int
    copies: int
    bytes: int


def training_memory(
    architecture: Architecture, optimizer: str, optimizer_settings: dict, batch_size: int, dtype, keeps_best: bool
) -> MemoryEstimate:
    """The peak memory of training `architecture` with the optimiser registered as `optimizer`,
    computed without allocating the network. The optimiser's state is counted on a one-weight
    probe layer, so a new optimiser needs nothing here."""
    probe = make_optimizer(optimizer, [Dense(np.zeros((1, 1)), np.zeros(1))], **optimizer_settings)
    state_copies = sum(1 for name in probe.state() if name.endswith(".W"))
    n_parameters = architecture.n_parameters()
    copies = 2 + state_copies + (1 if keeps_best else 0)
    rows = batch_size + EVAL_CHUNK
    needed = np.dtype(dtype).itemsize * (copies * n_parameters + rows * architecture.units_kept_per_row())
    return MemoryEstimate(n_parameters, copies, int(needed))


def train_step(network: Network, X_batch, y_batch, optimizer, lr, rng, label_smoothing=0.0):
    """One minibatch's forward pass, backward pass and update.

    X_batch : (n, d) scaled pixels; y_batch : (n,) int labels.
    Returns the batch's mean loss (before the update) and its logits (n, n_classes).
    An optimiser that folds the weight gradients into its update (plain SGD) gets
    them left to it by the backward pass.
    """
    logits = network.forward(X_batch, train=True, rng=rng)
    loss, dlogits = cross_entropy(logits, y_batch, label_smoothing)
    network.backward(dlogits, weight_grads=not getattr(optimizer, "folds_weight_gradient", False))
    optimizer.step(network.trainable, lr)
    return loss, logits


def train_epoch(
    network: Network, X, y, *, optimizer, lr, batch_size, rng, augment: Augment | None = None, label_smoothing=0.0
):
    """One pass over (X, y) in a fresh random order, updating the network's parameters.

    X : (n, d) raw pixels (uint8), scaled by 1 / network.pixel_max per batch.
    y : (n,) int labels.
    augment : draws shifted / flipped copies of each batch's images (from X's rows).
    label_smoothing : of the training targets (see cross_entropy); the loss returned is the smoothed one.
    Returns the mean training loss and accuracy over the epoch's minibatches
    (each measured before its own update, as the weights moved).
    """
    n = len(y)
    order = rng.permutation(n)
    # One buffer for every batch: allocating batch-sized arrays afresh each
    # step costs page faults that rival the arithmetic.
    dtype = network.dtype  # a property that walks the layers: once per epoch, not per step
    batch_buffer = np.empty((min(batch_size, n), X.shape[1]), dtype)
    total_loss, correct = 0.0, 0
    for start in range(0, n, batch_size):
        batch = order[start : start + batch_size]
        images = augment(batch, rng) if augment else X[batch]
        X_batch = scale_pixels(images, network.pixel_max, dtype, out=batch_buffer[: len(batch)])
        y_batch = y[batch]
        loss, logits = train_step(network, X_batch, y_batch, optimizer, lr, rng, label_smoothing)
        total_loss += loss * len(batch)
        correct += np.count_nonzero(logits.argmax(axis=1) == y_batch)
    return total_loss / n, correct / n


def evaluate(network: Network, X, y):
    """Mean cross-entropy and accuracy of the network on raw pixels (X, y), no updates."""
    total_loss, correct = 0.0, 0
    for start in range(0, len(y), EVAL_CHUNK):
        X_chunk = scale_pixels(X[start : start + EVAL_CHUNK], network.pixel_max, network.dtype)
        y_chunk = y[start : start + EVAL_CHUNK]
        logits = network.forward(X_chunk)
        loss, _ = cross_entropy(logits, y_chunk)
        total_loss += loss * len(y_chunk)
        correct += int((logits.argmax(axis=1) == y_chunk).sum())
    return total_loss / len(y), correct / len(y)


def train_and_score(network: Network, data: Dataset, options: TrainingOptions, optimizer, lr: float, rng,
                    augment) -> dict:  # fmt: skip
    """One epoch of training at learning rate `lr`, then the validation set scored: the epoch's
    row but its number {"lr", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s"}
    (seconds, training and scoring)."""
    start = time.perf_counter()
    train_loss, train_acc = train_epoch(
        network,
        data.X_train,
        data.y_train,
        optimizer=optimizer,
        lr=lr,
        batch_size=options.batch_size,
        rng=rng,
        augment=augment,
        label_smoothing=options.label_smoothing,
    )
    val_loss, val_acc = evaluate(network, data.X_val, data.y_val)
    return {"lr": lr, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc,
            "epoch_time_s": time.perf_counter() - start}  # fmt: skip


def fit(
    network: Network,
    data: Dataset,
    options: TrainingOptions,
    *,
    schedule,
    rng,
    optimizer=None,
    progress: Progress | None = None,
    on_epoch_end=None,
    on_checkpoint=None,
) -> FitResult:
    """Train on data.X_train as `options` say, scoring data.X_val after every epoch.

    schedule : epoch (0-based) -> learning rate; see nn_core.optim.make_schedule.
    rng : np.random.Generator for shuffling, dropout masks and augmentation.
    optimizer : anything with step(layers, lr); plain SGD by default.
    progress : where to continue from (a resumed run's); updated as epochs finish.
    on_epoch_end : called with each epoch's row as soon as it is known:
        {"epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s"}.
    on_checkpoint : called with `progress` after each finished epoch, to save it.

    A diverging loss ends training (result.diverged).
    The network's parameters are updated as training goes, so after a
    KeyboardInterrupt they hold the weights as they were.
    """
    optimizer = optimizer or SGD(network.trainable)
    epochs, patience = options.epochs, options.patience
    augment = Augment(data.X_train, options.shift, options.flip) if (options.shift or options.flip) else None
    result = FitResult(network=network)
    state = progress or Progress()
    # Overflow in a diverging run is expected and reported as status, not as warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if state.start_val_loss is None:
            state.start_val_loss = evaluate(network, data.X_val, data.y_val)[0]
        limit = options.diverge_factor * state.start_val_loss if options.diverge_factor else math.inf
        for epoch in range(state.epoch, epochs):
            row = train_and_score(network, data, options, optimizer, schedule(epoch), rng, augment)
            row = {"epoch": epoch + 1, **row}
            result.history.append(row)
            if on_epoch_end:
                on_epoch_end(row)
            if not (row["train_loss"] <= limit and row["val_loss"] <= limit):  # also catches NaN
                result.diverged = True
                break
            state.finished(epoch + 1, row["val_loss"], network, keep_best=bool(patience))
            if on_checkpoint:
                on_checkpoint(state)
            if patience and state.epochs_without_improvement >= patience:
                result.stopped_early = True
                break
    if patience and state.best_weights is not None:
        for name, array in network.arrays().items():
            array[...] = state.best_weights[name]
    result.best_epoch = state.best_epoch
    result.weights_epoch = state.best_epoch if patience else state.epoch + (1 if result.diverged else 0)
    return result
