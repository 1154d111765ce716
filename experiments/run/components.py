"""A run's components, built from its config: nn_core's Architecture, TrainingOptions,
network, optimiser and schedule (each from its registry), and what they will cost before
any of it is allocated (memory; BLAS threads). The run's story that uses them is
experiments/run/task.py; the checks before it starts use the memory estimate."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

import experiments.run.config_groups  # noqa: F401  (the optimizer and schedule groups)
import nn_core
from experiments.run.config_rules import OPTION_KEYS, ConfigError


def settings(node: DictConfig) -> dict:
    """A config group's settings, without its `name`: what its registry entry is built with."""
    options = OmegaConf.to_container(node, resolve=True)
    options.pop("name")
    return options


def architecture(cfg: DictConfig, data: nn_core.Dataset) -> nn_core.Architecture:
    """The network the config describes, for this data: sizes [n_features, *hidden,
    n_classes] and the data's pixel_max; every other Architecture field (activation,
    dropout, batch_norm, a new layer's switch) from the config key of its name."""
    hidden = OmegaConf.to_object(cfg.hidden) if OmegaConf.is_list(cfg.hidden) else [cfg.hidden]
    switches = {f.name: cfg[f.name] for f in fields(nn_core.Architecture) if f.name not in ("sizes", "pixel_max")}
    return nn_core.Architecture(sizes=(data.n_features, *hidden, data.n_classes), pixel_max=data.pixel_max, **switches)


def training_options(cfg: DictConfig) -> nn_core.TrainingOptions:
    return nn_core.TrainingOptions(
        **{f.name: OmegaConf.select(cfg, OPTION_KEYS.get(f.name, f.name)) for f in fields(nn_core.TrainingOptions)}
    )


def build(cfg: DictConfig, data: nn_core.Dataset):
    """The network, optimiser and schedule a config describes, each from its registry,
    and the generator that shuffles (and draws dropout masks and augmentations)."""
    init_rng, shuffle_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(2))
    network = nn_core.build_mlp(
        architecture(cfg, data), init_rng, init=cfg.init, init_scale=cfg.init_scale, dtype=np.dtype(cfg.dtype).type
    )
    optimizer = nn_core.make_optimizer(cfg.optimizer.name, network.trainable, **settings(cfg.optimizer))
    schedule = nn_core.make_schedule(cfg.schedule.name, cfg.lr, cfg.epochs, **settings(cfg.schedule))
    return network, optimizer, schedule, shuffle_rng


def blas_threads(cfg: DictConfig) -> int:
    """Threads for this run's matrix products: `blas_threads` if set; else, in a
    SLURM job, the cores it was given (reserved for it); else one.

    Why one: measured on 2 cores (docs/performance.md), a second thread makes an
    idle machine's epochs 15-45% shorter but, the moment another process is busy
    on one core, 2-4x longer at every network size tried, while one thread does
    not notice the neighbour. Laptops and shared nodes are rarely idle; and with
    one thread per run, a sweep runs one job per core.
    """
    from hydra.core.hydra_config import HydraConfig

    if cfg.blas_threads:
        return cfg.blas_threads
    launcher = HydraConfig.get().launcher if HydraConfig.initialized() else {}
    if "SlurmLauncher" in launcher.get("_target_", "") and launcher.get("cpus_per_task"):
        return launcher.cpus_per_task
    return 1


def available_memory() -> int:
    """Bytes this process could still allocate: MemAvailable, else physical memory."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def published_shape(cfg: DictConfig):
    """The data set's shape as nn_core.datasets publishes it, before anything is loaded (None
    for a data set whose shape only its files know: checked once loaded)."""
    from nn_core.datasets import DATASETS

    spec = DATASETS.get(cfg.data.name)
    return spec.shape if spec is not None else None


def check_memory_ahead(cfg: DictConfig) -> None:
    """check_memory on the data set's published shape."""
    if published_shape(cfg) is not None:
        check_memory(cfg, published_shape(cfg))


def memory_needed_ahead(cfg: DictConfig) -> int:
    """Bytes training would take on the data set's published shape (0 when unknown)."""
    return memory_needed(cfg, published_shape(cfg)).bytes if published_shape(cfg) is not None else 0


def memory_needed(cfg: DictConfig, data: nn_core.Dataset) -> nn_core.MemoryEstimate:
    """What training takes: its parameters, their gradients, optimiser state and best-epoch
    copy, and what its layers keep for a training batch and an evaluation chunk
    (Architecture.units_kept_per_row)."""
    return nn_core.training_memory(
        architecture(cfg, data), cfg.optimizer.name, settings(cfg.optimizer), cfg.batch_size, cfg.dtype,
        keeps_best=bool(cfg.patience),
    )  # fmt: skip


def check_memory(cfg: DictConfig, data: nn_core.Dataset) -> None:
    """Refuse, before allocating, a network that cannot fit (memory_needed)."""
    need, hidden = memory_needed(cfg, data), list(architecture(cfg, data).sizes[1:-1])
    available = available_memory()
    if need.bytes > 0.9 * available:
        raise ConfigError(
            f"invalid config:\n  hidden={hidden} with batch_size={cfg.batch_size} needs about "
            f"{need.bytes / 2**30:.1f} GiB ({need.n_parameters:,} parameters x {need.copies} copies, and the "
            f"activations); {available / 2**30:.1f} GiB is available. Make hidden or batch_size smaller."
        )
