"""A search's study is data, kept like a run's files (experiments/sweep/search/study.py): no full
disk, killed writer, second launch or changed setting loses a trial or makes the study
unreadable. Faults are injected for real: a small tmpfs, real signals, two real launches."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shlex
import signal
import subprocess
import sys
import time

import optuna
import pytest

from experiments.sweep.search.objectives import OBJECTIVES, VALIDATION_ACCURACY
from experiments.sweep.search.space import Space
from experiments.sweep.search.study import SearchError, definition, file_lock, open_study, opened
from helpers import run_cli, small_filesystem

SEARCH = ["experiments.train", "hparams_search=optuna", "data=digits", "hidden=16", "hydra.sweeper.params=null",
          "hydra.sweeper.pruner.name=none"]  # fmt: skip
SPACE = Space({"x": optuna.distributions.FloatDistribution(0, 1)}, {})


def add_trials(study, n):
    """Ask and tell n trials, as the search does."""
    for _ in range(n):
        trial = SPACE.ask(study)
        study.tell(trial, trial.params["x"])


def plain_optuna(path):
    """The study as Optuna's own journal backend reads it, as any other client would."""
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    return optuna.load_study(study_name="s", storage=storage)


@pytest.fixture
def small_disk(tmp_path):
    with small_filesystem(tmp_path / "disk", "64k") as disk:
        yield disk


def fill(disk, leave=300):
    """Fill `disk` but for about `leave` bytes."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    (disk / "filler").write_bytes(b"x" * max(0, free - leave))


def test_a_journal_record_cut_short_is_removed_keeping_every_whole_one(tmp_path, caplog):
    storage = f"journal://{tmp_path / 'study.log'}"
    add_trials(open_study("s", storage, definition(VALIDATION_ACCURACY, "tpe", SPACE)), 3)
    with open(tmp_path / "study.log", "ab") as f:
        f.write(b'{"op_code":5,"worker_id":"a-killed-wri')  # a process killed as it wrote
    with caplog.at_level(logging.WARNING):
        study = open_study("s", storage, definition(VALIDATION_ACCURACY, "tpe", SPACE))
    assert "its last record was cut short (38 bytes" in caplog.text
    assert len(study.trials) == 3
    add_trials(study, 1)  # the next record starts on a line of its own
    assert len(plain_optuna(tmp_path / "study.log").trials) == 4


def test_a_journal_write_that_fills_the_disk_is_taken_back(small_disk):
    storage = f"journal://{small_disk / 'study.log'}"
    study = open_study("s", storage, definition(VALIDATION_ACCURACY, "tpe", SPACE))
    add_trials(study, 2)
    fill(small_disk)
    with pytest.raises(OSError, match="No space left on device"):
        add_trials(study, 50)
    assert (small_disk / "study.log").read_bytes().endswith(b"\n")  # whole records only
    told = len(plain_optuna(small_disk / "study.log").trials)
    (small_disk / "filler").unlink()  # space freed: the study goes on where it was
    add_trials(open_study("s", storage, definition(VALIDATION_ACCURACY, "tpe", SPACE)), 1)
    assert len(plain_optuna(small_disk / "study.log").trials) == told + 1


def test_a_journal_damaged_in_the_middle_is_refused_naming_the_line(tmp_path):
    storage = f"journal://{tmp_path / 'study.log'}"
    add_trials(open_study("s", storage, definition(VALIDATION_ACCURACY, "tpe", SPACE)), 2)
    lines = (tmp_path / "study.log").read_bytes().splitlines(keepends=True)
    (tmp_path / "study.log").write_bytes(b"".join([*lines[:3], b"garbage\n", *lines[3:]]))
    with pytest.raises(SearchError, match=r"study\.log, line 4, is not a whole record.*head -n 3"):
        open_study("s", storage, definition(VALIDATION_ACCURACY, "tpe", SPACE))


def count_under_the_lock(lock, counter, times: int) -> None:
    """Add 1 to the number in `counter` `times` times, reading and writing it apart, under file_lock."""
    for _ in range(times):
        with file_lock(lock):
            value = int(counter.read_text())
            time.sleep(0.001)  # another process that got in now would write the same value
            counter.write_text(str(value + 1))


def test_the_storages_lock_lets_one_process_in_at_a_time_and_leaves_no_file(tmp_path):
    """The flock beside a SQLite or journal file, which its holder removes as it lets go: four
    processes counting through it lose no count, and no lock file stays beside the storage."""
    lock, counter = tmp_path / ".search.db.opening", tmp_path / "count"
    counter.write_text("0")
    workers = [multiprocessing.get_context("fork").Process(target=count_under_the_lock, args=(lock, counter, 50))
               for _ in range(4)]  # fmt: skip
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0] * 4 and counter.read_text() == "200"
    assert not lock.exists()


def test_a_study_remembers_what_defines_it_and_refuses_a_launch_that_differs(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    open_study("s", storage, definition(VALIDATION_ACCURACY, "tpe", SPACE))
    other = Space({"x": optuna.distributions.FloatDistribution(0, 2)}, {})
    with pytest.raises(SearchError) as refused:
        open_study("s", storage, definition([(OBJECTIVES["best_val_loss"], "minimize")], "random", other))
    said = str(refused.value)
    assert "direction: the study has maximize, this launch minimize" in said
    assert "objective: the study has best_val_acc, this launch best_val_loss" in said
    assert "sampler: the study has tpe, this launch random" in said and '"high":2' in said
    # A condition added to the same space is another search too (a study made without any has none).
    choice = optuna.distributions.CategoricalDistribution(["a", "b"])
    conditional = Space({**SPACE.distributions, "c": choice}, {"x": ("c", ["a"])})
    open_study("t", storage, definition(VALIDATION_ACCURACY, "tpe", Space(conditional.distributions, {})))
    with pytest.raises(SearchError, match="conditions: the study has None, this launch"):
        open_study("t", storage, definition(VALIDATION_ACCURACY, "tpe", conditional))
    assert open_study("s", storage, definition(VALIDATION_ACCURACY, "tpe", SPACE)).direction.name == "MAXIMIZE"


def test_a_relaunch_with_other_settings_is_refused_in_the_command_before_anything(tmp_path):
    search = [*SEARCH, "epochs=1", "hydra.sweeper.n_trials=1", "hydra.sweeper.storage=sqlite:///s.db"]
    run_cli(*search, "lr=interval(0.1,0.5)", "hydra.sweep.dir=first", cwd=tmp_path, check=0)
    proc = run_cli(*search, "lr=interval(0.1,0.9)", "hydra.sweeper.direction=minimize", "hydra.sweep.dir=second",
                   cwd=tmp_path)  # fmt: skip
    said = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in said, said
    assert "direction: the study has maximize, this launch minimize" in said and '"high":0.9' in said
    assert not (tmp_path / "second").exists()
    assert len(optuna.load_study(study_name="mlp", storage=f"sqlite:///{tmp_path / 's.db'}").trials) == 1


@pytest.mark.slow
def test_a_full_disk_under_the_storage_ends_the_search_in_one_line_keeping_the_study(tmp_path, small_disk):
    storage = f"journal://{small_disk / 'study.log'}"
    proc = run_cli(*SEARCH, "epochs=1", "lr=interval(0.05,0.5)", "hydra.sweeper.n_trials=500",
                   "hydra.launcher.n_jobs=1", f"hydra.sweeper.storage={storage}", "hydra.sweep.dir=s",
                   cwd=tmp_path)  # fmt: skip
    said = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in said, said[-3000:]
    assert f"hydra.sweeper.storage={storage} cannot be written" in said and "No space left on device" in said
    assert "Once it can be written: python -m experiments.train -m hydra.sweep.dir=" in said
    assert (small_disk / "study.log").read_bytes().endswith(b"\n")
    study = optuna.load_study(study_name="mlp", storage=opened(storage))
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) > 10


@pytest.mark.slow
@pytest.mark.parametrize("storage, sampler", [("sqlite:///study.db", "grid"), ("journal://study.log", "tpe")])
def test_two_launches_at_once_share_one_new_study_and_never_repeat_a_trial(tmp_path, storage, sampler):
    space = "lr=choice(0.1,0.2,0.3,0.4,0.5,0.6)" if sampler == "grid" else "lr=interval(0.05,0.5)"
    launches = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                *SEARCH,
                "epochs=2",
                space,
                f"hydra.sweeper.sampler.name={sampler}",
                "hydra.sweeper.n_trials=6",
                f"hydra.sweeper.storage={storage}",
                f"hydra.sweep.dir=launch{i}",
                "hydra.launcher.n_jobs=1",
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    outputs = [launch.communicate(timeout=300)[0] for launch in launches]
    assert [launch.returncode for launch in launches] == [0, 0], outputs
    assert not any("Traceback" in output or "Error" in output for output in outputs), outputs
    study = optuna.load_study(study_name="mlp", storage=opened(storage.replace("///", f"///{tmp_path}/", 1)
                                                                  if storage.startswith("sqlite") else
                                                                  f"journal://{tmp_path / 'study.log'}"))  # fmt: skip
    values = [t.params["lr"] for t in study.trials]
    assert len(values) == 6 and len(set(values)) == 6  # n_trials is the study's, and no point twice


@pytest.mark.slow
def test_a_search_stopped_by_sigterm_goes_on_with_the_printed_command_continuing_its_cut_trials(tmp_path):
    """The trials cut short stay RUNNING (not FAIL) and continue from their checkpoints in their
    own folders; the study ends with n_trials complete trials, each counted once."""
    proc = subprocess.Popen(
        [sys.executable, "-m", *SEARCH, "epochs=300", "lr=interval(0.05,0.5)", "hydra.sweeper.n_trials=4",
         "hydra.sweeper.storage=journal://study.log", "hydra.sweep.dir=s"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(len(m.read_text().splitlines()) > 20 for m in tmp_path.glob("s/*/metrics.csv")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 143, output
    study = optuna.load_study(study_name="mlp", storage=opened(f"journal://{tmp_path / 'study.log'}"))
    cut = [t.number for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert cut and not [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    command = output.rsplit("to go on: ", 1)[1].splitlines()[0]
    assert command.startswith("python -m experiments.train -m ")
    again = subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    study = optuna.load_study(study_name="mlp", storage=opened(f"journal://{tmp_path / 'study.log'}"))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    for number in cut:  # continued where it was, not run again elsewhere
        (folder,) = tmp_path.glob(f"s/{number}_*")
        result = json.loads((folder / "result.json").read_text())
        assert result["status"] == "completed" and len((folder / "metrics.csv").read_text().splitlines()) == 301
    assert len(list(tmp_path.glob("s/*/result.json"))) == 4


@pytest.mark.slow  # over 6 s: make test's budget
def test_a_storage_this_process_may_not_write_is_one_line_naming_why_before_anything(tmp_path):
    """A SQLite file that is read-only for the user (tests run as root: its capabilities to
    ignore permissions dropped with setpriv)."""
    import shutil

    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to drop the capabilities that ignore permissions")
    search = [*SEARCH, "epochs=1", "lr=interval(0.05,0.5)", "hydra.sweeper.storage=sqlite:///s.db"]
    run_cli(*search, "hydra.sweeper.n_trials=1", "hydra.sweep.dir=first", cwd=tmp_path, check=0)
    (tmp_path / "s.db").chmod(0o444)
    unprivileged = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                    "--bounding-set=-dac_override,-dac_read_search"]  # fmt: skip
    command = [*unprivileged, sys.executable, "-m", *search, "hydra.sweeper.n_trials=3", "hydra.sweep.dir=second"]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in said, said
    assert "cannot be opened (OperationalError: attempt to write a readonly database)" in said
    assert not (tmp_path / "second").exists()


@pytest.mark.parametrize("storage", ["sqlite:///study.db", "journal://study.log"])
def test_launches_that_open_a_new_study_at_the_same_moment_draw_different_trials(tmp_path, monkeypatch, storage):
    """Two launches that open the study before either has asked a trial (a race the slow
    two-launch test meets only under load) each get their own launch number, and so their
    samplers their own seeds: the same seed would draw the same first trials in both."""
    from experiments.sweep.search.loop import launch_seed
    from experiments.sweep.search.study import launch_number

    monkeypatch.chdir(tmp_path)
    defined = definition(VALIDATION_ACCURACY, "tpe", SPACE)
    launches = [open_study("s", storage, defined) for _ in range(2)]  # both before any ask
    numbers = [launch_number(study, storage) for study in launches]
    assert numbers == [0, 1]
    firsts = []
    for study, number in zip(launches, numbers):
        study.sampler = optuna.samplers.TPESampler(seed=launch_seed(0, number))
        firsts.append(SPACE.ask(study).params["x"])
    assert firsts[0] != firsts[1]
    assert launch_seed(0, 0) == 0 and launch_seed(None, 3) is None  # the first launch keeps the seed it was given
    # A study from before launches were counted, which holds trials: its next launch is not the first.
    add_trials(open_study("old", storage, definition(VALIDATION_ACCURACY, "tpe", SPACE)), 1)  # opened, never counted
    assert launch_number(open_study("old", storage, definition(VALIDATION_ACCURACY, "tpe", SPACE)), storage) == 1
