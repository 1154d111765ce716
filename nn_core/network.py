"""A multilayer perceptron: parameters, forward pass, loss and backward pass.

The network is a list of layers, each a dict {"W": (fan_in, fan_out), "b": (fan_out,)}.
Hidden layers apply an activation; the last layer gives logits, turned into
class probabilities by softmax inside the cross-entropy.

    input (n, d) -> [W, b, activation] x len(hidden) -> [W, b] -> logits (n, 10)
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


class Activation(NamedTuple):
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


ACTIVATIONS = {
    "sigmoid": Activation(sigmoid, lambda a: a * (1 - a)),
    "tanh": Activation(lambda z, out=None: np.tanh(z, out=out), lambda a: 1 - a * a),
    "relu": Activation(relu, lambda a: (a > 0).astype(a.dtype)),
}

# Standard deviation of each weight, before init_scale multiplies it.
INITS = {
    "normal": lambda fan_in, fan_out: 1 / np.sqrt(fan_in),  # LeCun
    "xavier": lambda fan_in, fan_out: np.sqrt(2 / (fan_in + fan_out)),  # Glorot
    "he": lambda fan_in, fan_out: np.sqrt(2 / fan_in),
}


def init_params(layer_sizes, rng, init="normal", init_scale=1.0, dtype=np.float32):
    """Random weights, zero biases.

    layer_sizes : [n_inputs, hidden_1, ..., n_classes], e.g. [784, 128, 10].
    rng : np.random.Generator.
    init : "normal" draws W ~ Normal(0, (init_scale / sqrt(fan_in))^2);
           "xavier" uses std init_scale * sqrt(2 / (fan_in + fan_out));
           "he" uses std init_scale * sqrt(2 / fan_in).
    Returns a list of {"W": (fan_in, fan_out), "b": (fan_out,)} in `dtype`.
    """
    std_of = INITS[init]
    params = []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        std = init_scale * std_of(fan_in, fan_out)
        W = rng.normal(0.0, std, size=(fan_in, fan_out)).astype(dtype)
        params.append({"W": W, "b": np.zeros(fan_out, dtype=dtype)})
    return params


def forward(params, X, activation="sigmoid"):
    """X : (n, d) float in [0, 1].

    Returns logits (n, n_classes) and the input of every layer
    [X, h_1, ..., h_L] (kept for the backward pass).
    """
    f = ACTIVATIONS[activation].forward
    layer_inputs = [X]
    a = X
    for layer in params[:-1]:
        z = a @ layer["W"]
        z += layer["b"]
        a = f(z, out=z)  # in place: z itself is not needed for the backward pass
        layer_inputs.append(a)
    logits = a @ params[-1]["W"] + params[-1]["b"]
    return logits, layer_inputs


def cross_entropy(logits, y):
    """Mean softmax cross-entropy and its gradient.

    logits : (n, k) float; y : (n,) int labels in 0 .. k-1.
    Returns loss (scalar, nats per sample) and dloss/dlogits (n, k).
    """
    n = len(y)
    rows = np.arange(n)
    # Subtracting the row max keeps exp() from overflowing; softmax is unchanged.
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    # -log softmax(logits)[y] = log(sum(exp(shifted))) - shifted[y]
    loss = np.mean(np.log(sum_exp[:, 0]) - shifted[rows, y])
    # d loss / d logits = (softmax - onehot(y)) / n
    dlogits = exp
    dlogits /= sum_exp
    dlogits[rows, y] -= 1
    dlogits /= n
    return float(loss), dlogits


def backward(params, layer_inputs, dlogits, activation="sigmoid", out=None):
    """Gradients of the loss for every parameter, by the chain rule.

    layer_inputs, dlogits : from `forward` and `cross_entropy`.
    out : optional arrays shaped like params to write the gradients into.
        A trainer passes the same ones every minibatch: allocating a fresh
        weight-sized array each step costs more than computing it.
    Returns a list shaped like params: [{"W": dW, "b": db}, ...].
    """
    derivative = ACTIVATIONS[activation].derivative_from_output
    grads = out or [{"W": None, "b": None} for _ in params]
    delta = dlogits  # dloss / d(pre-activation) of the current layer
    for i in reversed(range(len(params))):
        a_in = layer_inputs[i]
        grads[i]["W"] = np.matmul(a_in.T, delta, out=grads[i]["W"])
        grads[i]["b"] = np.sum(delta, axis=0, out=grads[i]["b"])
        if i > 0:  # the input layer needs no delta
            delta = delta @ params[i]["W"].T
            delta *= derivative(a_in)
    return grads


def predict(params, X, activation="sigmoid"):
    """X : (n, d) float in [0, 1] -> (n,) predicted class labels."""
    logits, _ = forward(params, X, activation)
    return logits.argmax(axis=1)
