"""Adding a concept is one registry entry: the rules, the config groups, the
training and the gradient check pick it up with nothing else changed."""

from numbers import Real

import numpy as np
import pytest
from helpers import assert_gradients_match_finite_differences, composed

import experiments.run.config_groups as config_groups
from experiments.run.config_rules import RULES, ConfigError, check_config
from experiments.run.task import train
from nn_core.constraints import Interval
from nn_core.layers import ACTIVATIONS, ActivationFunction
from nn_core.network import Architecture
from nn_core.optim import OPTIMIZERS, SGD
from nn_core.registry import RegistryEntry, Setting


def softsign(z, out=None):
    return np.divide(z, 1 + np.abs(z), out=out)


def test_a_new_activation_is_one_entry(monkeypatch, tmp_path):
    monkeypatch.setitem(ACTIVATIONS, "softsign", ActivationFunction(softsign, lambda a: (1 - np.abs(a)) ** 2))
    assert "softsign" in str(RULES["activation"])  # named in every error message about activation
    assert_gradients_match_finite_differences(Architecture([5, 6, 5, 4], "softsign", dropout=0.3, batch_norm=True), smoothing=0.1)
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
    monkeypatch.setitem(OPTIMIZERS, "clipped_sgd", RegistryEntry(ClippedSGD, {"clip": clip, "weight_decay": OPTIMIZERS["sgd"].settings["weight_decay"]}))
    config_groups.register()  # what importing experiments.run.config_groups does for the entries in the code
    cfg = composed("data=digits", "epochs=3", "optimizer=clipped_sgd", "optimizer.clip=0.01")
    check_config(cfg)
    with pytest.raises(ConfigError, match=r"optimizer.clip=-1 is not allowed: must be a finite number > 0"):
        check_config(composed("optimizer=clipped_sgd", "optimizer.clip=-1"))
    with pytest.raises(ConfigError, match=r"optimizer.momentum does not apply to optimizer=clipped_sgd \(it takes clip, weight_decay\)"):
        check_config(composed("optimizer=clipped_sgd", "+optimizer.momentum=0.9"))
    result = train(cfg, tmp_path)
    assert result["status"] == "completed" and result["hyperparameters"]["optimizer"] == {"name": "clipped_sgd", "clip": 0.01, "weight_decay": 0.0}
