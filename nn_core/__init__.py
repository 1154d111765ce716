"""A multilayer perceptron for MNIST written from scratch in NumPy.

    from nn_core import load_dataset, init_params, fit, evaluate
"""

from nn_core.checkpoint import load_params, save_params
from nn_core.datasets import Dataset, load_dataset, load_digits_dataset, load_idx_dataset, scale_pixels
from nn_core.download import DownloadError, download
from nn_core.idx import DataError, load_idx, load_idx_pair
from nn_core.network import ACTIVATIONS, INITS, backward, cross_entropy, forward, init_params, predict
from nn_core.optim import SGD, Adam, learning_rate, make_optimizer
from nn_core.training import FitResult, evaluate, fit, train_epoch

__all__ = [
    "ACTIVATIONS", "INITS", "Adam", "DataError", "Dataset", "DownloadError", "FitResult", "SGD",
    "backward", "cross_entropy", "download", "evaluate", "fit", "forward", "init_params",
    "learning_rate", "load_dataset", "load_digits_dataset", "load_idx", "load_idx_dataset",
    "load_idx_pair", "load_params", "make_optimizer", "predict", "save_params", "scale_pixels",
    "train_epoch",
]
