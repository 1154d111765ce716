"""Run a run again from its own config, and say whether it came out the same.

    python -m experiments.reproduce runs/2026-11-25_10-41-07_123456
    python -m experiments.reproduce runs/multirun/2026-11-25_10-45-00_654321/3_lr=0.1,seed=1 --out again

The run's own overrides (its .hydra/overrides.yaml; a sweep's job has them too)
are run again by experiments.train into a new folder, by default outside the folder
it reproduces, so that a copy never joins a sweep's ranking as one more seed: a
single run's beside it (its name + "_reproduced"), a sweep job's beside the sweep
(SWEEP_reproduced/JOB). Then: identical (metrics.csv but its time column,
model.npz, the test scores), or where the two first differ (the epoch, the
column, both values), and what differs in where they came from (code, library
versions, BLAS threads: result.json's provenance). Exit 0 when identical, 1 when not.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from experiments.run.config_rules import flatten
from experiments.run.exits import ExitCode
from experiments.run.files import RunFolder, Status, load_result
from experiments.run.provenance import CODE_DIFF
from experiments.run.resume import folder_override, saved_run_overrides, shell_word
from experiments.run.sweep_files import MULTIRUN_FILE, SWEEP_FILE
from nn_core import DataError, load_network

TIME_COLUMNS = ("epoch_time_s",)  # how long an epoch took: never the same twice
NOT_RUN_AGAIN = ("hparams_search", "resume")  # how the run was found or continued, not what it computed


def first_difference(first: Path, second: Path) -> str | None:
    """Where two finished runs first differ, in words; None when they are the same."""
    with open(RunFolder(first).metrics_file, newline="") as a, open(RunFolder(second).metrics_file, newline="") as b:
        rows_a, rows_b = list(csv.DictReader(a)), list(csv.DictReader(b))
    for row_a, row_b in zip(rows_a, rows_b):
        for column in row_a:
            if column not in TIME_COLUMNS and row_a[column] != row_b.get(column):
                return f"metrics.csv, epoch {row_a['epoch']}, {column}: {row_a[column]} then {row_b.get(column)}"
    if len(rows_a) != len(rows_b):
        return f"metrics.csv: {len(rows_a)} epochs, then {len(rows_b)}"
    results = load_result(first), load_result(second)
    for score in ("test_acc", "test_loss", "status"):
        if results[0].get(score) != results[1].get(score):
            return f"result.json, {score}: {results[0].get(score)} then {results[1].get(score)}"
    if RunFolder(first).model_file.is_file() != RunFolder(second).model_file.is_file():
        return "model.npz: saved by one run only"
    if RunFolder(first).model_file.is_file():
        with np.load(RunFolder(first).model_file) as a, np.load(RunFolder(second).model_file) as b:
            for name in sorted(set(a.files) | set(b.files)):
                if name not in a.files or name not in b.files or not np.array_equal(a[name], b[name]):
                    return f"model.npz, {name}: not the same array"
    return None


def differences(first: dict, second: dict) -> list[str]:
    """The keys whose values differ between two nested dicts, one line each: "key: a then b"."""
    a, b = flatten(first), flatten(second)
    keys = sorted(a.keys() | b.keys())
    return [f"{key}: {a.get(key)!r} then {b.get(key)!r}" for key in keys if a.get(key) != b.get(key)]


def comparable(provenance: dict) -> dict:
    """A run's provenance as two runs' are compared: the BLAS libraries as a set (threadpoolctl
    lists them in the order they were loaded, which need not be the same twice)."""
    blas = sorted(provenance.get("blas") or [], key=lambda pool: str(sorted(pool.items())))
    return {**provenance, "blas": {pool.get("library") or str(i): pool for i, pool in enumerate(blas)}}


def damaged_record(run_dir: Path, result: dict) -> str | None:
    """What is wrong with the run's own record, checked before it is run again: a model.npz
    that does not load, a code.diff that is not the one its result.json names."""
    if RunFolder(run_dir).model_file.is_file():
        try:
            load_network(RunFolder(run_dir).model_file)
        except DataError as error:
            return str(error)
    code = ((result.get("provenance") or {}).get("code")) or {}
    if code.get("diff_md5"):
        try:
            md5 = hashlib.md5((run_dir / CODE_DIFF).read_bytes()).hexdigest()
        except OSError as error:
            return f"{run_dir / CODE_DIFF}: cannot be read ({error.strerror or error}), and result.json names it"
        if md5 != code["diff_md5"]:
            return (
                f"{run_dir / CODE_DIFF}: its MD5 is {md5}, result.json recorded {code['diff_md5']}: "
                "it was changed after the run, so the code the run ran is not known"
            )
    return None


def saved_config(run_dir: Path) -> dict:
    return OmegaConf.to_container(OmegaConf.load(RunFolder(run_dir).config_file))


def default_copy(run_dir: Path) -> Path:
    """Where a run's copy goes unless told: outside every sweep the run is in (a sweep's
    folder holds its sweep.json or multirun.yaml), so that no comparison of the sweep counts it."""
    run_dir = Path(run_dir)
    sweep = run_dir.parent
    if (sweep / SWEEP_FILE).exists() or (sweep / MULTIRUN_FILE).exists():
        return sweep.with_name(sweep.name + "_reproduced") / run_dir.name
    return run_dir.with_name(run_dir.name + "_reproduced")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run's folder (a single run, or one job of a sweep)")
    parser.add_argument("--out", type=Path, help="where the second run goes (default: RUN_reproduced, or a sweep "
                        "job's SWEEP_reproduced/JOB); must be new")  # fmt: skip
    args = parser.parse_args(argv)
    run_dir, out = args.run, args.out or default_copy(args.run)
    overrides = saved_run_overrides(run_dir)
    if overrides is None:
        record = RunFolder(run_dir).overrides_file.relative_to(run_dir)
        parser.error(f"{run_dir} is not a run's folder: it has no readable {record}")
    try:
        original = load_result(run_dir)
    except (OSError, ValueError) as error:
        parser.error(f"{run_dir} has no readable result.json ({error})")
    if original.get("status") != Status.COMPLETED:
        parser.error(f"{run_dir} did not complete (status {original.get('status')}): there is nothing to compare")
    if out.exists():
        parser.error(f"--out {out} already exists; name a new folder")
    try:
        first_config = saved_config(run_dir)
    except Exception as error:  # missing, or not YAML: OmegaConf raises the YAML parser's own errors
        parser.error(f"{RunFolder(run_dir).config_file} is unreadable ({type(error).__name__}); nothing was run")
    damaged = damaged_record(run_dir, original)
    if damaged:
        parser.error(f"{damaged}; nothing was run")
    again = [o for o in overrides if o.split("=")[0].lstrip("+~") not in NOT_RUN_AGAIN]
    command = [*again, folder_override("hydra.run.dir", out)]
    print(f"running again: python -m experiments.train {' '.join(map(shell_word, command))}", flush=True)
    if subprocess.run([sys.executable, "-m", "experiments.train", *command]).returncode != 0:
        where = f"see {out}" if out.exists() else "it said why above"
        print(f"the second run did not finish: {where}", file=sys.stderr)
        return ExitCode.FAILED
    differs = first_difference(run_dir, out)
    for line in differences(first_config, saved_config(out)):  # the same overrides, other defaults
        if line.split(".")[0].split(":")[0] not in (*NOT_RUN_AGAIN, "logger"):  # resumed, or logged elsewhere
            print(f"config differs: {line}")
    provenances = (comparable(r.get("provenance") or {}) for r in (original, load_result(out)))
    for line in differences(*provenances):
        print(f"provenance differs: {line}")
    if differs is None:
        print(f"identical: {out} has the same metrics.csv (but epoch times), model.npz and test scores as {run_dir}")
        return ExitCode.OK
    print(f"not identical: first difference in {differs}")
    return ExitCode.FAILED


if __name__ == "__main__":
    sys.exit(main())
