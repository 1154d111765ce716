"""A multilayer perceptron: what it is (Architecture), its layers, its loss,
and its forward and backward pass.

    images (n, d) -> scale to [0, 1]
        -> [Dense, (BatchNorm), activation, (Dropout)] x len(hidden) -> Dense -> logits (n, 10)

The network carries its Architecture, input scaling included, so `predict` and
`evaluate` cannot disagree with how it was trained, and building, saving,
loading, checkpoints and the memory estimate all read the one description.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from numbers import Real

import numpy as np

from nn_core.constraints import Boolean, Interval, Options, constrained
from nn_core.layers import ACTIVATIONS, Activation, BatchNorm, Dense, Dropout

# Standard deviation of each weight, before init_scale multiplies it. A new
# scheme is one entry here: the config rules read this.
INITS = {
    "normal": lambda fan_in, fan_out: 1 / np.sqrt(fan_in),  # LeCun
    "xavier": lambda fan_in, fan_out: np.sqrt(2 / (fan_in + fan_out)),  # Glorot
    "he": lambda fan_in, fan_out: np.sqrt(2 / fan_in),
}


def scale_pixels(X: np.ndarray, pixel_max: float, dtype=np.float32, out=None) -> np.ndarray:
    """(n, d) raw pixels -> (n, d) `dtype` in [0, 1], written into `out` if given.

    Converted, then multiplied in place: the same numbers as one mixed-type
    multiply, which NumPy does through a slower buffered cast (about 1.4x the time)."""
    out = np.empty(X.shape, dtype) if out is None else out
    np.copyto(out, X)
    out *= dtype(1.0 / pixel_max)
    return out


@dataclass(frozen=True)
class Architecture:
    """What a network is apart from its weights: enough to build it, save and
    load it, and estimate its memory before allocating any of it.

    sizes : [n_inputs, hidden_1, ..., n_classes], e.g. (784, 128, 10).
    activation : the hidden layers' activation, a name from nn_core.layers.ACTIVATIONS.
    dropout : probability of zeroing each hidden unit in training; 0 = no Dropout layers.
    batch_norm : normalise each hidden layer's pre-activations over the batch (BatchNorm).
    pixel_max : the raw pixel value that scales to 1.0 (255 for MNIST, 16 for scikit-learn's digits).

    A new layer type with a switch is a field here, with what it allows (`constrained`:
    the config rules read it), and a line in hidden_block.
    """

    sizes: tuple
    activation: str = constrained("sigmoid", Options(ACTIVATIONS))
    dropout: float = constrained(0.0, Interval(Real, 0, 1, closed="left"))
    batch_norm: bool = constrained(False, Boolean())
    pixel_max: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(int(n) for n in self.sizes))

    def hidden_block(self, units: int, dtype=np.float32) -> list:
        """The layers that follow each hidden Dense layer of `units` outputs, in order."""
        block = []
        if self.batch_norm:  # the Dense bias before it is then redundant (the batch mean is subtracted), but harmless
            block.append(BatchNorm(units, dtype))
        block.append(Activation(self.activation))
        if self.dropout:
            block.append(Dropout(self.dropout))
        return block

    def hidden_blocks(self, dtype=np.float32) -> list[list]:
        """One hidden_block per hidden layer (cheap: no weight matrices)."""
        return [self.hidden_block(units, dtype) for units in self.sizes[1:-1]]

    def n_parameters(self) -> int:
        """Every number the network is made of: the Dense layers' weights and biases,
        and the other layers' params and state (batch norm's gamma, beta, mean, var)."""
        dense = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:]))
        other = sum(
            a.size
            for block in self.hidden_blocks()
            for layer in block
            for a in (*layer.params.values(), *getattr(layer, "state", {}).values())
        )
        return dense + other

    def units_kept_per_row(self) -> int:
        """Numbers a training step keeps per row of its batch: the scaled input, and
        each layer's `kept_per_unit` arrays of its output's width."""
        kept = self.sizes[0] + sum(Dense.kept_per_unit * units for units in self.sizes[1:])
        for units, block in zip(self.sizes[1:-1], self.hidden_blocks()):
            kept += sum(type(layer).kept_per_unit * units for layer in block)
        return kept

    def describe(self) -> dict:
        """As plain JSON values, for a saved network's file."""
        return {**asdict(self), "sizes": list(self.sizes)}

    @classmethod
    def from_description(cls, description: dict) -> Architecture:
        """From what describe() wrote (other keys ignored; a switch a file predates takes its default)."""
        return cls(**{f.name: description[f.name] for f in fields(cls) if f.name in description})


class Network:
    """layers : [Dense, (BatchNorm,) Activation, (Dropout,) ..., Dense], applied in order.
    architecture : what the layers were built from (assemble), input scaling included."""

    def __init__(self, layers: list, architecture: Architecture):
        self.layers = layers
        self.architecture = architecture

    @property
    def pixel_max(self) -> float:
        return self.architecture.pixel_max

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

    def backward(self, dlogits, weight_grads=True):
        """dlogits : (n, n_classes) from cross_entropy. Fills each layer's `grads`; with
        weight_grads=False not the dense layers' grads["W"], left to the optimiser (Dense.backward)."""
        delta = dlogits
        for layer in reversed(self.layers):
            delta = layer.backward(delta, weight_grads) if isinstance(layer, Dense) else layer.backward(delta)

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


def assemble(weights, architecture: Architecture) -> Network:
    """A multilayer perceptron from its weights: [(W1, b1), ..., (WL, bL)],
    W: (fan_in, fan_out), b: (fan_out,). Every Dense layer but the last is
    followed by the architecture's hidden_block (fresh batch norm statistics)."""
    layers = []
    for i, (W, b) in enumerate(weights):
        layers.append(Dense(W, b, input_grad=i > 0))
        if i < len(weights) - 1:
            layers += architecture.hidden_block(W.shape[1], W.dtype)
    return Network(layers, architecture)


def build_mlp(architecture: Architecture, rng, init="normal", init_scale=1.0, dtype=np.float32) -> Network:
    """A multilayer perceptron with random weights and zero biases.

    rng : np.random.Generator for the weights.
    init : W ~ Normal(0, std^2) with std = init_scale * INITS[init](fan_in, fan_out):
        "normal" 1/sqrt(fan_in) (LeCun), "xavier" sqrt(2/(fan_in+fan_out)), "he" sqrt(2/fan_in).
    """
    std_of = INITS[init]
    sizes = architecture.sizes
    weights = [
        (
            rng.normal(0.0, init_scale * std_of(fan_in, fan_out), size=(fan_in, fan_out)).astype(dtype),
            np.zeros(fan_out, dtype=dtype),
        )
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:])
    ]
    return assemble(weights, architecture)


def cross_entropy(logits, y, smoothing=0.0):
    """Mean softmax cross-entropy and its gradient.

    logits : (n, k) float; y : (n,) int labels in 0 .. k-1.
    smoothing : label smoothing, in [0, 1): the target puts 1 - smoothing on the
        true class and smoothing / k on every class; 0 = the one-hot target.
    Returns loss (scalar, nats per sample) and dloss/dlogits (n, k).

    This runs once per training step on a small array, where each NumPy call's
    fixed cost (about a microsecond) outweighs its arithmetic: hence the true
    classes picked by flat index and the mean as a sum, the fewest calls that
    give the same numbers.
    """
    n, k = logits.shape
    true_class = np.arange(0, n * k, k) + y  # flat index of each row's label
    # Subtracting the row max keeps exp() from overflowing; softmax is unchanged.
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    log_sum_exp = np.log(sum_exp[:, 0])
    # -log softmax(logits)[y] = log(sum(exp(shifted))) - shifted[y]
    losses = log_sum_exp - shifted.take(true_class)
    if smoothing:
        # The uniform part of the target: the mean over classes of -log softmax.
        losses = (1 - smoothing) * losses + smoothing * (log_sum_exp - shifted.mean(axis=1))
    loss = losses.dtype.type(float(losses.sum()) / n)  # as np.mean rounds it
    # d loss / d logits = (softmax - target) / n
    dlogits = exp
    dlogits /= sum_exp
    if smoothing:
        dlogits -= smoothing / k
    dlogits.reshape(-1)[true_class] -= 1 - smoothing
    dlogits /= n
    return float(loss), dlogits
