"""Train one configuration, or sweep many: python -m experiments.train [-m] [key=value ...]

The process's entry: Hydra's main, stop signals and exit codes
(experiments/run/exits.py). The run itself is experiments/run/task.py; each run
writes into its directory (runs/<time>/, or one per job under
runs/multirun/<time>/ with -m): metrics.csv, result.json, model.npz, Hydra's
.hydra/ snapshot and train.log. Returns the best validation accuracy, the
objective a Hydra sweeper (e.g. Optuna) maximises.
"""

from __future__ import annotations

import sys

from experiments.run import signals

if __name__ == "__main__" or sys.argv[0].endswith("mnist-train"):
    signals.hold_interrupts()  # a Ctrl-C from here until the config is composed waits (run/signals.py)

import logging
import os
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.types import RunMode
from omegaconf import DictConfig

import nn_core
from experiments.run import command_line, exits, resume
from experiments.run.checks import withdraw
from experiments.run.config_groups import config_dir
from experiments.run.config_rules import ConfigError
from experiments.run.exits import ExitCode
from experiments.run.files import FolderBusy, RunFolder, Status, WriteError, completed_result, objective
from experiments.run.task import job_prefix, train

log = logging.getLogger(__name__)

# Errors that are the user's mistake (a config, data that is not there or not
# valid) or the machine's (a file that cannot be written): said in one line.
# Anything else is a bug, and gets its traceback.
SAID_IN_A_LINE = (ConfigError, nn_core.DataError, nn_core.DownloadError, WriteError, FolderBusy)


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    # A log file that cannot be written (a full disk) must not print a traceback per line:
    # the run's own error says what happened.
    logging.raiseExceptions = False
    try:
        result = train(cfg, run_dir)
    except KeyboardInterrupt as interrupt:  # it came as the run started, or as it ended
        result = completed_result(run_dir)
        if result is None:
            stopped_outside_epochs(run_dir, interrupt)
        log.info("%s came as the run finished; it stands as completed", exits.signal_name(interrupt))
    except Exception as error:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            # Raised on to Hydra, which makes the job's JobReturn FAILED with this error
            # (what every sweeper reads); its result.json records it too.
            (log.error if isinstance(error, SAID_IN_A_LINE) else log.exception)("%srun failed: %s", job_prefix(), error)
            raise
        if isinstance(error, WriteError):  # the machine's fault
            log.error("%s; the run stopped, keeping every complete file it had (status failed)", error)
            raise SystemExit(ExitCode.FAILED) from None
        if isinstance(error, SAID_IN_A_LINE):
            log.error("%s", error)  # a user's mistake, not a bug: no traceback
            if not cfg.resume:  # refused, if only once it had started: it leaves nothing behind
                withdraw(run_dir, f"{hydra_cfg.job.name}.log")
            raise SystemExit(ExitCode.USAGE) from None
        raise
    signals.ignore_stops()  # result.json says how the run ended; the exit code must agree
    return how_it_ended(result, cfg, run_dir, single=hydra_cfg.mode == RunMode.RUN)


def how_it_ended(result: dict, cfg: DictConfig, run_dir: Path, single: bool) -> float:
    """The run's last line, from its result: how it ended; its objective, what the sweep that
    ran it gets (an interrupted run exits instead, with its signal's code)."""
    status = result["status"]
    if status == Status.INTERRUPTED:
        go_on = f"; to go on: {resume.continue_command(run_dir, sweep=False)}" if single else ""
        log.warning(
            "%sinterrupted by %s after %d epochs; metrics kept in %s%s",
            job_prefix(),
            result["signal"],
            result["epochs_completed"],
            run_dir,
            go_on,
        )
        raise SystemExit(exits.for_signal_name(result["signal"]))
    if status in (Status.PRUNED, Status.PAUSED):
        return objective(result)  # the sweep that stopped it knows; RunRecord said so
    if status == Status.DIVERGED:
        log.warning(
            "%sdiverged: in epoch %d the loss became NaN, infinite or more than diverge_factor=%s times "
            "the untrained network's; see %s",
            job_prefix(),
            result["epochs_completed"],
            cfg.diverge_factor,
            run_dir,
        )
    else:
        log.info(
            "%stest_acc %.4f  test_loss %.4f  best_val_acc %.4f  (%s)",
            job_prefix(),
            result["test_acc"],
            result["test_loss"],
            result["best_val_acc"],
            run_dir,
        )
    return objective(result)


def stopped_outside_epochs(run_dir: Path, interrupt: KeyboardInterrupt) -> NoReturn:
    """Exit 130 or 143 for a stop that came as the run started, or while its files were saved."""
    if RunFolder(run_dir).result_file.is_file():
        log.warning("interrupted while saving; every file in %s is complete", run_dir)
    else:
        log.warning("interrupted as the run started, before its first epoch; nothing was trained (%s)", run_dir)
    raise SystemExit(exits.for_interrupt(interrupt)) from None


def cli() -> None:
    """The command line (python -m experiments.train, or the mnist-train script)."""
    for flag in ("--shell-completion", "-sc"):  # Hydra answers a bare flag with a traceback
        if flag in sys.argv[1:]:
            following = sys.argv[sys.argv.index(flag) + 1 :]
            if not following or following[0].split("=")[0] not in ("install", "uninstall", "query"):
                print(
                    f"{flag} takes install=SHELL, uninstall=SHELL or query=SHELL (bash, zsh or fish); "
                    f'e.g. eval "$(mnist-train -sc install=bash)"',
                    file=sys.stderr,
                )
                raise SystemExit(ExitCode.USAGE)
    problem = command_line.problem_with(sys.argv[1:])  # the usual slips, said as what to type
    if problem:
        print(problem, file=sys.stderr)
        raise SystemExit(ExitCode.USAGE)
    sys.argv[1:] = resume.with_saved_overrides(sys.argv[1:])  # resume=true: the run's or sweep's own overrides
    signals.hold_interrupts()  # (already, when started as a command) until the checks honour them
    try:
        main()  # the project's checks honour stop signals once Hydra has composed the config
    except SystemExit as exit_:
        if exit_.code == ExitCode.FAILED and not exits.command.accepted:
            raise SystemExit(ExitCode.USAGE) from None  # Hydra refused an override or key, having said why
        if exit_.code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
            exit_interrupted(exit_.code)
        raise
    except KeyboardInterrupt as interrupt:
        # Reaching here: a sweep's launcher (each job has recorded it in its own
        # result.json), or a run stopped before it started (nothing was written).
        sweep = exits.command.sweep or "-m" in sys.argv or "--multirun" in sys.argv
        said = "each job's result.json says how far it got" if sweep else "the run had not started"
        if sweep and exits.command.continue_with:
            said += f"; to go on: {exits.command.continue_with}"
        elif sweep and exits.command.kept_nowhere:
            said += "; its study was kept nowhere (no hydra.sweeper.storage), so it cannot go on"
        elif sweep:
            said = "the sweep had not started its jobs; nothing was written"
        print(f"interrupted: {said}", file=sys.stderr)
        if sweep:
            raise SystemExit(
                exits.for_interrupt(interrupt)
            ) from None  # through the interpreter's exit, which stops joblib's idle workers
        exit_interrupted(exits.for_interrupt(interrupt))


def exit_interrupted(code: int) -> None:
    """Exit at once with 130 (Ctrl-C) or 143 (SIGTERM), every file already written. Left to
    the interpreter's shutdown, an interrupt that had landed inside a library's import was
    seen to turn the exit into death by SIGINT (-2)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


if __name__ == "__main__":
    cli()
