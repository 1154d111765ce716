"""One configuration, trained: the story of a run, from its config to its files.

    train(cfg, run_dir): check, load the data, build, fit, score, save

Writes into run_dir, through experiments.run.files.RunFiles: metrics.csv (a
row per epoch as it ends), checkpoint.npz (until the run completes), model.npz
and result.json (last). What ends a run (completed, diverged, interrupted,
failed) is recorded by RunRecord, whatever it was. The process around it (Hydra,
signals, exit codes) is experiments/train.py.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

import experiments.run.config_groups  # noqa: F401  (the optimizer and schedule groups)
import nn_core
from experiments.run import exits, provenance, reporting, signals
from experiments.run.components import blas_threads, build, check_memory, settings, training_options
from experiments.run.config_rules import check_config, check_resumable
from experiments.run.files import (
    ALREADY_COMPLETED,
    RunFiles,
    RunFolder,
    Status,
    WriteError,
    completed_result,
    epoch_summary,
    hold_folder,
    load_result,
)
from experiments.run.loggers import Loggers
from experiments.run.signals import signals_held, sigterm_as_interrupt

log = logging.getLogger(__name__)


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Run one configuration into run_dir and return the contents of result.json.

    Ctrl-C or SIGTERM at any point ends with status "interrupted", keeping the
    epochs already in metrics.csv and the weights as they were; any other
    error is recorded as status "failed" and raised again. A checkpoint after
    every epoch lets resume=true continue an interrupted, failed or killed run
    exactly where it stopped (a requeued SLURM job does so by itself); a
    completed run is left as it is.
    """
    from threadpoolctl import threadpool_limits

    check_config(cfg)  # a bad config is refused before the directory is touched
    hyperparameters = OmegaConf.to_container(cfg, resolve=True)
    resume = cfg.resume or requeued()
    if resume and (done := completed_result(run_dir)):
        log.info(ALREADY_COMPLETED, run_dir)
        return done
    if resume and (damaged := unreadable_result(run_dir)):
        log.warning("%s%s: resumed as a run that did not finish", job_prefix(), damaged)
    run_dir.mkdir(parents=True, exist_ok=True)
    hold_folder(run_dir)  # one writer: a single run holds it from its checks on; a sweep's job from here
    saved = checkpoint_to_resume(run_dir, hyperparameters) if resume else None
    files = RunFiles(run_dir, resume_epochs=saved["epoch"] if saved else (0 if resume else None))
    with RunRecord(files, cfg, hyperparameters) as run:
        data = run.data = load_data(cfg)
        run.result["data"] = data.describe()
        check_memory(cfg, data)
        run.result["blas_threads"] = blas_threads(cfg)
        with threadpool_limits(limits=run.result["blas_threads"]):
            run.result["provenance"] = provenance.record(files.dir)
            network, optimizer, schedule, rng = build(cfg, data)
            run.network = network
            run.result["parameters"] = sum(p.size for layer in network.layers for p in layer.params.values())
            progress = None
            if saved:
                progress = nn_core.load_checkpoint(files.checkpoint, network, optimizer, rng)
                log.info(
                    "%sresuming after epoch %d of %d from %s", run.job, progress.epoch, cfg.epochs, files.checkpoint
                )
            fitted = nn_core.fit(
                network,
                data,
                training_options(cfg),
                schedule=schedule,
                rng=rng,
                optimizer=optimizer,
                progress=progress,
                on_epoch_end=run.record_epoch,
                on_checkpoint=lambda state: run.save_checkpoint(optimizer, rng, state),
            )
            run.fitted(fitted)
            if not fitted.diverged:
                # The test set is scored once, after every choice was made on validation.
                run.result["test_loss"], run.result["test_acc"] = nn_core.evaluate(network, data.X_test, data.y_test)
    return run.result


# -- what a run is made of --------------------------------------------------------------------------


def load_data(cfg: DictConfig) -> nn_core.Dataset:
    with data_warnings_said(bool(job_prefix())):
        data = nn_core.load_dataset(cfg.data.name, **settings(cfg.data))
    log.info(
        "%sdata %s from %s: %d train, %d validation, %d test, %d features",
        job_prefix(),
        data.name,
        data.source,
        len(data.y_train),
        len(data.y_val),
        len(data.y_test),
        data.n_features,
    )
    warn_if_preset_misfits(data)
    return data


# -- resuming ---------------------------------------------------------------------------------------


def requeued() -> bool:
    """True in a SLURM job started again after a preemption, a timeout or
    `scontrol requeue`: SLURM runs its script from the start, and the run resumes."""
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0


def checkpoint_to_resume(run_dir: Path, hyperparameters: dict) -> dict | None:
    """The scalars of the run's checkpoint, once its config is known to match; None without one."""
    checkpoint = RunFolder(run_dir).checkpoint_file
    if not checkpoint.is_file():
        return None
    saved = nn_core.read_checkpoint_info(checkpoint)
    check_resumable(saved["hyperparameters"], hyperparameters, saved["epoch"])
    return saved


# -- the run's record, whatever ends it -------------------------------------------------------------


class RunRecord:
    """A run's files as it goes, and its outcome, whatever ends it: `with
    RunRecord(...) as run:` around the work. Each finished epoch goes into
    metrics.csv and the run's history together; at the end, however it came
    (completed, diverged, Ctrl-C, SIGTERM, a scheduler's exit, an error), the
    weights (if kept) and result.json are written, under held signals.
    """

    def __init__(self, files: RunFiles, cfg: DictConfig, hyperparameters: dict):
        self.files, self.cfg, self.hyperparameters = files, cfg, hyperparameters
        self.history = list(files.previous_epochs)
        self.result = {"status": Status.FAILED, "test_acc": None, "test_loss": None}
        self.pause_after_checkpoint = False  # a sweep paused it at this epoch (successive halving)
        self.network = self.data = None
        self.job = job_prefix()
        self.started = time.perf_counter()
        self.loggers = Loggers(cfg, files.dir, hyperparameters, self.job)  # TensorBoard, MLflow: if asked

    def record_epoch(self, row: dict) -> None:
        with signals_held():  # into metrics.csv and result.json's count together, never one without the other
            self.files.append_epoch(row)
            self.history.append(row)
        log.info(self.job + format_epoch(row, self.cfg.epochs))
        self.loggers.epoch(row)
        signals.raise_pending()  # a Ctrl-C that a library swallowed on its way (seen at start-up) ends the run here
        verdict = reporting.report(row["epoch"], row, self.cfg.epochs)
        if verdict == reporting.Verdict.PAUSE:  # after this epoch's checkpoint: resumed, it goes on from this epoch
            self.pause_after_checkpoint = True
        else:
            reporting.stop_if_told(verdict)

    def save_checkpoint(self, optimizer, rng, progress) -> None:
        with signals_held():  # a stop signal mid-save would leave numpy's zip writer half-built
            self.files.save_checkpoint(self.network, optimizer, rng, progress, hyperparameters=self.hyperparameters)
        if self.pause_after_checkpoint:
            raise reporting.Paused()

    def fitted(self, fitted: nn_core.FitResult) -> None:
        self.result.update(
            status=Status.DIVERGED if fitted.diverged else Status.COMPLETED,
            weights_epoch=fitted.weights_epoch,
            stopped_early=fitted.stopped_early,
        )
        if fitted.stopped_early:
            log.info(
                "early stopping after epoch %d: no lower validation loss for %d epochs; keeping epoch %d's weights",
                len(self.history),
                self.cfg.patience,
                fitted.weights_epoch,
            )

    def __enter__(self) -> RunRecord:
        self._sigterm = sigterm_as_interrupt()
        self._sigterm.__enter__()
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        self._sigterm.__exit__(kind, error, traceback)
        if error is not None:
            self.ended_by(error)
        # A (second) Ctrl-C or SIGTERM waits until the files are whole; one that comes as a
        # finished run saves changes nothing: the run is over, and its files say how it ended.
        with signals_held(then_raise=error is not None) as arrived:
            self.finish()
        if arrived and error is None:
            log.info("%s came as the run finished; its files are whole", signal.Signals(arrived[0]).name)
        return isinstance(error, (KeyboardInterrupt, reporting.Pruned, reporting.Paused)) or (
            isinstance(error, Exception) and "error" not in self.result
        )

    def ended_by(self, error: BaseException) -> None:
        """What an exception that ended the run means for its status."""
        if isinstance(error, reporting.Pruned):
            self.result.update(status=Status.PRUNED, weights_epoch=len(self.history))
            log.info("%spruned after epoch %d: the search judged it would not catch up", self.job, len(self.history))
        elif isinstance(error, reporting.Paused):
            self.result.update(status=Status.PAUSED, weights_epoch=len(self.history))
            log.info("%spaused after epoch %d, for successive halving to judge every configuration there",
                     self.job, len(self.history))  # fmt: skip
        elif isinstance(error, KeyboardInterrupt):
            self.result.update(status=Status.INTERRUPTED, signal=exits.signal_name(error))
        elif isinstance(error, SystemExit):
            # a scheduler's handler ending the job (submitit: SLURM preempts it or its time is up)
            self.result.update(status=Status.INTERRUPTED, signal="preempted or timed out")
        elif signals.pending:
            # the interrupt came out as another error: Ctrl-C inside a compiled module's import is an ImportError
            self.result.update(status=Status.INTERRUPTED, signal=signal.Signals(signals.pending[-1]).name)
        else:
            self.result["error"] = f"{type(error).__name__}: {error}"
        if self.result["status"] == Status.INTERRUPTED:
            signals.pending.clear()

    def finish(self) -> None:
        result, files = self.result, self.files
        if (
            self.cfg.save_weights
            and self.network is not None
            and result["status"] in (Status.COMPLETED, Status.INTERRUPTED, Status.PAUSED, Status.PRUNED)
        ):
            try:
                files.save_network(self.network, data=self.data.name)
            except WriteError as error:  # recorded, and the run's other files still written
                result.update(status=Status.FAILED, error=f"WriteError: {error}")
        result.update(epoch_summary(self.history))
        result["wall_time_s"] = time.perf_counter() - self.started  # of this session, when resumed
        result["process_time_s"] = time.process_time()  # CPU of the process: from its start, or a sweep job's fork
        result["hyperparameters"] = self.hyperparameters
        self.loggers.end(result)  # adds result["loggers"]: which logged, which failed and why
        files.finish(result)
        if result["status"] in (Status.COMPLETED, Status.DIVERGED, Status.PRUNED):
            files.checkpoint.unlink(missing_ok=True)  # finished: nothing left to resume


# -- what it says as it goes ------------------------------------------------------------------------


def unreadable_result(run_dir: Path) -> str | None:
    """'RUN/result.json is unreadable (why)' for a result.json there but damaged, else None."""
    try:
        load_result(run_dir)
    except FileNotFoundError:
        return None
    except ValueError as error:
        return f"{RunFolder(run_dir).result_file} is unreadable ({error})"
    return None


def job_prefix() -> str:
    """'job 3: ' in a sweep, so that parallel jobs' log lines can be told apart."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return f"job {HydraConfig.get().job.num}: "
    return ""


@contextmanager
def data_warnings_said(said: bool = True):
    """nn_core.datasets' warnings (the fallback to the bundled sample) held back in the block
    when `said`: a sweep logs them once, before its first job, and neither its loading ahead
    (experiments/sweep/checks.py) nor each job says them again."""
    datasets_log = logging.getLogger("nn_core.datasets")
    level = datasets_log.level
    if said:
        datasets_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        datasets_log.setLevel(level)


def warn_if_preset_misfits(data: nn_core.Dataset) -> None:
    """A preset (+experiment=NAME) tuned for one data set but run on another
    (+experiment=mnist_sample data=digits) gets a warning naming both."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    preset = HydraConfig.get().runtime.choices.get("experiment")
    path = experiments.run.config_groups.config_dir() / "experiment" / f"{preset}.yaml"
    if not preset or not path.is_file():
        return
    defaults = OmegaConf.load(path).get("defaults", [])
    tuned_for = next(
        (d["override /data"] for d in defaults if isinstance(d, DictConfig) and "override /data" in d), None
    )
    if tuned_for and tuned_for != data.name:
        log.warning(
            "+experiment=%s was tuned for data=%s; this run trains on %s (%d training samples), "
            "with the preset's other settings (data.val_size among them) unchanged",
            preset,
            tuned_for,
            data.name,
            len(data.y_train),
        )


def format_epoch(row: dict, epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs}  train_loss {row['train_loss']:.4f}  train_acc {row['train_acc']:.4f}  "
        f"val_loss {row['val_loss']:.4f}  val_acc {row['val_acc']:.4f}  lr {row['lr']:.4g}  {row['epoch_time_s']:.2f}s"
    )
