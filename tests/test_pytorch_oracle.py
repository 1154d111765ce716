"""Training agrees with PyTorch: every layer, activation and optimiser, step by step.

The same network (the same weights, in float64), the same batches and the same dropout
masks: a few SGD steps of nn_core and of torch.nn / torch.optim must end with the same
weights, to about 1e-12; each step is nn_core's training step (plain SGD's weight
gradient folded into its update as in training). The finite-difference test (test_gradients.py) checks each
gradient; this checks the whole step, the optimisers' conventions included. Skips
without PyTorch (CI installs its CPU build).
"""

from __future__ import annotations

import numpy as np
import pytest

import nn_core
from nn_core.layers import BatchNorm, Dense, Dropout
from nn_core.training import train_step

torch = pytest.importorskip("torch")

TORCH_ACTIVATIONS = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}


class FixedMask(torch.nn.Module):
    """Dropout with the mask nn_core drew for this step (already scaled by 1 / (1 - p))."""

    def __init__(self):
        super().__init__()
        self.mask = None

    def forward(self, x):
        return x * self.mask


def torch_twin(network):
    """torch layers with the network's weights: Linear (W transposed), BatchNorm1d, activations, masks."""
    layers = []
    for layer in network.layers:
        if isinstance(layer, Dense):
            linear = torch.nn.Linear(*layer.params["W"].shape, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.params["W"].T.copy()))
                linear.bias.copy_(torch.from_numpy(layer.params["b"].copy()))
            layers.append(linear)
        elif isinstance(layer, BatchNorm):
            layers.append(torch.nn.BatchNorm1d(len(layer.params["gamma"]), dtype=torch.float64))
        elif isinstance(layer, Dropout):
            layers.append(FixedMask())
        else:
            layers.append(TORCH_ACTIVATIONS[layer.name]())
    return torch.nn.Sequential(*layers)


def torch_optimizer(name, model, lr, weight_decay):
    """torch's optimiser with nn_core's conventions: weight decay on Linear weights only."""
    decayed = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    others = [p for p in model.parameters() if all(p is not d for d in decayed)]
    groups = [{"params": decayed, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    return torch.optim.SGD(groups, lr=lr, momentum=0.0 if name == "sgd" else 0.9, nesterov=name == "nesterov")


CASES = [  # activation, hidden, batch_norm, dropout, optimizer, weight decay, label smoothing
    ("sigmoid", [7], False, 0.0, "sgd", 0.0, 0.0),  # the default network, small
    ("relu", [7, 5], False, 0.0, "momentum", 1e-3, 0.0),
    ("tanh", [6], False, 0.0, "nesterov", 1e-3, 0.1),
    ("relu", [7, 5], True, 0.0, "adam", 1e-3, 0.0),
    ("sigmoid", [8, 6], True, 0.3, "momentum", 0.0, 0.05),
    ("tanh", [8], False, 0.25, "adam", 0.0, 0.1),
]


@pytest.mark.parametrize("activation, hidden, batch_norm, dropout, optimizer, weight_decay, smoothing", CASES)
def test_training_steps_agree_with_pytorch(activation, hidden, batch_norm, dropout, optimizer, weight_decay, smoothing):
    rng = np.random.default_rng(7)
    X, y = rng.integers(0, 256, size=(40, 12)).astype(np.uint8), rng.integers(0, 4, size=40)
    architecture = nn_core.Architecture([12, *hidden, 4], activation, dropout, batch_norm, pixel_max=255.0)
    network = nn_core.build_mlp(architecture, rng, init="he", dtype=np.float64)
    model = torch_twin(network)
    settings = {"adam": {}, "sgd": {}}.get(optimizer, {"momentum": 0.9})
    ours = nn_core.make_optimizer(optimizer, network.trainable, weight_decay=weight_decay, **settings)
    theirs = torch_optimizer(optimizer, model, lr=0.05, weight_decay=weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)
    masks = [m for m in model if isinstance(m, FixedMask)]
    for step in range(12):
        batch = rng.permutation(40)[:8]
        X_batch = network.scale(X[batch])
        loss, _ = train_step(network, X_batch, y[batch], ours, 0.05, rng, smoothing)  # as training steps

        drops = [layer for layer in network.layers if isinstance(layer, Dropout)]
        for mask, layer in zip(masks, drops):  # torch uses nn_core's mask: its values are checked here
            assert np.isin(layer.mask, [0.0, 1 / (1 - dropout)]).all() and 0 < layer.mask.mean() < 2
            mask.mask = torch.from_numpy(layer.mask.copy())
        theirs.zero_grad()
        their_loss = loss_fn(model(torch.from_numpy(X_batch)), torch.from_numpy(y[batch]))
        their_loss.backward()
        theirs.step()
        assert loss == pytest.approx(their_loss.item(), rel=1e-12, abs=1e-14), f"step {step}: the loss"

    for i, linear in enumerate(m for m in model if isinstance(m, torch.nn.Linear)):
        dense = [layer for layer in network.layers if isinstance(layer, Dense)][i]
        np.testing.assert_allclose(dense.params["W"], linear.weight.detach().numpy().T, rtol=1e-10, atol=1e-12,
                                   err_msg=f"W{i + 1}")  # fmt: skip
        # A bias that feeds batch norm has a zero gradient (the batch mean takes it away): what both
        # frameworks compute for it is round-off, which Adam scales up to steps of noise.
        if not (batch_norm and i < len(hidden)):
            np.testing.assert_allclose(dense.params["b"], linear.bias.detach().numpy(), rtol=1e-10, atol=1e-12)
    norms = [m for m in model if isinstance(m, torch.nn.BatchNorm1d)]
    for norm, theirs_norm in zip([layer for layer in network.layers if isinstance(layer, BatchNorm)], norms):
        np.testing.assert_allclose(norm.params["gamma"], theirs_norm.weight.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(norm.state["var"], theirs_norm.running_var.numpy(), rtol=1e-10, atol=1e-12)
