"""How a command ends: its exit codes, said once.

0    the run, or every job of the sweep, completed (or diverged: a result, not a fault)
1    a run or some job of a sweep failed; its result.json says why
2    the command asked for something not allowed; one line said what, nothing was started
130  stopped by Ctrl-C (128 + SIGINT); every file written so far is whole
143  stopped by SIGTERM (128 + SIGTERM), the same way
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass

from experiments.run.signals import Terminated


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    INTERRUPTED = 128 + signal.SIGINT
    TERMINATED = 128 + signal.SIGTERM


def for_interrupt(interrupt: BaseException) -> ExitCode:
    """The code of a stop: SIGTERM's (Terminated) or Ctrl-C's (any other KeyboardInterrupt)."""
    return ExitCode.TERMINATED if isinstance(interrupt, Terminated) else ExitCode.INTERRUPTED


def stop_signal(interrupt: BaseException) -> signal.Signals:
    """SIGTERM or SIGINT: the signal an interrupt came from."""
    return signal.Signals(for_interrupt(interrupt) - 128)


def signal_name(interrupt: BaseException) -> str:
    """ "SIGTERM" or "SIGINT": the signal an interrupt came from, as result.json records it."""
    return stop_signal(interrupt).name


def signal_of(code: int) -> signal.Signals | None:
    """The stop signal a process's exit code says it ended by (130: SIGINT, 143: SIGTERM), else None."""
    return signal.Signals(code - 128) if code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED) else None


def for_signal_name(name: str) -> ExitCode:
    """The code of a stop recorded by name in result.json ("SIGTERM", "SIGINT")."""
    return ExitCode.TERMINATED if name == "SIGTERM" else ExitCode.INTERRUPTED


@dataclass
class Command:
    """What the checks learn about the command as it starts, for the entry point to read as
    it ends: Hydra calls the checks (callbacks) and gives them no way to hand anything back.

    Written by experiments.run.checks.RunChecks and experiments.sweep.checks.SweepChecks as
    they start (and left_running by the search); read by experiments.train.cli once Hydra
    returns or raises, and by the sweep's summary. Nothing else writes it."""

    # Hydra exits 1 both when it refuses a command line (a malformed override, an unknown key)
    # and when a run it started fails: an exit 1 before the checks accepted it is a refusal (2).
    accepted: bool = False
    sweep: bool = False  # a sweep or a search: with -m, or a preset that sets it (hparams_search=optuna)
    continue_with: str | None = None  # the command that continues it, where it can be continued
    kept_nowhere: bool = False  # a search whose study is in memory only: it cannot be continued
    # A search whose workers go on after the command returns (on SLURM, hydra.sweeper.wait=false): what
    # they do and how to follow them, said by the search (experiments/sweep/search/sweeper.py) in place of the summary.
    left_running: str | None = None
    # Trials a constrained search did not train, their network's size breaking a limit (sweep/search/loop.py): the
    # summary's account of a launch that trained nothing.
    set_aside: int = 0


command = Command()
