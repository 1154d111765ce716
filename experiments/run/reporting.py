"""A run's report after each epoch to the sweep that launched it, and the
sweep's verdict: go on, or stop here (the run is pruned: a search judged that
it will not catch up).

The launcher connects a job to it (`connect`) when its sweeper judges epochs
(a search with a pruner); otherwise `report` answers "go on" at once, and a
run never waits.
"""

from __future__ import annotations

_channel = None  # this process's end of its launcher's pipe, if the sweep judges epochs


class Pruned(Exception):
    """Raised after the epoch at which the sweep judged the run: it ends with status pruned."""


def connect(channel) -> None:
    global _channel
    _channel = channel


def report(epoch: int, value: float) -> bool:
    """Tell the sweep the value of the run's objective after `epoch`; True when the run should stop."""
    if _channel is None:
        return False
    _channel.send(("epoch", epoch, value))
    return bool(_channel.recv())
