"""Train one configuration: python -m experiments.train [key=value ...]

Writes into its run directory (runs/<time>/, or one per job under
runs/multirun/<time>/ with -m): metrics.csv, result.json, model.npz,
Hydra's .hydra/ snapshot and train.log. Returns the best validation
accuracy, the objective a Hydra sweeper (e.g. Optuna) maximises.
"""

from __future__ import annotations

import sys

from experiments import signals

if __name__ == "__main__" or sys.argv[0].endswith("mnist-train"):
    signals.hold_interrupts()  # a Ctrl-C while the libraries below load (about a second) waits for cli()

import logging
import math
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import hydra
from hydra.types import RunMode
import numpy as np
from omegaconf import DictConfig, OmegaConf

import experiments.config_groups  # noqa: F401  (the optimizer and schedule groups)
import nn_core
from experiments.config_rules import ConfigError, check_config, flatten
from experiments.run_files import RunFiles, Status, WriteError, epoch_summary, read_result
from experiments.signals import Terminated, sigterm_as_interrupt, signals_held

log = logging.getLogger(__name__)


def blas_threads(cfg: DictConfig) -> int:
    """Threads for this run's matrix products: `blas_threads` if set; else, in a
    SLURM job, the cores it was given (reserved for it); else one.

    Why one: measured on 2 cores (README "Performance"), a second thread makes an
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


def warn_if_preset_misfits(data: nn_core.Dataset) -> None:
    """A preset (+experiment=NAME) tuned for one data set but run on another
    (+experiment=mnist_sample data=digits) gets a warning naming both."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    preset = HydraConfig.get().runtime.choices.get("experiment")
    path = Path(__file__).resolve().parents[1] / "conf" / "experiment" / f"{preset}.yaml"
    if not preset or not path.is_file():
        return
    defaults = OmegaConf.load(path).get("defaults", [])
    tuned_for = next((d["override /data"] for d in defaults if isinstance(d, DictConfig) and "override /data" in d), None)
    if tuned_for and tuned_for != data.name:
        log.warning(
            "+experiment=%s was tuned for data=%s; this run trains on %s (%d training samples), "
            "with the preset's other settings (data.val_size among them) unchanged",
            preset, tuned_for, data.name, len(data.y_train),
        )


def job_prefix() -> str:
    """'job 3: ' in a sweep, so that parallel jobs' log lines can be told apart."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return f"job {HydraConfig.get().job.num}: "
    return ""


@contextmanager
def sweep_said_it_once(job: str):
    """In a sweep's job, keep nn_core.datasets' warnings (the fallback to the bundled
    sample) to the one line the sweep logged before its first job."""
    datasets_log = logging.getLogger("nn_core.datasets")
    level = datasets_log.level
    if job:
        datasets_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        datasets_log.setLevel(level)


def settings(node: DictConfig) -> dict:
    """A config group's settings, without its `name`: what its registry entry is built with."""
    options = OmegaConf.to_container(node, resolve=True)
    options.pop("name")
    return options


def format_epoch(row: dict, epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs}  train_loss {row['train_loss']:.4f}  train_acc {row['train_acc']:.4f}  "
        f"val_loss {row['val_loss']:.4f}  val_acc {row['val_acc']:.4f}  lr {row['lr']:.4g}  {row['epoch_time_s']:.2f}s"
    )


def layer_sizes(cfg: DictConfig, data: nn_core.Dataset) -> list[int]:
    """[n_features, *hidden, n_classes]; `hidden` may be one size or a list."""
    hidden = OmegaConf.to_object(cfg.hidden) if OmegaConf.is_list(cfg.hidden) else [cfg.hidden]
    return [data.n_features, *hidden, data.n_classes]


def optimizer_state_copies(cfg: DictConfig) -> int:
    """Weight-sized arrays the chosen optimiser keeps (velocities, moments),
    counted on a one-weight layer, so a new optimiser needs no entry here."""
    probe = nn_core.Dense(np.zeros((1, 1)), np.zeros(1))
    optimizer = nn_core.make_optimizer(cfg.optimizer.name, [probe], **settings(cfg.optimizer))
    return sum(1 for name in optimizer.state() if name.endswith(".W"))


def available_memory() -> int:
    """Bytes this process could still allocate: MemAvailable, else physical memory."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(cfg: DictConfig, data: nn_core.Dataset) -> None:
    """Refuse, before allocating, a network that cannot fit: its weights, gradients,
    optimiser state and best-epoch copy, and the activations of a training batch
    and an evaluation chunk, against the memory available."""
    sizes = layer_sizes(cfg, data)
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    copies = 2 + optimizer_state_copies(cfg) + (1 if cfg.patience else 0)  # weights, gradients, state, best
    rows = cfg.batch_size + nn_core.training.EVAL_CHUNK
    per_unit = 5 if cfg.batch_norm else 3  # activation copies a row keeps per unit; batch norm keeps x_hat and its output
    needed = np.dtype(cfg.dtype).itemsize * (copies * n_params + per_unit * rows * sum(sizes))
    available = available_memory()
    if needed > 0.9 * available:
        raise ConfigError(
            f"invalid config:\n  hidden={sizes[1:-1]} with batch_size={cfg.batch_size} needs about {needed / 2**30:.1f} GiB ({n_params:,} parameters x {copies} "
            f"copies, and the activations); {available / 2**30:.1f} GiB is available. Make hidden or batch_size smaller."
        )


def build(cfg: DictConfig, data: nn_core.Dataset):
    """The network, optimiser and schedule a config describes, each from its registry."""
    init_rng, shuffle_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(2))
    network = nn_core.build_mlp(
        layer_sizes(cfg, data), init_rng, activation=cfg.activation, init=cfg.init,
        init_scale=cfg.init_scale, dropout=cfg.dropout, batch_norm=cfg.batch_norm, dtype=np.dtype(cfg.dtype).type, pixel_max=data.pixel_max,
    )
    optimizer = nn_core.make_optimizer(cfg.optimizer.name, network.trainable, **settings(cfg.optimizer))
    schedule = nn_core.make_schedule(cfg.schedule.name, cfg.lr, cfg.epochs, **settings(cfg.schedule))
    return network, optimizer, schedule, shuffle_rng


# Keys a resumed run may change: `epochs` may grow; `resume` itself; where and
# how fast it runs, and whether weights are kept, do not change its numbers.
RESUMABLE_CHANGES = {"epochs", "resume", "blas_threads", "save_weights"}


def check_resumable(saved: dict, current: dict, epochs_done: int) -> None:
    """Refuse to continue a run with a config other than the one it started with."""
    old, new = flatten(saved), flatten(current)
    differ = sorted(k for k in old.keys() | new.keys() if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k))
    problems = [f"{k}: the run has {old.get(k)!r}, this resume {new.get(k)!r}" for k in differ]
    if new["epochs"] < epochs_done:
        problems.append(f"epochs={new['epochs']} is fewer than the {epochs_done} the run has already finished")
    if problems:
        raise ConfigError("cannot resume: the config differs from the run's own (resume with its overrides, or none):\n  "
                          + "\n  ".join(problems))


def requeued() -> bool:
    """True in a SLURM job started again after a preemption, a timeout or
    `scontrol requeue`: SLURM runs its script from the start, and the run resumes."""
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0


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

    started = time.perf_counter()
    result = {"status": Status.FAILED, "test_acc": None, "test_loss": None}
    check_config(cfg)  # a bad config is refused before the directory is touched
    hyperparameters = OmegaConf.to_container(cfg, resolve=True)
    saved = None
    resume = cfg.resume or requeued()
    if resume:
        previous = read_result(run_dir)
        if previous and previous.get("status") == Status.COMPLETED:
            log.info("%s: the run has already completed; nothing to resume, nothing changed", run_dir)
            return previous
        if (run_dir / "checkpoint.npz").is_file():
            saved = nn_core.read_checkpoint_info(run_dir / "checkpoint.npz")
            check_resumable(saved["hyperparameters"], hyperparameters, saved["epoch"])
    files = RunFiles(run_dir, resume_epochs=saved["epoch"] if saved else (0 if resume else None))
    history, network, data = list(files.previous_epochs), None, None

    job = job_prefix()

    def on_epoch_end(row):
        with signals_held():  # into metrics.csv and result.json's count together, never one without the other
            files.append_epoch(row)
            history.append(row)
        log.info(job + format_epoch(row, cfg.epochs))
        signals.raise_pending()  # a Ctrl-C that a library swallowed on its way (seen at start-up) ends the run here

    try:
        with sigterm_as_interrupt():
            with sweep_said_it_once(job):
                data = nn_core.load_dataset(cfg.data.name, **settings(cfg.data))
            result["data"] = data.describe()
            log.info(
                "data %s from %s: %d train, %d validation, %d test, %d features",
                data.name, data.source, len(data.y_train), len(data.y_val), len(data.y_test), data.n_features,
            )
            warn_if_preset_misfits(data)
            check_memory(cfg, data)
            result["blas_threads"] = blas_threads(cfg)
            with threadpool_limits(limits=result["blas_threads"]):
                network, optimizer, schedule, rng = build(cfg, data)
                progress = None
                if saved:
                    progress = nn_core.load_checkpoint(files.checkpoint, network, optimizer, rng)
                    log.info("%sresuming after epoch %d of %d from %s", job, progress.epoch, cfg.epochs, files.checkpoint)

                def on_checkpoint(state):
                    with signals_held():  # a stop signal mid-save would leave numpy's zip writer half-built
                        files.save_checkpoint(network, optimizer, rng, state, hyperparameters=hyperparameters)

                fitted = nn_core.fit(
                    network, data, epochs=cfg.epochs, batch_size=cfg.batch_size, schedule=schedule, rng=rng,
                    optimizer=optimizer, patience=cfg.patience, shift=cfg.augment.shift, flip=cfg.augment.flip,
                    label_smoothing=cfg.label_smoothing,
                    on_epoch_end=on_epoch_end, progress=progress, on_checkpoint=on_checkpoint,
                    diverge_factor=cfg.diverge_factor,
                )
                result.update(
                    status=Status.DIVERGED if fitted.diverged else Status.COMPLETED,
                    weights_epoch=fitted.weights_epoch, stopped_early=fitted.stopped_early,
                )
                if fitted.stopped_early:
                    log.info(
                        "early stopping after epoch %d: no lower validation loss for %d epochs; keeping epoch %d's weights",
                        len(history), cfg.patience, fitted.weights_epoch,
                    )
                if not fitted.diverged:
                    # The test set is scored once, after every choice was made on validation.
                    result["test_loss"], result["test_acc"] = nn_core.evaluate(network, data.X_test, data.y_test)
    except KeyboardInterrupt as interrupt:
        result["status"] = Status.INTERRUPTED
        result["signal"] = "SIGTERM" if isinstance(interrupt, Terminated) else "SIGINT"
        signals.pending.clear()
    except SystemExit:  # a scheduler's handler ending the job (submitit, when SLURM preempts it or its time is up)
        result["status"], result["signal"] = Status.INTERRUPTED, "preempted or timed out"
        raise
    except Exception as error:
        if not signals.pending:
            result["error"] = f"{type(error).__name__}: {error}"
            raise
        # The interrupt came out as another error: Ctrl-C inside a compiled module's import is an ImportError.
        result["status"], result["signal"] = Status.INTERRUPTED, signal.Signals(signals.pending[-1]).name
        signals.pending.clear()
    finally:
        with signals_held():  # a second Ctrl-C or SIGTERM waits until the files are whole
            if cfg.save_weights and network is not None and result["status"] in (Status.COMPLETED, Status.INTERRUPTED):
                try:
                    files.save_network(network, data=data.name)
                except WriteError as error:  # recorded, and the run's other files still written
                    result.update(status=Status.FAILED, error=f"WriteError: {error}")
            result.update(epoch_summary(history))
            result["wall_time_s"] = time.perf_counter() - started  # of this session, when resumed
            result["hyperparameters"] = hyperparameters
            files.finish(result)
            if result["status"] in (Status.COMPLETED, Status.DIVERGED):
                files.checkpoint.unlink(missing_ok=True)  # finished: nothing left to resume
    return result


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    # A log file that cannot be written (a full disk) must not print a traceback per line:
    # the run's own error says what happened.
    logging.raiseExceptions = False
    try:
        result = train(cfg, run_dir)
    except KeyboardInterrupt as interrupt:  # it came as the run started, or waited while its files were saved
        if (run_dir / "result.json").is_file():
            log.warning("interrupted while saving; every file in %s is complete", run_dir)
        else:
            log.warning("interrupted as the run started, before its first epoch; nothing was trained (%s)", run_dir)
        raise SystemExit(143 if isinstance(interrupt, Terminated) else 130) from None
    except Exception as error:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            # One failed job must not stop the sweep: its result.json records the
            # error, the sweep's summary lists it, and NaN tells Optuna the trial failed.
            known = (ConfigError, nn_core.DataError, nn_core.DownloadError, WriteError)  # said in a line; others are bugs
            (log.error if isinstance(error, known) else log.exception)("run failed: %s", error)
            return math.nan
        if isinstance(error, (ConfigError, nn_core.DataError, nn_core.DownloadError)):
            log.error("%s", error)  # a user's mistake, not a bug: no traceback
            raise SystemExit(2) from None
        if isinstance(error, WriteError):
            log.error("%s; the run stopped, keeping every complete file it had (status failed)", error)  # the machine's fault
            raise SystemExit(1) from None
        raise
    status = result["status"]
    if status == Status.INTERRUPTED:
        log.warning("interrupted by %s after %d epochs; metrics kept in %s", result["signal"], result["epochs_completed"], run_dir)
        raise SystemExit(143 if result["signal"] == "SIGTERM" else 130)
    if status == Status.DIVERGED:
        log.warning("diverged: in epoch %d the loss became NaN, infinite or more than diverge_factor=%s times "
                    "the untrained network's; see %s", result["epochs_completed"], cfg.diverge_factor, run_dir)
    else:
        log.info("test_acc %.4f  test_loss %.4f  best_val_acc %.4f  (%s)", result["test_acc"], result["test_loss"], result["best_val_acc"], run_dir)
    return result["best_val_acc"] or 0.0


def cli() -> None:
    """The command line (python -m experiments.train, or the mnist-train script)."""
    for flag in ("--shell-completion", "-sc"):  # Hydra answers a bare flag with a traceback
        if flag in sys.argv[1:]:
            following = sys.argv[sys.argv.index(flag) + 1 :]
            if not following or following[0].split("=")[0] not in ("install", "uninstall", "query"):
                print(f"{flag} takes install=SHELL, uninstall=SHELL or query=SHELL (bash, zsh or fish); "
                      f'e.g. eval "$(mnist-train -sc install=bash)"', file=sys.stderr)
                raise SystemExit(2)
    try:
        signals.honour_interrupts()  # one that came during the imports is raised here, before anything started
        main()
    except SystemExit as exit_:
        from experiments import callbacks

        if exit_.code == 1 and not callbacks.hydra_accepted_the_command:
            raise SystemExit(2) from None  # Hydra refused an override or key, having said why: a mistake, not a failure
        if exit_.code in (130, 143):
            exit_interrupted(exit_.code)
        raise
    except KeyboardInterrupt as interrupt:
        # Reaching here: a sweep's launcher (each job has recorded it in its own
        # result.json), or a run stopped before it started (nothing was written).
        sweep = "-m" in sys.argv or "--multirun" in sys.argv
        print("interrupted: " + ("each job's result.json says how far it got" if sweep else "the run had not started"),
              file=sys.stderr)
        code = 143 if isinstance(interrupt, Terminated) else 130
        if sweep:
            raise SystemExit(code) from None  # through the interpreter's exit, which stops joblib's idle workers
        exit_interrupted(code)


def exit_interrupted(code: int) -> None:
    """Exit at once with 130 (Ctrl-C) or 143 (SIGTERM), every file already written. Left to
    the interpreter's shutdown, an interrupt that had landed inside a library's import was
    seen to turn the exit into death by SIGINT (-2)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    cli()
