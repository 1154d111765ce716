"""Ctrl-C (SIGINT) and SIGTERM (what `kill` and schedulers send) end a run the
same orderly way, whenever they arrive.

Hazards of arriving early, while the process starts: an interrupt inside a
compiled module's initialisation can come out as an ImportError, one inside
OmegaConf building Hydra's plugins' configs as an AttributeError (a traceback),
and one inside a library's broad `except` can be swallowed. So the command line
holds Ctrl-C and SIGTERM back from its first import until Hydra has composed
the config and calls the project's checks (`hold_interrupts`, then
`honour_interrupts` in RunChecks and SweepChecks), and every stop signal is also
noted in `pending` until a run has dealt with it: a run checks it between epochs
and when an error ends it.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
pending: list[int] = []  # stop signals raised in this process and not yet dealt with by a run


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where KeyboardInterrupt would be."""


def interrupt_for(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def raise_stop(signum, frame):
    """The handler of a stop signal: note it, then raise it as KeyboardInterrupt (Terminated for SIGTERM)."""
    pending.append(signum)
    raise interrupt_for(signum)


def hold_interrupts() -> None:
    """At start-up, before the imports: a Ctrl-C or SIGTERM waits (in the kernel) until honour_interrupts()."""
    signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))


def handle_stops() -> None:
    """From here on Ctrl-C raises KeyboardInterrupt and SIGTERM Terminated (noted in `pending`).
    One raised where Python cannot raise it (inside a weakref callback of the import system,
    seen when it lands mid-import) is not printed as a traceback: it stays in `pending`, and
    the run raises it at its next check."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, raise_stop)
    sys.unraisablehook = _quiet_about_stops


def _quiet_about_stops(unraisable) -> None:
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and pending:
        return
    sys.__unraisablehook__(unraisable)


def honour_interrupts() -> None:
    """Where the command line held the stop signals back: handle_stops(), and one that came
    meanwhile is raised now. (Elsewhere, as in a test calling the checks, nothing changes.)"""
    held = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, ())  # the mask as it is, unchanged
    if held:
        handle_stops()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, set(STOP_SIGNALS))


def raise_pending() -> None:
    """Raise a stop signal that arrived but was swallowed on its way (by a library's broad except)."""
    if pending:
        raise interrupt_for(pending[-1])


@contextmanager
def sigterm_as_interrupt():
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, raise_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_held(then_raise: bool = True):
    """Ctrl-C and SIGTERM wait until the block ends (a few milliseconds of
    saving), then are raised: a file being written is never cut short by them.
    With then_raise=False they are only noted, in the list the block is given."""
    arrived = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return
    previous = {s: signal.signal(s, lambda signum, frame: arrived.append(signum)) for s in STOP_SIGNALS}
    try:
        yield arrived
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if arrived and then_raise:
        raise interrupt_for(arrived[0])


def ignore_stops() -> None:
    """From here on Ctrl-C and SIGTERM are ignored: a run's outcome is on disk and the
    process only has to exit; a stop now would make its exit code contradict result.json."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
