"""Checks before a run starts (a Hydra callback, registered in conf/config.yaml):
its config is valid, its data is there, its folder is new or, for resume=true,
an earlier run's. Each refusal is one line and exit 2, before anything is written.
The same checks serve a sweep's jobs (experiments.sweep.checks).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import NoReturn

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from experiments.run import dry_run, exits
from experiments.run.components import check_memory_ahead
from experiments.run.config_rules import ConfigError, check_config
from experiments.run.files import (
    ALREADY_COMPLETED,
    LOCK_FILE,
    METRICS_FILE,
    RESULT_FILE,
    FolderBusy,
    RunFolder,
    completed_result,
    hold_folder,
)
from experiments.run.signals import honour_interrupts, sigterm_as_interrupt
from experiments.run.sweep_files import SWEEP_FILE
from experiments.run.task import checkpoint_to_resume

log = logging.getLogger(__name__)

RUN_FILE = LOCK_FILE  # a run's claim on its directory, created exclusively; then held while the run writes
MADE_FOLDERS = "the run made its folder, from "  # what RUN_FILE holds when the claim created the folder
BUSY = (
    "is being written by another process right now (a run, resume or sweep still going); "
    "nothing was changed. Wait for it to end, or stop it, then try again."
)
RUN_TAKEN = (
    "already holds a run; nothing in it was changed. Leave hydra.run.dir at its "
    "default (a new timestamped folder) or name a new one."
)


def refuse(message: str, *args) -> NoReturn:
    """A mistake in what was asked: one line and exit 2, before anything starts.
    (Hydra turns a callback's exceptions into warnings; only an exit stops it.)"""
    log.error(message, *args)
    raise SystemExit(exits.ExitCode.USAGE)


def check_config_or_refuse(config: DictConfig) -> None:
    """The config rules, then whether the network fits in memory (on the data set's published shape)."""
    try:
        check_config(config)
        check_memory_ahead(config)
    except ConfigError as error:
        refuse("%s", error)


def check_data(data: dict, sweep: bool) -> None:
    """Make sure a data set is there (downloading it once for all jobs), or
    stop the run or sweep with one message before anything starts.

    data : a job's `data` config as a dict, e.g. {"name": "mnist", "root": None, ...}.
    sweep : say here that the jobs will fall back to the sample (a single run says it as it loads).
    """
    import nn_core
    from nn_core.datasets import DATASETS
    from nn_core.idx_sets import DataNotFound, falls_back

    options = dict(data)
    spec = DATASETS.get(options.pop("name"))
    may_fall_back = "fallback" in options and falls_back(**options)
    if spec is None or spec.locate is None or (may_fall_back and not sweep):
        return  # nothing to fetch, or a single run that cannot fail for want of data: it looks once, as it loads
    try:
        with sigterm_as_interrupt():  # a download stopped by SIGTERM cleans up after itself
            spec.locate(**options)
    except DataNotFound as error:
        if not may_fall_back:
            refuse("%s", error)
        log.warning("%s: every job will train on the bundled MNIST sample (data=mnist_sample) instead", error.reason)
    except nn_core.DataError as error:
        refuse("%s", error)


def claim(folder: Path, marker: str, content: str, key: str, taken: str) -> None:
    """Take `folder` by creating folder/marker exclusively, before anything else
    is written there: of two processes racing for one folder exactly one wins,
    and the other is refused with `taken`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / marker, "x") as f:
            f.write(content)
    except FileExistsError:
        refuse("%s=%s %s", key, folder, taken)
    except OSError as error:
        refuse("%s=%s cannot be written: %s", key, folder, error.strerror or error)


ROOM_NEEDED = 64 << 10  # bytes free below which a run or sweep is not started: Hydra's record alone is ~10 kB,
# and Hydra writes it where no check of ours can catch its error (a traceback, half a file)


def check_room(folder: Path, key: str) -> None:
    """Refuse, in one line, to start on a disk that is full (or all but)."""
    existing = next(f for f in (folder, *folder.absolute().parents) if f.exists())
    stats = os.statvfs(existing)
    free = stats.f_bavail * stats.f_frsize
    if free < ROOM_NEEDED:
        refuse("%s=%s: its disk has %d kB free; a run needs at least %d kB (free some, or name a folder on "
               "another disk)", key, folder, free // 1024, ROOM_NEEDED // 1024)  # fmt: skip


def hold_or_refuse(folder: Path, key: str, lock_file: str = LOCK_FILE) -> None:
    """Become the folder's one writer for this process's life, or refuse in one line."""
    try:
        hold_folder(folder, lock_file)
    except FolderBusy:
        refuse("%s=%s %s", key, folder, BUSY)
    except OSError as error:
        refuse("%s=%s cannot be written: %s", key, folder, error.strerror or error)


def withdraw(run_dir: Path, log_file: str) -> None:
    """Take back a run's claim on its folder after a refusal that could only be made
    once the run had started (a data set too small for the validation split asked):
    the folder goes if the claim made it, else what the run wrote into it."""
    try:
        claim_said = (run_dir / RUN_FILE).read_text()
    except OSError:
        return
    if claim_said.startswith(MADE_FOLDERS):
        shutil.rmtree(run_dir, ignore_errors=True)
        made = Path(claim_said.removeprefix(MADE_FOLDERS).strip())
        for parent in run_dir.parents:  # runs/, if the claim made it too and no other run is in it
            if parent == made.parent or not parent.is_relative_to(made):
                break
            try:
                parent.rmdir()
            except OSError:
                break
        return
    shutil.rmtree(RunFolder(run_dir).hydra_dir, ignore_errors=True)
    for name in (log_file, RESULT_FILE, METRICS_FILE, RUN_FILE):
        (run_dir / name).unlink(missing_ok=True)


def check_resumable_or_refuse(run_dir: Path, config: DictConfig) -> None:
    """Refuse, before Hydra rewrites the run's .hydra/ record, to resume a run with another config."""
    from nn_core import DataError

    try:
        checkpoint_to_resume(run_dir, OmegaConf.to_container(task_config(config), resolve=True))
    except ConfigError as error:
        refuse("%s", error)
    except DataError as error:  # a checkpoint cut short (a copy that stopped, a disk that filled)
        refuse("%s; the run cannot go on from it: move it away to train the run again from its first epoch", error)


def task_config(config: DictConfig) -> DictConfig:
    """The task's config as the train function sees it: everything but `hydra`."""
    return OmegaConf.masked_copy(config, [key for key in config if key != "hydra"])


class RunChecks(Callback):
    """A single run is checked before anything is written: its config, its data,
    and its folder (new, or an earlier run's for resume=true)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        honour_interrupts()  # one that came while the process started is raised here
        exits.command.accepted = True
        check_config_or_refuse(task_config(config))
        if config.get("dry_run"):
            dry_run.single_run(
                Path(config.hydra.run.dir), OmegaConf.to_container(config.data, resolve=True), config.resume
            )
        check_data(OmegaConf.to_container(config.data, resolve=True), sweep=False)
        run_dir = Path(config.hydra.run.dir)
        check_room(run_dir, "hydra.run.dir")
        if not config.resume:
            made = [folder for folder in (run_dir, *run_dir.parents) if not folder.exists()]
            claim(
                run_dir, RUN_FILE, f"{MADE_FOLDERS}{made[-1].absolute()}\n" if made else "", "hydra.run.dir", RUN_TAKEN
            )
            hold_or_refuse(run_dir, "hydra.run.dir")
            return
        if not (run_dir / RUN_FILE).is_file():
            sweep = " (it holds a sweep: add -m)" if (run_dir / SWEEP_FILE).is_file() else ""
            refuse("hydra.run.dir=%s holds no run to resume%s; name the folder of an earlier run", run_dir, sweep)
        hold_or_refuse(run_dir, "hydra.run.dir")
        if completed_result(run_dir):
            log.info(ALREADY_COMPLETED, run_dir)
            raise SystemExit(exits.ExitCode.OK)
        check_resumable_or_refuse(run_dir, config)
