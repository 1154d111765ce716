"""The backward pass against central finite differences, in float64, for
every registered activation (a new one is checked with no new test)."""

import numpy as np
import pytest

from helpers import assert_gradients_match_finite_differences
from nn_core.layers import ACTIVATIONS
from nn_core.network import Architecture, build_mlp, cross_entropy


@pytest.mark.parametrize(
    "dropout, smoothing, batch_norm",
    [(0.0, 0.0, False), (0.3, 0.0, False), (0.0, 0.2, False), (0.0, 0.0, True), (0.3, 0.0, True)],
)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("hidden", [[7], [6, 5]])
def test_every_gradient_matches_finite_differences(activation, hidden, dropout, smoothing, batch_norm):
    architecture = Architecture([5, *hidden, 4], activation=activation, dropout=dropout, batch_norm=batch_norm)
    assert_gradients_match_finite_differences(architecture, smoothing)


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
    first, second = build_mlp(Architecture([400, 300, 10]), rng, init_scale=2.0).trainable
    assert first.params["W"].shape == (400, 300) and first.params["W"].dtype == np.float32
    np.testing.assert_allclose(first.params["W"].std(), 2.0 / np.sqrt(400), rtol=0.02)
    np.testing.assert_allclose(first.params["W"].mean(), 0, atol=0.005)
    assert not first.params["b"].any() and not second.params["b"].any()
    he = build_mlp(Architecture([400, 300, 10]), rng, init="he").trainable[0]
    np.testing.assert_allclose(he.params["W"].std(), np.sqrt(2 / 400), rtol=0.02)
    xavier = build_mlp(Architecture([400, 300, 10]), rng, init="xavier").trainable[0]
    np.testing.assert_allclose(xavier.params["W"].std(), np.sqrt(2 / 700), rtol=0.02)
