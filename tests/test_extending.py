"""Adding a concept is one entry where it belongs: the rules, the config groups, the
training, saving and the gradient check pick it up with nothing else changed
(docs/extending.md says the same, concept by concept)."""

import dataclasses
import json
from numbers import Real

import numpy as np
import pytest

import experiments.run.config_groups as config_groups
import nn_core
from experiments.run.config_rules import RULES, ConfigError, check_config
from experiments.run.task import train
from helpers import assert_gradients_match_finite_differences, composed
from nn_core.constraints import Interval, constrained, field_constraints
from nn_core.layers import ACTIVATIONS, ActivationFunction
from nn_core.network import Architecture
from nn_core.optim import OPTIMIZERS, SGD
from nn_core.registry import RegistryEntry, Setting


def softsign(z, out=None):
    return np.divide(z, 1 + np.abs(z), out=out)


def test_a_new_activation_is_one_entry(monkeypatch, tmp_path):
    monkeypatch.setitem(ACTIVATIONS, "softsign", ActivationFunction(softsign, lambda a: (1 - np.abs(a)) ** 2))
    assert "softsign" in str(RULES["activation"])  # named in every error message about activation
    assert_gradients_match_finite_differences(
        Architecture([5, 6, 5, 4], "softsign", dropout=0.3, batch_norm=True), smoothing=0.1
    )
    cfg = composed("data=digits", "epochs=3", "activation=softsign")
    check_config(cfg)
    result = train(cfg, tmp_path)
    assert result["status"] == "completed" and result["best_val_acc"] > 0.5


class ClippedSGD(SGD):
    """SGD whose every gradient entry is clipped to [-clip, clip]."""

    def __init__(self, layers, clip=1.0, weight_decay=0.0):
        super().__init__(layers, weight_decay=weight_decay)
        self.clip = clip

    def step(self, layers, lr):
        for layer in layers:
            for grad in layer.grads.values():
                np.clip(grad, -self.clip, self.clip, out=grad)
        super().step(layers, lr)


def test_an_optimizer_with_a_new_setting_is_one_entry(monkeypatch, tmp_path):
    clip = Setting(1.0, Interval(Real, 0, None, closed="neither"), "largest gradient entry")
    monkeypatch.setitem(
        OPTIMIZERS,
        "clipped_sgd",
        RegistryEntry(ClippedSGD, {"clip": clip, "weight_decay": OPTIMIZERS["sgd"].settings["weight_decay"]}),
    )
    config_groups.register()  # what importing experiments.run.config_groups does for the entries in the code
    cfg = composed("data=digits", "epochs=3", "optimizer=clipped_sgd", "optimizer.clip=0.01")
    check_config(cfg)
    with pytest.raises(ConfigError, match=r"optimizer.clip=-1 is not allowed: must be a finite number > 0"):
        check_config(composed("optimizer=clipped_sgd", "optimizer.clip=-1"))
    with pytest.raises(
        ConfigError, match=r"optimizer.momentum does not apply to optimizer=clipped_sgd \(it takes clip, weight_decay\)"
    ):
        check_config(composed("optimizer=clipped_sgd", "+optimizer.momentum=0.9"))
    result = train(cfg, tmp_path)
    assert result["status"] == "completed" and result["hyperparameters"]["optimizer"] == {
        "name": "clipped_sgd",
        "clip": 0.01,
        "weight_decay": 0.0,
    }


class GaussianNoise:
    """Adds Normal(0, sigma^2) noise to each hidden unit in training (a regulariser); nothing in evaluation."""

    params: dict = {}
    kept_per_unit = 1  # the noisy output

    def __init__(self, sigma: float):
        self.sigma = sigma

    def forward(self, x, train=False, rng=None):
        return x + rng.normal(0.0, self.sigma, x.shape).astype(x.dtype) if train else x

    def backward(self, delta):
        return delta


@dataclasses.dataclass(frozen=True)
class NoisyArchitecture(Architecture):
    """What adding the switch to nn_core.network.Architecture is: a field with what it allows,
    and a line in hidden_block."""

    noise: float = constrained(0.0, Interval(Real, 0, None))

    def hidden_block(self, units, dtype=np.float32):
        block = super().hidden_block(units, dtype)
        return block + [GaussianNoise(self.noise)] if self.noise else block


def test_a_new_layer_with_a_config_switch_is_its_class_its_switch_and_its_rule(monkeypatch, tmp_path):
    # The switch in the architecture (here by subclassing, in the code a field of Architecture); the
    # config rules read every field's rule when they are imported (here, after it, by hand):
    monkeypatch.setattr(nn_core, "Architecture", NoisyArchitecture)
    monkeypatch.setitem(RULES, "noise", field_constraints(NoisyArchitecture)["noise"])
    # The gradient check, the memory estimate and the config rules take it with no other change:
    assert_gradients_match_finite_differences(NoisyArchitecture([5, 6, 5, 4], "tanh", noise=0.1))
    plain, noisy = Architecture([784, 128, 10]), NoisyArchitecture([784, 128, 10], noise=0.1)
    assert noisy.units_kept_per_row() == plain.units_kept_per_row() + 128
    with pytest.raises(ConfigError, match=r"noise=-1 is not allowed: must be a finite number >= 0"):
        check_config(composed("data=digits", "+noise=-1"))
    # The command line's task builds, trains and saves it (its key in conf/config.yaml; here added with +):
    cfg = composed("data=digits", "epochs=4", "lr=0.5", "+noise=0.1")
    check_config(cfg)
    result = train(cfg, tmp_path)
    assert result["status"] == "completed" and result["best_val_acc"] > 0.5
    with np.load(tmp_path / "model.npz") as saved:
        assert json.loads(str(saved["architecture"]))["noise"] == 0.1  # the saved network describes itself
    # Loading builds it again, the layer included (the Architecture that has the field reads it back),
    # and the reloaded network scores the test set as the run did:
    monkeypatch.setattr(nn_core.checkpoint, "Architecture", NoisyArchitecture)
    network, _ = nn_core.load_network(tmp_path / "model.npz")
    assert network.architecture.noise == 0.1 and any(isinstance(layer, GaussianNoise) for layer in network.layers)
    data = nn_core.load_dataset("digits", **{k: v for k, v in cfg.data.items() if k != "name"})
    assert nn_core.evaluate(network, data.X_test, data.y_test)[1] == pytest.approx(result["test_acc"], abs=1e-12)
