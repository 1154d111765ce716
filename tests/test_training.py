"""fit: learning, reproducibility, early stopping, divergence."""

import numpy as np

import nn_core
from nn_core import fit, init_params, load_digits_dataset, make_optimizer


def train(data, epochs=5, seed=0, **options):
    rng = np.random.default_rng(seed)
    params = init_params([data.n_features, 32, 10], rng, dtype=options.get("dtype", np.float32))
    return fit(params, data, epochs=epochs, batch_size=32, lr=options.pop("lr", 0.5), rng=rng, **options)


def test_loss_falls_and_accuracy_rises_on_digits():
    result = train(load_digits_dataset(), epochs=8)
    losses = [r["val_loss"] for r in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.history[-1]["val_acc"] > 0.85 and result.status == "completed"


def test_same_seed_same_weights_in_float64():
    data = load_digits_dataset()
    a = train(data, dtype=np.float64, seed=3)
    b = train(data, dtype=np.float64, seed=3)
    assert a.params[0]["W"].dtype == np.float64
    np.testing.assert_array_equal(a.params[0]["W"], b.params[0]["W"])


def test_early_stopping_keeps_the_best_epoch():
    data = load_digits_dataset()
    # A learning rate this large makes the validation loss bounce, so patience runs out.
    result = train(data, epochs=60, lr=8.0, patience=2)
    assert result.stopped_early and len(result.history) < 60
    best = min(result.history, key=lambda r: r["val_loss"])
    assert result.best_epoch == best["epoch"]
    loss, acc = nn_core.evaluate(result.params, data.X_val, data.y_val, pixel_max=data.pixel_max)
    assert abs(loss - best["val_loss"]) < 1e-5 and acc == best["val_acc"]


def test_divergence_is_reported_not_raised():
    data = load_digits_dataset()
    result = train(data, epochs=5, lr=1e38)
    assert result.status == "diverged" and len(result.history) == 1


def test_every_optimizer_and_activation_learns():
    data = load_digits_dataset()
    for optimizer, lr in (("momentum", 0.1), ("nesterov", 0.1), ("adam", 0.01)):
        for activation in ("tanh", "relu"):
            rng = np.random.default_rng(0)
            params = init_params([64, 32, 16, 10], rng, init="he")
            result = fit(params, data, epochs=5, batch_size=32, lr=lr, rng=rng, activation=activation,
                         optimizer=make_optimizer(optimizer, params), schedule="cosine")
            assert result.history[-1]["val_acc"] > 0.85, (optimizer, activation, result.history[-1])
