"""A multilayer perceptron: a list of layers, its loss, and its forward and backward pass.

    images (n, d) -> scale to [0, 1] -> [Dense, (BatchNorm), activation, (Dropout)] x len(hidden) -> Dense -> logits (n, 10)

The network carries what it needs to be used after training (the input
scaling and its layers' settings), so `predict` and `evaluate` cannot
disagree with how it was trained.
"""

from __future__ import annotations

import numpy as np

from nn_core.datasets import scale_pixels
from nn_core.layers import Act, BatchNorm, Dense, Dropout

# Standard deviation of each weight, before init_scale multiplies it. A new
# scheme is one entry here: the config rules read this.
INITS = {
    "normal": lambda fan_in, fan_out: 1 / np.sqrt(fan_in),  # LeCun
    "xavier": lambda fan_in, fan_out: np.sqrt(2 / (fan_in + fan_out)),  # Glorot
    "he": lambda fan_in, fan_out: np.sqrt(2 / fan_in),
}


class Network:
    """layers : [Dense, (BatchNorm,) Act, (Dropout,) ..., Dense], applied in order.
    pixel_max : raw pixel value that scales to 1.0 (255 for MNIST).
    architecture : what `build_mlp` was given (saved with the weights)."""

    def __init__(self, layers: list, pixel_max: float = 1.0, architecture: dict | None = None):
        self.layers = layers
        self.pixel_max = pixel_max
        self.architecture = architecture or {}

    @property
    def trainable(self) -> list:
        """The layers with parameters, in order: what an optimiser updates."""
        return [layer for layer in self.layers if layer.params]

    def arrays(self) -> dict:
        """Every array the trained network is made of, by name: each Dense layer's
        W1, b1, W2, ..., and the arrays of the layers that follow it numbered
        alike (gamma1, beta1, mean1, var1 of a BatchNorm after the first Dense).
        The live arrays, not copies: what is saved, restored and kept as best."""
        arrays, number = {}, 0
        for layer in self.layers:
            number += isinstance(layer, Dense)
            for key, value in {**layer.params, **getattr(layer, "state", {})}.items():
                arrays[f"{key}{number}"] = value
        return arrays

    @property
    def dtype(self):
        return self.trainable[0].params["W"].dtype.type

    def forward(self, X, train=False, rng=None):
        """X : (n, d) float in [0, 1] -> logits (n, n_classes). Each layer keeps
        what its backward pass needs. train=True turns dropout on (rng draws its masks)."""
        for layer in self.layers:
            X = layer.forward(X, train, rng)
        return X

    def backward(self, dlogits):
        """dlogits : (n, n_classes) from cross_entropy. Fills each layer's `grads`."""
        delta = dlogits
        for layer in reversed(self.layers):
            delta = layer.backward(delta)

    def scale(self, images) -> np.ndarray:
        """Raw pixels (any integer dtype, 0 .. pixel_max) to float in [0, 1];
        float images are taken as already scaled and must lie in [0, 1]."""
        images = np.asarray(images)
        if images.ndim == 1:  # one image
            images = images[None, :]
        if images.dtype.kind in "iub":
            return scale_pixels(images, self.pixel_max, self.dtype)
        if images.size and not (images.min() >= 0 and images.max() <= 1):
            raise ValueError(
                f"float images must be scaled to [0, 1] (these range over {images.min():g} .. {images.max():g}); "
                f"pass raw integer pixels (0 .. {self.pixel_max:g}) to have them scaled"
            )
        return images.astype(self.dtype, copy=False)

    def predict_proba(self, images) -> np.ndarray:
        """images : (n, d) or (d,) raw pixels -> (n, n_classes) class probabilities."""
        logits = self.forward(self.scale(images))
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, images) -> np.ndarray:
        """images : (n, d) or (d,) raw pixels -> (n,) predicted class labels."""
        return self.forward(self.scale(images)).argmax(axis=1)


def assemble(weights, activation="sigmoid", dropout=0.0, pixel_max=1.0, batch_norm=False) -> Network:
    """A multilayer perceptron from its weights: [(W1, b1), ..., (WL, bL)],
    W: (fan_in, fan_out), b: (fan_out,). Every layer but the last is followed by
    a fresh BatchNorm when batch_norm is true, the activation, then by
    Dropout(dropout) when dropout > 0."""
    layers = []
    for i, (W, b) in enumerate(weights):
        layers.append(Dense(W, b, input_grad=i > 0))
        if i < len(weights) - 1:
            if batch_norm:  # b is then redundant (the batch mean is subtracted) but harmless
                layers.append(BatchNorm(W.shape[1], W.dtype))
            layers.append(Act(activation))
            if dropout:
                layers.append(Dropout(dropout))
    sizes = [weights[0][0].shape[0], *(W.shape[1] for W, _ in weights)]
    return Network(layers, pixel_max, {"sizes": sizes, "activation": activation, "dropout": dropout, "batch_norm": batch_norm})


def build_mlp(sizes, rng, activation="sigmoid", init="normal", init_scale=1.0, dropout=0.0,
              dtype=np.float32, pixel_max=1.0, batch_norm=False) -> Network:
    """A multilayer perceptron with random weights and zero biases.

    sizes : [n_inputs, hidden_1, ..., n_classes], e.g. [784, 128, 10].
    rng : np.random.Generator for the weights.
    init : W ~ Normal(0, std^2) with std = init_scale * INITS[init](fan_in, fan_out):
        "normal" 1/sqrt(fan_in) (LeCun), "xavier" sqrt(2/(fan_in+fan_out)), "he" sqrt(2/fan_in).
    dropout : probability of zeroing each hidden unit in training; 0 = no Dropout layers.
    batch_norm : normalise each hidden layer's pre-activations over the batch (BatchNorm).
    """
    std_of = INITS[init]
    weights = [
        (rng.normal(0.0, init_scale * std_of(fan_in, fan_out), size=(fan_in, fan_out)).astype(dtype),
         np.zeros(fan_out, dtype=dtype))
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:])
    ]
    return assemble(weights, activation, dropout, pixel_max, batch_norm)


def cross_entropy(logits, y, smoothing=0.0):
    """Mean softmax cross-entropy and its gradient.

    logits : (n, k) float; y : (n,) int labels in 0 .. k-1.
    smoothing : label smoothing, in [0, 1): the target puts 1 - smoothing on the
        true class and smoothing / k on every class; 0 = the one-hot target.
    Returns loss (scalar, nats per sample) and dloss/dlogits (n, k).
    """
    n, k = logits.shape
    rows = np.arange(n)
    # Subtracting the row max keeps exp() from overflowing; softmax is unchanged.
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    log_sum_exp = np.log(sum_exp[:, 0])
    # -log softmax(logits)[y] = log(sum(exp(shifted))) - shifted[y]
    losses = log_sum_exp - shifted[rows, y]
    if smoothing:
        # The uniform part of the target: the mean over classes of -log softmax.
        losses = (1 - smoothing) * losses + smoothing * (log_sum_exp - shifted.mean(axis=1))
    loss = np.mean(losses)
    # d loss / d logits = (softmax - target) / n
    dlogits = exp
    dlogits /= sum_exp
    if smoothing:
        dlogits -= smoothing / k
    dlogits[rows, y] -= 1 - smoothing
    dlogits /= n
    return float(loss), dlogits
