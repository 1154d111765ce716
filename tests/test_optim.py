"""Optimisers against their update rules written out by hand, and the lr schedules."""

import math

import numpy as np
import pytest

from nn_core.layers import Dense
from nn_core.network import Architecture, build_mlp
from nn_core.optim import OPTIMIZERS, SCHEDULES, SGD, make_optimizer, make_schedule
from nn_core.training import train_step

LR, MU, WD = 0.1, 0.9, 0.01
B1, B2, EPS = 0.9, 0.999, 1e-8


def run(name, steps=4, **options):
    """Apply `steps` updates with known gradients; return the parameter history."""
    rng = np.random.default_rng(0)
    layers = [Dense(rng.normal(size=(3, 2)), rng.normal(size=2))]
    grads_seen = [rng.normal(size=(3, 2)) for _ in range(steps)]
    optimizer = make_optimizer(name, layers, **options)
    history = [layers[0].params["W"].copy()]
    for g in grads_seen:
        layers[0].grads["W"][...], layers[0].grads["b"][...] = g, 0
        optimizer.step(layers, LR)
        history.append(layers[0].params["W"].copy())
    return history, grads_seen


def test_sgd():
    history, grads = run("sgd")
    w = history[0]
    for g, got in zip(grads, history[1:]):
        w = w - LR * g
        np.testing.assert_allclose(got, w)


def test_sgd_weight_decay_decays_weights_not_biases():
    rng = np.random.default_rng(0)
    layer = Dense(rng.normal(size=(3, 2)), rng.normal(size=2))
    w0, b0 = layer.params["W"].copy(), layer.params["b"].copy()
    layer.grads["W"][...], layer.grads["b"][...] = 0, 0
    make_optimizer("sgd", [layer], weight_decay=WD).step([layer], LR)
    np.testing.assert_allclose(layer.params["W"], w0 - LR * WD * w0)
    np.testing.assert_allclose(layer.params["b"], b0)


def small_network_step(optimizer_name, optimizer_class=None, **settings):
    """A small float64 network (6-5-3) one training step from fixed weights and data:
    (weights before, weights after, the dense layers as the step left them)."""
    rng = np.random.default_rng(1)
    network = build_mlp(Architecture([6, 5, 3], "sigmoid"), rng, dtype=np.float64)
    X, y = rng.random((8, 6)), rng.integers(0, 3, size=8)
    before = [layer.params["W"].copy() for layer in network.trainable]
    optimizer = (optimizer_class or OPTIMIZERS[optimizer_name].build)(network.trainable, **settings)
    train_step(network, X, y, optimizer, LR, rng)
    return before, network


def test_plain_sgd_folds_the_weight_gradient_into_its_update(monkeypatch):
    """Training's plain SGD step never computes the weight gradient on its own (one BLAS
    call updates W), and gives what computing it first gives, to rounding."""
    _, unfused = small_network_step("momentum", momentum=0.0, weight_decay=WD)  # momentum 0: the two-call path

    def no_separate_gradient(self):
        raise AssertionError("plain SGD computed the weight gradient separately")

    monkeypatch.setattr(Dense, "weight_gradient", no_separate_gradient)
    _, fused = small_network_step("sgd", weight_decay=WD)
    for ours, twice_rounded in zip(fused.trainable, unfused.trainable):
        np.testing.assert_allclose(ours.params["W"], twice_rounded.params["W"], rtol=1e-14, atol=1e-15)


def test_an_sgd_subclass_that_changes_the_gradients_sees_them():
    """A subclass overriding step (to clip the gradients, say) gets them computed, not folded
    past it: one that zeroes every gradient leaves the weights where they were."""

    class FrozenSGD(SGD):
        def step(self, layers, lr):
            for layer in layers:
                for grad in layer.grads.values():
                    grad[...] = 0
            super().step(layers, lr)

    before, network = small_network_step("sgd", FrozenSGD)
    for W, layer in zip(before, network.trainable):
        np.testing.assert_array_equal(layer.params["W"], W)


def test_momentum():
    history, grads = run("momentum", momentum=MU)
    w, v = history[0], 0
    for g, got in zip(grads, history[1:]):
        v = MU * v + g
        w = w - LR * v
        np.testing.assert_allclose(got, w)


def test_nesterov():
    history, grads = run("nesterov", momentum=MU)
    w, v = history[0], 0
    for g, got in zip(grads, history[1:]):
        v = MU * v + g
        w = w - LR * (g + MU * v)
        np.testing.assert_allclose(got, w)


def test_adam():
    history, grads = run("adam", beta1=B1, beta2=B2, eps=EPS)
    w, m, v = history[0], 0, 0
    for t, (g, got) in enumerate(zip(grads, history[1:]), start=1):
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        m_hat, v_hat = m / (1 - B1**t), v / (1 - B2**t)
        w = w - LR * m_hat / (np.sqrt(v_hat) + EPS)
        np.testing.assert_allclose(got, w, rtol=1e-12)


def test_adam_with_weight_decay_adds_it_to_the_gradient():
    history, grads = run("adam", steps=1, weight_decay=WD)
    g = grads[0] + WD * history[0]
    m_hat, v_hat = g, g * g  # after one step the bias corrections undo the (1 - beta) factors
    np.testing.assert_allclose(history[1], history[0] - LR * m_hat / (np.sqrt(v_hat) + EPS), rtol=1e-12)


def test_schedules():
    constant = make_schedule("constant", 1.0, 10)
    assert [constant(e) for e in (0, 9)] == [1.0, 1.0]
    step = make_schedule("step", 1.0, 10, step_size=3, gamma=0.5)
    assert [step(e) for e in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    cosine = make_schedule("cosine", 1.0, 4)
    assert [cosine(e) for e in range(4)] == pytest.approx(
        [1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2]
    )
    with pytest.raises(ValueError, match="schedule"):
        make_schedule("linear", 1.0, 4)


def another_allowed_value(setting):
    """A value the setting allows other than its default."""
    default = setting.default
    for candidate in (default + 1, default * 2 + 0.1, default / 2, 0.5, 1e-3):
        if candidate != default and setting.allowed.allows(candidate):
            return candidate
    raise AssertionError(f"no other allowed value found for {setting}")


def optimizer_trajectory(name, **settings):
    """The weights after three steps on fixed gradients, from fixed weights."""
    rng = np.random.default_rng(0)
    layer = Dense(rng.normal(size=(3, 2)), rng.normal(size=2))
    optimizer = make_optimizer(name, [layer], **settings)
    for _ in range(3):
        layer.grads["W"][...] = rng.normal(size=(3, 2)) * 1e-3  # small: Adam's eps then shows
        layer.grads["b"][...] = rng.normal(size=2) * 1e-3
        optimizer.step([layer], 0.1)
    return np.concatenate([layer.params["W"].ravel(), layer.params["b"]])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_setting_changes_what_it_does(name):
    """Each setting a registry entry lists reaches what it builds: another allowed
    value gives other weights after three steps; a setting it does not list is refused."""
    entry = OPTIMIZERS[name]
    default = optimizer_trajectory(name, **entry.defaults())
    for setting_name, setting in entry.settings.items():
        changed = optimizer_trajectory(name, **{**entry.defaults(), setting_name: another_allowed_value(setting)})
        assert not np.array_equal(changed, default), f"optimizer {name} ignores {setting_name}"
    with pytest.raises(ValueError, match=f"optimizer {name} takes"):
        make_optimizer(name, [Dense(np.zeros((3, 2)), np.zeros(2))], no_such_setting=1)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_setting_changes_what_it_does(name):
    entry = SCHEDULES[name]
    default = [make_schedule(name, 0.1, 40, **entry.defaults())(e) for e in range(40)]
    for setting_name, setting in entry.settings.items():
        schedule = make_schedule(name, 0.1, 40, **{**entry.defaults(), setting_name: another_allowed_value(setting)})
        assert [schedule(e) for e in range(40)] != default, f"schedule {name} ignores {setting_name}"
    with pytest.raises(ValueError, match=f"schedule {name} takes"):
        make_schedule(name, 0.1, 5, no_such_setting=1)
