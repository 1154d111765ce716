"""The backward pass against central finite differences, in float64."""

import numpy as np
import pytest

from nn_core.network import backward, cross_entropy, forward, init_params


def loss_of(params, X, y, activation):
    logits, _ = forward(params, X, activation)
    return cross_entropy(logits, y)[0]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("hidden", [[7], [6, 5]])
def test_every_gradient_matches_finite_differences(activation, hidden):
    rng = np.random.default_rng(1)
    X = rng.random((8, 5))
    y = rng.integers(0, 4, size=8)
    params = init_params([5, *hidden, 4], rng, init_scale=1.5, dtype=np.float64)
    for layer in params:  # non-zero biases so their gradients are exercised too
        layer["b"][:] = rng.normal(size=layer["b"].shape)

    logits, layer_inputs = forward(params, X, activation)
    _, dlogits = cross_entropy(logits, y)
    grads = backward(params, layer_inputs, dlogits, activation)

    eps = 1e-6
    for layer, grad in zip(params, grads):
        for key, value in layer.items():
            numeric = np.zeros_like(value)
            for index in np.ndindex(value.shape):
                saved = value[index]
                value[index] = saved + eps
                plus = loss_of(params, X, y, activation)
                value[index] = saved - eps
                minus = loss_of(params, X, y, activation)
                value[index] = saved
                numeric[index] = (plus - minus) / (2 * eps)
            np.testing.assert_allclose(grad[key], numeric, rtol=1e-5, atol=1e-8, err_msg=key)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    loss, dlogits = cross_entropy(logits, np.array([0, 2]))
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    np.testing.assert_allclose(loss, np.log(3) / 2)
    np.testing.assert_allclose(dlogits.sum(axis=1), 0, atol=1e-12)


def test_init_draws_scaled_normal_weights_and_zero_biases():
    rng = np.random.default_rng(0)
    params = init_params([400, 300, 10], rng, init_scale=2.0)
    assert params[0]["W"].shape == (400, 300) and params[0]["W"].dtype == np.float32
    np.testing.assert_allclose(params[0]["W"].std(), 2.0 / np.sqrt(400), rtol=0.02)
    np.testing.assert_allclose(params[0]["W"].mean(), 0, atol=0.005)
    assert not params[0]["b"].any() and not params[1]["b"].any()
    he = init_params([400, 300, 10], rng, init="he")
    np.testing.assert_allclose(he[0]["W"].std(), np.sqrt(2 / 400), rtol=0.02)
    xavier = init_params([400, 300, 10], rng, init="xavier")
    np.testing.assert_allclose(xavier[0]["W"].std(), np.sqrt(2 / 700), rtol=0.02)
