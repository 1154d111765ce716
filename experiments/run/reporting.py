"""A run's report after each epoch to the sweep that launched it, and the
sweep's verdict: go on, stop for good (the run is pruned: a search judged that
it will not catch up), or pause (successive halving over a grid judges every
configuration at this epoch together; the run is then continued or pruned).

The launcher connects a job to it (`connect`) when its sweeper judges epochs
(a pruner); otherwise `report` answers "go on" at once, and a run never waits.
"""

from __future__ import annotations

import enum

_channel = None  # this process's end of its launcher's pipe, if the sweep judges epochs


class Verdict(str, enum.Enum):
    """A sweep's answer to a run's report of an epoch."""

    GO_ON = "go on"
    PRUNE = "prune"  # stop here for good: status pruned
    PAUSE = "pause"  # stop here, resumable: status paused, until its configuration is judged (sweep/grid/halving.py)


class Pruned(Exception):
    """Raised after the epoch at which the sweep judged the run: it ends with status pruned."""


class Paused(Exception):
    """Raised after the epoch at which the sweep paused the run: it ends with status paused."""


def connect(channel) -> None:
    global _channel
    _channel = channel


def report(epoch: int, row: dict, last: int) -> Verdict:
    """Tell the sweep the epoch's metrics (its metrics.csv row) and the run's last epoch, and
    wait for its verdict."""
    if _channel is None:
        return Verdict.GO_ON
    _channel.send(("epoch", epoch, row, last))
    return Verdict(_channel.recv())


def stop_if_told(verdict: Verdict) -> None:
    """End the run after this epoch if the verdict says so (by raising Pruned or Paused)."""
    if verdict == Verdict.PRUNE:
        raise Pruned()
    if verdict == Verdict.PAUSE:
        raise Paused()
