"""A multilayer perceptron for MNIST written from scratch in NumPy.

from nn_core import load_dataset, Architecture, build_mlp, make_schedule, fit, evaluate
"""

from nn_core.augment import Augment
from nn_core.checkpoint import load_checkpoint, load_network, read_checkpoint_info, save_checkpoint, save_network
from nn_core.datasets import DATASETS, Dataset, load_dataset, load_digits_dataset, load_idx_dataset
from nn_core.download import DownloadError, download
from nn_core.idx import DataError, load_idx, load_idx_pair
from nn_core.layers import ACTIVATIONS, Activation, BatchNorm, Dense, Dropout
from nn_core.network import INITS, Architecture, Network, assemble, build_mlp, cross_entropy, scale_pixels
from nn_core.optim import OPTIMIZERS, SCHEDULES, SGD, Adam, make_optimizer, make_schedule
from nn_core.training import (
    FitResult,
    MemoryEstimate,
    Progress,
    TrainingOptions,
    evaluate,
    fit,
    train_epoch,
    training_memory,
)

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Adam",
    "Architecture",
    "Augment",
    "BatchNorm",
    "DATASETS",
    "DataError",
    "Dataset",
    "Dense",
    "DownloadError",
    "Dropout",
    "FitResult",
    "INITS",
    "Network",
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "assemble",
    "build_mlp",
    "cross_entropy",
    "download",
    "evaluate",
    "fit",
    "load_dataset",
    "load_digits_dataset",
    "load_idx",
    "load_idx_dataset",
    "load_idx_pair",
    "load_network",
    "load_checkpoint",
    "read_checkpoint_info",
    "save_checkpoint",
    "Progress",
    "TrainingOptions",
    "make_optimizer",
    "make_schedule",
    "save_network",
    "scale_pixels",
    "train_epoch",
    "training_memory",
    "MemoryEstimate",
]
