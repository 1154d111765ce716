"""fit: learning, reproducibility, early stopping, divergence, dropout, augmentation."""

import dataclasses

import numpy as np
import pytest

import nn_core
from nn_core import (
    Architecture,
    TrainingOptions,
    build_mlp,
    fit,
    load_digits_dataset,
    make_optimizer,
    make_schedule,
)


def train(data, epochs=5, seed=0, lr=0.5, dtype=np.float32, dropout=0.0, **options):
    rng = np.random.default_rng(seed)
    network = build_mlp(
        Architecture([data.n_features, 32, 10], dropout=dropout, pixel_max=data.pixel_max), rng, dtype=dtype
    )
    return fit(
        network,
        data,
        TrainingOptions(epochs=epochs, **options),
        schedule=make_schedule("constant", lr, epochs),
        rng=rng,
    )


def test_loss_falls_and_accuracy_rises_on_digits():
    result = train(load_digits_dataset(), epochs=8)
    losses = [r["val_loss"] for r in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.history[-1]["val_acc"] > 0.85 and not result.diverged


def test_same_seed_same_weights_in_float64():
    data = load_digits_dataset()
    a = train(data, dtype=np.float64, seed=3, dropout=0.2, shift=1)
    b = train(data, dtype=np.float64, seed=3, dropout=0.2, shift=1)
    W = a.network.trainable[0].params["W"]
    assert W.dtype == np.float64
    np.testing.assert_array_equal(W, b.network.trainable[0].params["W"])


def test_early_stopping_keeps_the_best_epoch():
    data = load_digits_dataset()
    # A learning rate this large makes the validation loss bounce, so patience runs out.
    result = train(data, epochs=60, lr=8.0, patience=2)
    assert result.stopped_early and len(result.history) < 60
    best = min(result.history, key=lambda r: r["val_loss"])
    assert result.best_epoch == result.weights_epoch == best["epoch"]
    loss, acc = nn_core.evaluate(result.network, data.X_val, data.y_val)
    assert abs(loss - best["val_loss"]) < 1e-5 and acc == best["val_acc"]


def test_divergence_is_reported_not_raised():
    data = load_digits_dataset()
    result = train(data, epochs=5, lr=1e38)
    assert result.diverged and len(result.history) == 1


@pytest.mark.parametrize("activation", sorted(nn_core.ACTIVATIONS))
@pytest.mark.parametrize("optimizer, lr", [("momentum", 0.1), ("nesterov", 0.1), ("adam", 0.01)])
def test_every_optimizer_and_activation_learns(optimizer, lr, activation):
    data = load_digits_dataset()
    rng = np.random.default_rng(0)
    network = build_mlp(Architecture([64, 32, 16, 10], activation=activation, pixel_max=data.pixel_max), rng, init="he")
    result = fit(
        network,
        data,
        TrainingOptions(epochs=15),
        rng=rng,
        schedule=make_schedule("cosine", lr, 15),
        optimizer=make_optimizer(optimizer, network.trainable),
    )
    assert result.history[-1]["val_acc"] > 0.85, (optimizer, activation, result.history[-1])


def test_dropout_and_augmentation_train_and_leave_evaluation_alone():
    data = load_digits_dataset()
    result = train(data, epochs=20, dropout=0.2, shift=1)
    assert result.history[-1]["val_acc"] > 0.8
    # Each is used in training: leaving either out (same seed) ends with other weights.
    for without in (train(data, epochs=1, dropout=0.2), train(data, epochs=1, shift=1)):
        used = train(data, epochs=1, dropout=0.2, shift=1)
        assert not np.array_equal(used.network.trainable[0].params["W"], without.network.trainable[0].params["W"])
    # Dropout is off outside training: the network scores exactly as the same weights without Dropout layers.
    weights = [(layer.params["W"], layer.params["b"]) for layer in result.network.trainable]
    without_dropout = nn_core.assemble(weights, dataclasses.replace(result.network.architecture, dropout=0.0))
    assert any(isinstance(layer, nn_core.Dropout) for layer in result.network.layers)
    np.testing.assert_array_equal(result.network.predict_proba(data.X_val), without_dropout.predict_proba(data.X_val))
    assert nn_core.evaluate(result.network, data.X_val, data.y_val) == nn_core.evaluate(
        without_dropout, data.X_val, data.y_val
    )


def test_label_smoothing_trains_and_keeps_validation_loss_plain():
    data = load_digits_dataset()
    plain, smoothed = train(data, epochs=8), train(data, epochs=8, label_smoothing=0.2)
    assert smoothed.history[-1]["val_acc"] > 0.85
    # The training loss is the smoothed objective: it cannot fall below the target's entropy
    # (0.87 nats for 0.2 over 10 classes); the validation loss is the plain one, as evaluate says.
    assert smoothed.history[-1]["train_loss"] > 0.8 > plain.history[-1]["train_loss"]
    assert smoothed.history[-1]["val_loss"] == nn_core.evaluate(smoothed.network, data.X_val, data.y_val)[0]


def test_a_trained_network_carries_its_activation_and_input_scaling(tmp_path):
    data = load_digits_dataset()
    rng = np.random.default_rng(0)
    network = build_mlp(Architecture([64, 32, 10], activation="relu", pixel_max=data.pixel_max), rng, init="he")
    fit(network, data, TrainingOptions(epochs=5), rng=rng, schedule=make_schedule("constant", 0.1, 5))
    _, accuracy = nn_core.evaluate(network, data.X_test, data.y_test)
    # Raw integer pixels are scaled by the network itself; so are float images in [0, 1].
    assert np.mean(network.predict(data.X_test) == data.y_test) == accuracy
    assert np.array_equal(network.predict(data.X_test / data.pixel_max), network.predict(data.X_test))
    assert network.predict(data.X_test[0]).shape == (1,)  # one image
    with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
        network.predict(data.X_test.astype(float))
    nn_core.save_network(tmp_path / "m.npz", network, data="digits")
    loaded, about = nn_core.load_network(tmp_path / "m.npz")
    assert about["data"] == "digits" and about["activation"] == "relu" and about["pixel_max"] == 16.0
    assert nn_core.evaluate(loaded, data.X_test, data.y_test)[1] == accuracy


def shifted(image, dy, dx):
    """The image moved dy rows down and dx columns right, zeros coming in."""
    out = np.zeros_like(image)
    side = image.shape[0]
    out[max(dy, 0) : side + min(dy, 0), max(dx, 0) : side + min(dx, 0)] = image[
        max(-dy, 0) : side - max(dy, 0), max(-dx, 0) : side - max(dx, 0)
    ]
    return out


@pytest.mark.parametrize("flip", [False, True])
def test_augment_shifts_by_up_to_shift_pixels_and_flips(flip):
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, size=(3, 36), dtype=np.uint8)  # 6x6, no zero pixels
    augment = nn_core.Augment(images, shift=2, flip=flip)
    seen = set()
    for _ in range(200):
        rows = rng.integers(0, 3, size=4)
        for row, out in zip(rows, augment(rows, rng)):
            image = images[row].reshape(6, 6)
            candidates = {
                (dy, dx, mirrored)
                for dy in range(-2, 3)
                for dx in range(-2, 3)
                for mirrored in ([False, True] if flip else [False])
                if np.array_equal(out.reshape(6, 6), shifted(image[:, ::-1] if mirrored else image, dy, dx))
            }
            assert len(candidates) == 1, (row, out)
            seen |= candidates
    assert len(seen) == 25 * (2 if flip else 1)  # every shift (and mirror) happens


def test_a_network_file_that_does_not_fit_together_is_refused_naming_the_layer(tmp_path):
    import json

    rng = np.random.default_rng(0)
    network = build_mlp(Architecture([6, 5, 3]), rng)
    nn_core.save_network(tmp_path / "good.npz", network)
    with np.load(tmp_path / "good.npz") as f:
        arrays = dict(f)
    np.savez(tmp_path / "shapes.npz", **{**arrays, "W2": np.zeros((4, 3), np.float32)})
    np.savez(
        tmp_path / "activation.npz",
        **{**arrays, "architecture": np.array(json.dumps({"sizes": [6, 5, 3], "activation": "swish"}))},
    )
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in arrays.items() if k != "b2"})
    (tmp_path / "text.npz").write_text("not a zip")
    for name, message in (
        ("shapes", r"shapes\.npz: layer 2 has W2 \(4, 3\) and b2 \(3,\); the sizes \[6, 5, 3\] need \(5, 3\)"),
        ("activation", r"activation\.npz: activation 'swish' is not one of sigmoid, tanh, relu"),
        ("missing", r"missing\.npz: layer 2 \(W2, b2\) is missing"),
        ("text", r"text\.npz: not a readable \.npz file"),
    ):
        with pytest.raises(nn_core.DataError, match=message):
            nn_core.load_network(tmp_path / f"{name}.npz")


def test_a_finite_explosion_is_divergence_unless_told_otherwise():
    data = load_digits_dataset()

    def exploding(diverge_factor):
        rng = np.random.default_rng(0)
        network = build_mlp(Architecture([64, 32, 10], pixel_max=data.pixel_max), rng, init_scale=100)
        return fit(
            network,
            data,
            TrainingOptions(epochs=3, diverge_factor=diverge_factor),
            schedule=make_schedule("constant", 1e6, 3),
            rng=rng,
        )

    stopped = exploding(10.0)
    assert stopped.diverged and len(stopped.history) == 1 and np.isfinite(stopped.history[0]["val_loss"])
    let_run = exploding(None)
    assert not let_run.diverged and len(let_run.history) == 3


def test_training_memory_counts_each_optimisers_state_and_the_best_copy():
    architecture = Architecture([784, 64, 10], dropout=0.2, batch_norm=True)
    network = build_mlp(architecture, np.random.default_rng(0))
    # n_parameters: every array the network is made of, batch norm's included
    assert architecture.n_parameters() == sum(a.size for a in network.arrays().values())

    def need(optimizer, dtype=np.float32, keeps_best=False, **settings):
        return nn_core.training_memory(architecture, optimizer, settings, 32, dtype, keeps_best)

    # weights and gradients, and the state each optimiser keeps per weight: none, a velocity, two moments
    assert [need(name).copies for name in ("sgd", "momentum", "adam")] == [2, 3, 4]
    assert need("sgd", keeps_best=True).copies == 3  # early stopping's copy of the best epoch
    assert need("adam", np.float64).bytes == 2 * need("adam").bytes
    assert need("sgd").bytes > need("sgd").copies * architecture.n_parameters() * 4  # and the activations
