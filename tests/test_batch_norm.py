"""BatchNorm: what it does in training and in evaluation, against PyTorch's
BatchNorm1d where PyTorch is installed (the gradients are checked against
finite differences in test_gradients.py), and saved and restored with the weights."""

import numpy as np
import pytest

import nn_core
from nn_core import (
    Architecture,
    BatchNorm,
    TrainingOptions,
    build_mlp,
    cross_entropy,
    load_digits_dataset,
    make_schedule,
)


def test_training_normalises_over_the_batch_and_evaluation_uses_the_running_averages():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(64, 5))
    layer = BatchNorm(5, np.float64, momentum=0.5)
    out = layer.forward(x.copy(), train=True)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-4)  # eps = 1e-5 under the square root
    np.testing.assert_allclose(layer.state["mean"], 0.5 * x.mean(axis=0))
    np.testing.assert_allclose(layer.state["var"], 0.5 + 0.5 * x.var(axis=0, ddof=1))
    one = layer.forward(x[:1].copy())  # evaluation: one row alone, scaled by the running averages
    np.testing.assert_allclose(one, (x[:1] - layer.state["mean"]) / np.sqrt(layer.state["var"] + 1e-5))


def test_a_network_with_batch_norm_agrees_with_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    X, y = rng.random((16, 6)), rng.integers(0, 3, size=16)
    network = build_mlp(Architecture([6, 5, 3], activation="relu", batch_norm=True), rng, dtype=np.float64)
    dense1, norm, _, dense2 = network.layers
    norm.params["gamma"][:], norm.params["beta"][:] = rng.normal(size=5), rng.normal(size=5)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5), torch.nn.ReLU(), torch.nn.Linear(5, 3)
    ).double()
    with torch.no_grad():
        for ours, theirs in ((dense1, model[0]), (dense2, model[3])):
            theirs.weight.copy_(torch.from_numpy(ours.params["W"].T))
            theirs.bias.copy_(torch.from_numpy(ours.params["b"]))
        model[1].weight.copy_(torch.from_numpy(norm.params["gamma"]))
        model[1].bias.copy_(torch.from_numpy(norm.params["beta"]))

    loss, dlogits = cross_entropy(network.forward(X, train=True), y)
    network.backward(dlogits)
    theirs = torch.nn.functional.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(y))
    theirs.backward()
    np.testing.assert_allclose(loss, theirs.item(), rtol=1e-14)
    for ours, grad in (
        (dense1.grads["W"], model[0].weight.grad.numpy().T),
        (norm.grads["gamma"], model[1].weight.grad.numpy()),
        (norm.grads["beta"], model[1].bias.grad.numpy()),
        (dense2.grads["W"], model[3].weight.grad.numpy().T),
    ):
        np.testing.assert_allclose(ours, grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(norm.state["mean"], model[1].running_mean.numpy(), rtol=1e-14)
    np.testing.assert_allclose(norm.state["var"], model[1].running_var.numpy(), rtol=1e-14)
    model.eval()
    np.testing.assert_allclose(network.forward(X), model(torch.from_numpy(X)).detach().numpy(), rtol=1e-12, atol=1e-14)


def test_a_saved_network_keeps_its_running_averages(tmp_path):
    data = load_digits_dataset()
    rng = np.random.default_rng(0)
    network = build_mlp(
        Architecture([64, 32, 10], activation="relu", pixel_max=data.pixel_max, batch_norm=True), rng, init="he"
    )
    nn_core.fit(network, data, TrainingOptions(epochs=3), schedule=make_schedule("constant", 0.1, 3), rng=rng)
    assert network.layers[1].state["var"].std() > 0  # the running averages moved
    nn_core.save_network(tmp_path / "model.npz", network)
    loaded, about = nn_core.load_network(tmp_path / "model.npz")
    assert about["batch_norm"] is True and sorted(loaded.arrays()) == sorted(network.arrays())
    np.testing.assert_array_equal(loaded.predict_proba(data.X_test), network.predict_proba(data.X_test))
    assert nn_core.evaluate(loaded, data.X_test, data.y_test)[1] > 0.85

    arrays = dict(np.load(tmp_path / "model.npz"))
    del arrays["var1"]
    np.savez(tmp_path / "broken.npz", **arrays)
    with pytest.raises(nn_core.DataError, match="var1 is missing"):
        nn_core.load_network(tmp_path / "broken.npz")
