"""What a run's result.json holds, each field declared once: its type, where it is in the
file, and who reads it. The writers (run/task.py, run/files.py's record_death) set these
keys; every list a reader needs is taken from here: the columns load_runs and compare show,
the ones checked to be numbers, the counts shown as integers, the leaderboard's, and the
final numbers the trackers log. A new result column is one line below (and its writer).
docs/outputs.md says what each means."""

from __future__ import annotations

import enum
from dataclasses import dataclass

TRIAL_KEY = "trial"  # result.json's record of the search trial a run was a seed of (experiments/sweep/search/trials.py)


class TrialState(str, enum.Enum):
    """A search trial's fate, as its seeds' result.json record it (`trial`: experiments/sweep/search/trials.py)."""

    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"


@dataclass(frozen=True)
class ResultField:
    """name : the column's name in load_runs and compare.
    type : what its value is (bool, int, float or str); None is always allowed (not known).
    at : its path in result.json ("data", "n_train": result["data"]["n_train"]); default (name,).
    on_board : a column of the leaderboard (ranked table) and the sweep's end summary.
    final : logged to TensorBoard/MLflow as a final number of the run.
    objective : a number a search may optimise (hydra.sweeper.objective: experiments/sweep/search/objectives.py).
    each_epoch : for an objective, the metrics.csv column that follows it after every epoch (what a
        pruner judges); None when it is known only at the run's end."""

    name: str
    type: type
    at: tuple[str, ...] = ()
    on_board: bool = False
    final: bool = False
    objective: bool = False
    each_epoch: str | None = None

    @property
    def path(self) -> tuple[str, ...]:
        return self.at or (self.name,)

    def read(self, result: dict):
        """Its value in a result.json's contents, None where the file has none."""
        value = result
        for key in self.path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    @property
    def numeric(self) -> bool:
        return self.type in (int, float)


RESULT_FIELDS = (
    ResultField("status", str, on_board=True),  # files.Status: completed, diverged, pruned, interrupted, failed
    ResultField("data_used", str, at=("data", "name")),  # what it trained on, which a fallback may have changed
    ResultField("n_train", int, at=("data", "n_train")),
    # of the epoch of lowest validation loss:
    ResultField("best_val_acc", float, on_board=True, final=True, objective=True, each_epoch="val_acc"),
    ResultField("best_val_loss", float, objective=True, each_epoch="val_loss"),  # the lowest validation loss
    ResultField("final_val_acc", float, on_board=True, final=True, objective=True, each_epoch="val_acc"),
    ResultField("test_acc", float, on_board=True, final=True),
    ResultField("test_loss", float, final=True),
    ResultField("epochs_completed", int, on_board=True, final=True),
    ResultField("best_epoch", int),
    ResultField("stopped_early", bool),
    ResultField("parameters", int, objective=True),  # the network's trainable numbers: its size
    ResultField("wall_time_s", float, on_board=True, objective=True),  # from the run's start to its end
    ResultField("error", str),
    # A search trial's seed: its trial's number and fate, as the search told it (experiments/sweep/search/trials.py)
    ResultField("trial", int, at=(TRIAL_KEY, "number")),
    ResultField("trial_state", str, at=(TRIAL_KEY, "state")),  # TrialState
    ResultField("trial_pruned_at", int, at=(TRIAL_KEY, "pruned_at_epoch")),
    # the hydra.sweeper.constraints its trial broke, by how much ("parameters 101,770 > 50,000 (by 51,770)")
    ResultField("trial_infeasible", str, at=(TRIAL_KEY, "infeasible")),
)
RESULT_COLUMNS = [f.name for f in RESULT_FIELDS]
NUMERIC_RESULTS = [f.name for f in RESULT_FIELDS if f.numeric and not f.at]  # checked where result.json has them
COUNTS = [f.name for f in RESULT_FIELDS if f.type is int]  # shown as 30, not 30.0000
BOARD_COLUMNS = [f.name for f in RESULT_FIELDS if f.on_board]
FINAL_METRICS = [f.name for f in RESULT_FIELDS if f.final]
