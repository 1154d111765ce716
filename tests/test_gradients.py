"""The backward pass against central finite differences, in float64, for
every registered activation (a new one is checked with no new test)."""

import numpy as np
import pytest

from nn_core.layers import ACTIVATIONS
from nn_core.network import build_mlp, cross_entropy

MASK_SEED = 5  # dropout draws the same mask on every forward pass of the check


def loss_of(network, X, y, smoothing):
    logits = network.forward(X, train=True, rng=np.random.default_rng(MASK_SEED))
    return cross_entropy(logits, y, smoothing)[0]


@pytest.mark.parametrize("dropout, smoothing, batch_norm", [
    (0.0, 0.0, False), (0.3, 0.0, False), (0.0, 0.2, False), (0.0, 0.0, True), (0.3, 0.0, True)])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("hidden", [[7], [6, 5]])
def test_every_gradient_matches_finite_differences(activation, hidden, dropout, smoothing, batch_norm):
    rng = np.random.default_rng(1)
    X = rng.random((8, 5))
    y = rng.integers(0, 4, size=8)
    network = build_mlp([5, *hidden, 4], rng, activation=activation, init_scale=1.5, dropout=dropout, dtype=np.float64,
                        batch_norm=batch_norm)
    for layer in network.trainable:  # biases (and batch norm's gamma, beta) away from their start, so all are exercised
        for key in set(layer.params) - {"W"}:
            layer.params[key][:] = rng.normal(size=layer.params[key].shape)

    logits = network.forward(X, train=True, rng=np.random.default_rng(MASK_SEED))
    _, dlogits = cross_entropy(logits, y, smoothing)
    network.backward(dlogits)
    grads = [{key: g.copy() for key, g in layer.grads.items()} for layer in network.trainable]

    eps = 1e-6
    for layer, grad in zip(network.trainable, grads):
        for key, value in layer.params.items():
            numeric = np.zeros_like(value)
            for index in np.ndindex(value.shape):
                saved = value[index]
                value[index] = saved + eps
                plus = loss_of(network, X, y, smoothing)
                value[index] = saved - eps
                minus = loss_of(network, X, y, smoothing)
                value[index] = saved
                numeric[index] = (plus - minus) / (2 * eps)
            np.testing.assert_allclose(grad[key], numeric, rtol=1e-5, atol=1e-8, err_msg=key)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    loss, dlogits = cross_entropy(logits, np.array([0, 2]))
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    np.testing.assert_allclose(loss, np.log(3) / 2)
    np.testing.assert_allclose(dlogits.sum(axis=1), 0, atol=1e-12)


def test_label_smoothing_is_cross_entropy_against_the_smoothed_target():
    rng = np.random.default_rng(3)
    logits, y, smoothing = rng.normal(size=(6, 4)) * 3, np.array([0, 1, 2, 3, 3, 1]), 0.1
    target = np.full((6, 4), smoothing / 4)
    target[np.arange(6), y] += 1 - smoothing
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss, dlogits = cross_entropy(logits, y, smoothing)
    np.testing.assert_allclose(loss, -(target * log_softmax).sum(axis=1).mean(), rtol=1e-12)
    np.testing.assert_allclose(dlogits, (np.exp(log_softmax) - target) / 6, rtol=1e-12)
    assert cross_entropy(logits, y, 0.0)[0] == cross_entropy(logits, y)[0]  # 0 is the plain loss


def test_init_draws_scaled_normal_weights_and_zero_biases():
    rng = np.random.default_rng(0)
    first, second = build_mlp([400, 300, 10], rng, init_scale=2.0).trainable
    assert first.params["W"].shape == (400, 300) and first.params["W"].dtype == np.float32
    np.testing.assert_allclose(first.params["W"].std(), 2.0 / np.sqrt(400), rtol=0.02)
    np.testing.assert_allclose(first.params["W"].mean(), 0, atol=0.005)
    assert not first.params["b"].any() and not second.params["b"].any()
    he = build_mlp([400, 300, 10], rng, init="he").trainable[0]
    np.testing.assert_allclose(he.params["W"].std(), np.sqrt(2 / 400), rtol=0.02)
    xavier = build_mlp([400, 300, 10], rng, init="xavier").trainable[0]
    np.testing.assert_allclose(xavier.params["W"].std(), np.sqrt(2 / 700), rtol=0.02)
