"""An adversary: faults at moments no single test picks (signals at several
instants, kills in a row, damaged records, two writers), each followed by the invariants
every command keeps. Bounded: digits, a few epochs, a timeout on every process.

The invariants (check): no traceback; an exit code from experiments/run/exits.py; no
temporary file left; every result.json readable and agreeing with its metrics.csv;
every run folder of a process that was given the chance to finish its files has a
result.json; and compare reads the folder or says in one line why not."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from experiments.compare import main as compare_main
from experiments.run.exits import ExitCode
from experiments.run.files import SWEEP_LOCK_FILE, folder_in_use
from experiments.sweep.search.study import opened
from helpers import forked_jobs, run_cli
from nn_core.atomic import TEMPORARY_FILES

pytestmark = pytest.mark.slow
EXIT_CODES = {int(code) for code in ExitCode}
FAST = ["data=digits", "hidden=16"]


def start(cwd, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.train", *args], cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def orphans_done(sweep: Path, patience_s: float = 60) -> None:
    """Wait until no process holds the sweep's folder: jobs outlive a SIGKILLed launcher (each in
    its own process group) by the moments they take to record being stopped, files included."""
    deadline = time.monotonic() + patience_s
    while sweep.is_dir() and folder_in_use(sweep, SWEEP_LOCK_FILE) and time.monotonic() < deadline:
        time.sleep(0.05)


def check(folder, output: str, code: int, finished_files=True) -> None:
    assert "Traceback" not in output and "Logging error" not in output, output[-3000:]
    assert code in EXIT_CODES, (code, output[-3000:])
    assert not list(folder.rglob(TEMPORARY_FILES)), list(folder.rglob(TEMPORARY_FILES))
    for metrics in folder.rglob("metrics.csv"):
        result_file = metrics.parent / "result.json"
        if not result_file.is_file():
            assert not finished_files, f"{metrics.parent} has metrics.csv but no result.json"
            continue
        result = json.loads(result_file.read_text())
        rows = len(metrics.read_text().splitlines()) - 1
        assert result["epochs_completed"] == rows, (metrics.parent, result["epochs_completed"], rows)
    try:
        compared = compare_main([str(folder)])
    except SystemExit as exit_:
        compared = exit_.code
    assert compared in (0, 2)


@pytest.mark.parametrize("after_s", [0.05, 0.5, 1.2, 2.0])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_at_any_instant_of_a_run_or_sweep_leaves_whole_files(tmp_path, after_s, signum):
    for args in ([*FAST, "epochs=300", "hydra.run.dir=run"],
                 ["-m", *FAST, "epochs=300", "lr=0.1,0.2,0.3", "hydra.sweep.dir=run"]):  # fmt: skip
        folder = tmp_path / "run"
        proc = start(tmp_path, *args)
        time.sleep(after_s)
        os.killpg(proc.pid, signum)
        output = proc.communicate(timeout=120)[0]
        if folder.exists():
            check(folder, output, proc.returncode)
            again = run_cli("experiments.train", *(["-m"] if args[0] == "-m" else []),
                            f"hydra.{'sweep' if args[0] == '-m' else 'run'}.dir=run", "resume=true",
                            cwd=tmp_path, timeout=300)  # fmt: skip
            check(folder, again.stdout + again.stderr, again.returncode)
            assert again.returncode in (0, 2), again.stdout + again.stderr  # 2: stopped before it had started
        shutil.rmtree(folder, ignore_errors=True)


def test_jobs_killed_again_and_again_then_resumed_end_as_if_never_killed(tmp_path):
    args = ["-m", *FAST, "epochs=200", "lr=0.1,0.2,0.3,0.4", "hydra.sweep.dir=s"]
    proc = start(tmp_path, *args)
    for _ in range(3):  # three jobs killed, one after another, as they train
        deadline = time.monotonic() + 60
        while not (jobs := forked_jobs(proc.pid)):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        time.sleep(0.3)
        for job in jobs[:1]:
            try:
                os.kill(job, signal.SIGKILL)
            except ProcessLookupError:
                pass
    output = proc.communicate(timeout=300)[0]
    check(tmp_path / "s", output, proc.returncode)
    again = run_cli("experiments.train", "-m", "hydra.sweep.dir=s", "resume=true", cwd=tmp_path, timeout=300)
    check(tmp_path / "s", again.stdout + again.stderr, again.returncode)
    results = [json.loads(p.read_text()) for p in (tmp_path / "s").glob("*/result.json")]
    assert len(results) == 4 and all(r["status"] == "completed" and r["epochs_completed"] == 200 for r in results)


def test_a_search_killed_three_times_reaches_its_trials_once_each(tmp_path):
    """SIGKILL to the whole search (the laptop lid) at three moments, resumed each time with the
    command it would have printed: every trial continues or runs once, none lost or told FAIL."""
    search = [*FAST, "hparams_search=optuna", "hydra.sweeper.params=null", "epochs=150", "lr=interval(0.05,0.5)",
              "hydra.sweeper.n_trials=6", "hydra.sweeper.storage=journal://study.log", "hydra.sweep.dir=s",
              "hydra.sweeper.pruner.name=none"]  # fmt: skip
    proc = start(tmp_path, *search)
    for moment in (1.5, 2.5, 2.0):
        time.sleep(moment)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        orphans_done(tmp_path / "s")
        check(tmp_path / "s", "", 0, finished_files=False)  # killed: a run may lack its result.json
        if (tmp_path / "s" / "sweep.json").is_file():  # the command it prints when it can
            proc = start(tmp_path, *shlex.split("-m hydra.sweep.dir=s resume=true"))
        else:  # killed before its checks had claimed the folder: nothing ran, the same command again
            shutil.rmtree(tmp_path / "s", ignore_errors=True)
            proc = start(tmp_path, *search)
    output = proc.communicate(timeout=600)[0]
    check(tmp_path / "s", output, proc.returncode)
    assert proc.returncode == 0, output[-3000:]
    study = optuna.load_study(study_name="mlp", storage=opened(f"journal://{tmp_path / 'study.log'}"))
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 6 and "FAIL" not in states, states


READERS = {  # a reader of a finished run, as a user runs it
    "reproduce": ["experiments.reproduce", "run", "--out", "again"],
    "inspect": ["experiments.inspect", "run"],
    "compare": ["experiments.compare", "run"],
    "resume": ["experiments.train", "hydra.run.dir=run", "resume=true"],
}


@pytest.mark.parametrize(
    "name, content, naming",
    [  # the damaged file, what it holds, and the readers that need it, which must name it
        ("result.json", b"\x00\xff\xfe garbage", {"reproduce", "inspect", "compare", "resume"}),
        ("result.json", b'{"status": "completed", "best_val_acc": "high"}', {"reproduce", "compare"}),
        ("metrics.csv", b"epoch,lr\n\x00\x00\n", {"reproduce", "compare"}),
        ("model.npz", b"PK\x03\x04 cut", {"reproduce", "inspect"}),
        (".hydra/overrides.yaml", b"- [unclosed", {"reproduce"}),
        (".hydra/config.yaml", b": : :", {"reproduce"}),
    ],
)
def test_every_reader_on_a_damaged_file_says_what_is_wrong_in_a_line(tmp_path, name, content, naming):
    """A reader that needs the damaged file names it, without a traceback; one that does not
    need it says exactly what it said of the whole run (its exit code too)."""
    run_cli("experiments.train", *FAST, "epochs=2", "hydra.run.dir=run", cwd=tmp_path, check=0)

    def read(reader: str) -> tuple[int, str]:
        shutil.rmtree(tmp_path / "again", ignore_errors=True)
        proc = run_cli(*READERS[reader], cwd=tmp_path, timeout=300)
        return proc.returncode, re.sub(r"^\[[^]]*\]", "", proc.stdout + proc.stderr, flags=re.MULTILINE)  # no times

    whole = {reader: read(reader) for reader in READERS.keys() - naming}
    (tmp_path / "run" / name).write_bytes(content)
    for reader in READERS:
        code, said = read(reader)
        assert "Traceback" not in said and code in (0, 1, 2), f"{reader} on {name}: {said[-2000:]}"
        if reader in naming:
            assert Path(name).name in said, f"{reader} on a damaged {name} does not name it: {said[-2000:]}"
        else:
            assert (code, said) == whole[reader], f"{reader} does not read {name}, yet it changed what it said"
