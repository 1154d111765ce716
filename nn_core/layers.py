"""The layers a network is made of. Each knows its own forward and backward pass.

A layer's `forward(x, train, rng)` returns its output and keeps what its
backward pass will need; `backward(delta)` takes dloss/d(output) and returns
dloss/d(input), filling `grads` (shaped like `params`) on the way. A layer
with nothing to learn has empty `params`; arrays a layer keeps but does not
learn by gradient (batch norm's running statistics) are its `state`, saved
with the weights. Each layer also says how many arrays of its output's shape
it keeps or allocates in a training step (`kept_per_unit`), which the memory
estimate sums. A new layer type is one class here, and its switch in
nn_core.network.Architecture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.linalg import blas  # loaded with NumPy's BLAS, so a thread limit (threadpoolctl) covers it too


class ActivationFunction(NamedTuple):
    # forward(z, out) may write into `out`, which may be z itself.
    forward: Callable[..., np.ndarray]
    # Derivative written in terms of the activation's *output* a = forward(z),
    # so the backward pass needs only what the forward pass kept.
    derivative_from_output: Callable[[np.ndarray], np.ndarray]


def sigmoid(z, out=None):
    """1 / (1 + exp(-z)), computed as (1 + tanh(z / 2)) / 2: the same function,
    never overflows, and NumPy's vectorised tanh is several times faster than
    scipy.special.expit on float32."""
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def relu(z, out=None):
    return np.maximum(z, 0, out=out)


# The hidden-layer activations by name. A new one is one entry: the config
# rules, the CLI and the gradient check all read this.
ACTIVATIONS = {
    "sigmoid": ActivationFunction(sigmoid, lambda a: a * (1 - a)),
    "tanh": ActivationFunction(lambda z, out=None: np.tanh(z, out=out), lambda a: 1 - a * a),
    "relu": ActivationFunction(relu, lambda a: (a > 0).astype(a.dtype)),
}


class Dense:
    """x (n, fan_in) -> x @ W + b (n, fan_out). W: (fan_in, fan_out), b: (fan_out,)."""

    decayed = ("W",)  # weight decay applies to the weights, not the bias
    kept_per_unit = 2  # its output z, and the gradient arriving for it

    def __init__(self, W: np.ndarray, b: np.ndarray, input_grad: bool = True):
        self.params = {"W": W, "b": b}
        # Reused every step: allocating a fresh weight-sized array per minibatch
        # costs more than computing the gradient into it.
        self.grads = {"W": np.empty_like(W), "b": np.empty_like(b)}
        self.input_grad = input_grad  # the first layer's input (the images) needs none
        # BLAS's C <- alpha * A @ B + beta * C (SciPy's; NumPy has no accumulating product)
        self.gemm = blas.dgemm if W.dtype == np.float64 else blas.sgemm

    def forward(self, x, train=False, rng=None):
        self.x = x
        z = x @ self.params["W"]
        z += self.params["b"]
        return z

    def backward(self, delta, weight_grad=True):
        """delta (n, fan_out) -> (n, fan_in), filling grads["b"] and grads["W"] = x.T @ delta.

        weight_grad=False leaves grads["W"] to the optimiser, which either folds it into
        its update (`descend`, plain SGD) or has it computed (`weight_gradient`)."""
        self.delta = delta  # kept for the weight gradient, with the forward pass's x
        self.weight_grad_deferred = not weight_grad
        if weight_grad:
            self.weight_gradient()
        np.sum(delta, axis=0, out=self.grads["b"])
        return delta @ self.params["W"].T if self.input_grad else None

    def weight_gradient(self) -> np.ndarray:
        """grads["W"] = x.T @ delta (fan_in, fan_out), from the last forward and backward pass."""
        self.weight_grad_deferred = False
        return np.matmul(self.x.T, self.delta, out=self.grads["W"])

    def descend(self, lr: float, shrink: float = 1.0) -> None:
        """W <- shrink * W - lr * (x.T @ delta): the weight gradient and plain SGD's
        update in one BLAS call (gemm), so each weight is rounded once, not twice, and the
        gradient is never written to memory. shrink = 1 - lr * weight_decay is L2 decay.

        gemm writes into Fortran-ordered arrays: W (fan_in, fan_out) in C order is
        W.T in Fortran order, so it computes W.T <- shrink * W.T - lr * delta.T @ x."""
        W = self.params["W"]
        assert W.flags.c_contiguous, "gemm would update a copy of W"  # (a checkpoint's weights are copied in)
        self.gemm(-lr, self.delta.T, self.x.T, beta=shrink, c=W.T, trans_b=True, overwrite_c=True)
        self.weight_grad_deferred = False


class Activation:
    """An element-wise activation from ACTIVATIONS, applied in place."""

    params: dict = {}
    kept_per_unit = 1  # the derivative; the output overwrites its input

    def __init__(self, name: str):
        self.name = name
        self.function = ACTIVATIONS[name]

    def forward(self, z, train=False, rng=None):
        self.a = self.function.forward(z, out=z)  # z itself is not needed for the backward pass
        return self.a

    def backward(self, delta):
        delta *= self.function.derivative_from_output(self.a)
        return delta


class Dropout:
    """Inverted dropout: in training, each unit is zeroed with probability p and
    the rest scaled by 1 / (1 - p), so evaluation needs no change (it is off there)."""

    params: dict = {}
    kept_per_unit = 2  # the mask and the masked output

    def __init__(self, p: float):
        self.p = p
        self.mask = None

    def forward(self, x, train=False, rng=None):
        if not (train and self.p):
            self.mask = None
            return x
        self.mask = rng.random(x.shape, dtype=x.dtype) >= self.p
        self.mask = self.mask * x.dtype.type(1 / (1 - self.p))
        return x * self.mask  # not in place: the activation before keeps its output for backward

    def backward(self, delta):
        if self.mask is not None:
            delta *= self.mask
        return delta


class BatchNorm:
    """Batch normalisation (Ioffe & Szegedy, 2015) of each unit over the batch:
    x (n, units) -> gamma * (x - mean) / sqrt(var + eps) + beta.

    In training, mean and var are the batch's own (var without Bessel's
    correction) and the running averages `state` move toward them by `momentum`
    (the running var with Bessel's correction), as torch.nn.BatchNorm1d does;
    in evaluation the running averages are used, so one image is scored alone.
    gamma and beta are learned and not weight-decayed.
    """

    decayed = ()
    kept_per_unit = 3  # x_hat, the output, and delta * x_hat in the backward pass

    def __init__(self, units: int, dtype=np.float32, momentum: float = 0.1, eps: float = 1e-5):
        self.params = {"gamma": np.ones(units, dtype), "beta": np.zeros(units, dtype)}
        self.grads = {key: np.empty_like(value) for key, value in self.params.items()}
        self.state = {"mean": np.zeros(units, dtype), "var": np.ones(units, dtype)}
        self.momentum, self.eps = momentum, eps

    def forward(self, x, train=False, rng=None):
        if train:
            mean, var = x.mean(axis=0), x.var(axis=0)
            n = len(x)
            self.state["mean"] += self.momentum * (mean - self.state["mean"])
            self.state["var"] += self.momentum * (var * (n / max(n - 1, 1)) - self.state["var"])
        else:
            mean, var = self.state["mean"], self.state["var"]
        self.inv_std = 1 / np.sqrt(var + self.eps)
        self.x_hat = (x - mean) * self.inv_std  # kept for the backward pass
        out = self.x_hat * self.params["gamma"]
        out += self.params["beta"]
        return out

    def backward(self, delta):
        n = len(delta)
        gamma, grads = self.params["gamma"], self.grads
        np.sum(delta * self.x_hat, axis=0, out=grads["gamma"])
        np.sum(delta, axis=0, out=grads["beta"])
        # The batch's mean and var depend on every row, hence the two terms besides delta:
        # dx = gamma / std * (delta - mean(delta) - x_hat * mean(delta * x_hat)).
        delta -= grads["beta"] / n
        delta -= self.x_hat * (grads["gamma"] / n)
        delta *= gamma * self.inv_std
        return delta
