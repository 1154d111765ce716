"""A sweep's own files in its folder, beside its runs' (run/files.py): sweep.json, its claim on
the folder (a SweepRecord), and multirun.yaml, its whole config. Here, below the sweep, because
resuming a sweep (run/resume.py) reads them as much as the sweep itself (experiments/sweep/)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from experiments.run.files import write_aside

SWEEP_FILE = "sweep.json"  # a sweep's claim on its folder: how many jobs, the command, its overrides
MULTIRUN_FILE = "multirun.yaml"  # a sweep's whole config, saved as Hydra's own sweepers save it
LAUNCHER_OVERRIDES = ("hydra/launcher=", "hydra.launcher.", "+hydra.launcher.")  # where and how a sweep's jobs run


@dataclass(frozen=True)
class SweepRecord:
    """sweep.json, written once, before any job, by the sweep's callback (experiments/sweep/checks.py)."""

    jobs: int  # a grid's jobs, or a search's n_trials
    overrides: list[str]  # the jobs' overrides, resume=true aside
    command: list[str] = field(default_factory=list)  # the command line that launched it (sys.argv)
    sweeper_overrides: list[str] = field(default_factory=list)  # hydra.sweeper.* (a search is not another one)
    launcher_overrides: list[str] = field(default_factory=list)  # hydra/launcher=..., for a resume to run where it ran
    timeout_s: float | None = None  # a search that stops asking after this many seconds

    def to_json(self) -> str:
        fields = asdict(self)
        fields = {"jobs": fields.pop("jobs"), "command": fields.pop("command"), **fields}  # the order it always had
        if self.timeout_s is None:
            del fields["timeout_s"]
        return json.dumps(fields, indent=2)

    @classmethod
    def read(cls, sweep_dir: Path) -> SweepRecord:
        """The sweep.json in `sweep_dir`. Raises OSError when there is none, ValueError naming
        what is wrong when it is not a record of this kind."""
        about = json.loads((Path(sweep_dir) / SWEEP_FILE).read_text())
        if not isinstance(about, dict):
            raise ValueError(f"{SWEEP_FILE}: not a JSON object")
        try:
            record = cls(**about)
        except TypeError as error:  # a key missing, or one it does not have
            raise ValueError(f"{SWEEP_FILE}: {error}") from None
        lists = (record.command, record.overrides, record.sweeper_overrides, record.launcher_overrides)
        if not isinstance(record.jobs, int) or not all(isinstance(x, list) for x in lists):
            raise ValueError(f"{SWEEP_FILE}: jobs must be a number and its overrides lists")
        return record


def read_sweep_record(sweep_dir: Path) -> SweepRecord | None:
    """The sweep's record, or None when it has none or it is unreadable."""
    try:
        return SweepRecord.read(sweep_dir)
    except (OSError, ValueError):
        return None


def saved_launcher_overrides(sweep_dir: Path) -> list[str]:
    """The launcher overrides a sweep was launched with (hydra/launcher=slurm, hydra.launcher.*),
    from its sweep.json, for its resume to run where it ran; [] without them."""
    record = read_sweep_record(sweep_dir)
    return list(record.launcher_overrides) if record else []


def saved_sweep_overrides(sweep_dir: Path) -> list[str] | None:
    """The overrides a sweep was launched with (resume=true aside), the jobs' then the
    sweeper's, from its sweep.json; None without one."""
    record = read_sweep_record(sweep_dir)
    return [*record.overrides, *record.sweeper_overrides] if record else None


def save_sweep_config(config, sweep_dir: Path) -> None:
    """The sweep's multirun.yaml, whole or not at all (Hydra's own sweepers write it in place)."""
    write_aside(Path(sweep_dir) / MULTIRUN_FILE, OmegaConf.to_yaml(config).encode())
