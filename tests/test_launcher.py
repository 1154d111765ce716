"""The default launcher (hydra/launcher=parallel): a job starts the moment a
core frees up, a sweeper learns each result as it arrives, every job's
JobReturn is what Hydra's own launchers make, and any process of a sweep may
die (a job, the launcher; SIGKILL or SIGTERM; as it starts or mid-epoch)
without a job that started ending without a result.json that says how.
Hydra's own test suite for launchers: test_launcher_contract.py."""

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
from hydra.core.utils import JobStatus

from experiments.results.runs import load_runs
from experiments.sweep.grid.sweeper import GridSweeper
from helpers import children, forked_jobs, gone, launch_sweep, run_cli, running_sweep

pytestmark = pytest.mark.usefixtures("fresh_hydra_version_base")

HYDRA_TEST_APP = {"calling_file": None, "calling_module": "hydra.test_utils.a_module", "config_path": "configs"}


def sweep_in_process(hydra_sweep_runner, tmpdir, task, *overrides, results=False):
    """A sweep of Hydra's own test app (keys foo and bar) through our launcher, in this
    process: what its sweeper returned, and with `results` each job's result.json (if any)."""
    sweep = hydra_sweep_runner(
        **HYDRA_TEST_APP,
        task_function=task,
        config_name="compose.yaml",
        overrides=["hydra/launcher=parallel", "hydra.launcher.n_jobs=2", *overrides],
        temp_dir=tmpdir,
    )
    with sweep:  # the runner removes the sweep's folder as it leaves
        found = {p.parent.name: json.loads(p.read_text()) for p in Path(sweep.temp_dir).glob("*/result.json")}
        return (sweep.returns, found) if results else sweep.returns


def test_job_returns_are_what_hydras_launchers_make_for_completed_failed_and_dead_jobs(hydra_sweep_runner, tmpdir):
    def task(cfg):
        if cfg.bar == 200:
            raise ValueError("bar=200 is not allowed")
        if cfg.bar == 300:
            os.kill(os.getpid(), signal.SIGKILL)  # what the kernel does when memory runs out
        return cfg.bar

    (returns,), results = sweep_in_process(
        hydra_sweep_runner, tmpdir, task, "hydra/sweeper=grid", "bar=100,200,300", results=True
    )
    completed, failed, dead = returns
    assert completed.status == JobStatus.COMPLETED and completed.return_value == 100
    for number, returned in enumerate(returns):
        assert "hydra" not in returned.cfg and returned.cfg.bar == (number + 1) * 100  # the task's config
        assert returned.hydra_cfg.hydra.job.num == number and returned.overrides == [f"bar={(number + 1) * 100}"]
        assert Path(returned.hydra_cfg.hydra.runtime.output_dir) == Path(tmpdir) / str(number)
        assert returned.task_name == "a_module" and Path(returned.working_dir) == Path(tmpdir) / str(number)  # chdir
    assert failed.status == dead.status == JobStatus.FAILED
    with pytest.raises(ValueError, match="bar=200 is not allowed"):
        _ = failed.return_value
    with pytest.raises(RuntimeError, match="the job's process was killed by SIGKILL"):
        _ = dead.return_value
    assert list(results) == ["2"]  # the app writes no result.json of its own: the launcher wrote the dead job's
    assert results["2"]["status"] == "failed" and "SIGKILL" in results["2"]["error"]


def sleeper(cfg):
    """A job that takes cfg.bar hundredths of a second and returns when it ran."""
    started = time.monotonic()
    time.sleep(cfg.bar / 100)
    return started, time.monotonic()


def sweep_deciding_as_results_arrive(self, arguments):
    """A sweeper's sweep that decides as results come in (ask-and-tell), through the launcher's jobs()."""
    arrived = []
    with self.launcher.jobs() as jobs:
        jobs.submit(["bar=150"], 0)  # 1.5 s
        jobs.submit(["bar=10"], 1)  # 0.1 s
        assert jobs.free == 0
        arrived.append(jobs.next_result())  # the short job, long before the long one ends
        assert jobs.free == 1
        jobs.submit(["bar=20"], 2)  # starts at once, beside the long job
        while jobs.pending:
            arrived.append(jobs.next_result())
    return arrived


def test_a_sweeper_learns_each_result_as_it_arrives_and_a_freed_core_starts_the_next_job(
    hydra_sweep_runner, tmpdir, monkeypatch
):
    monkeypatch.setattr(GridSweeper, "sweep", sweep_deciding_as_results_arrive)  # plugins live in hydra_plugins/
    arrived = sweep_in_process(hydra_sweep_runner, tmpdir, sleeper, "hydra/sweeper=grid")
    assert [number for number, _ in arrived] == [1, 2, 0]
    (start_long, end_long), _, (start_next, end_next) = (returned.return_value for _, returned in sorted(arrived))
    assert start_long < start_next and end_next < end_long  # job 2 ran while job 0 still did


@pytest.mark.slow
def test_a_grid_keeps_every_core_busy_when_jobs_differ_in_length(hydra_sweep_runner, tmpdir):
    """One long job (3 s) and six short ones (0.1 s) on 2 workers: the short ones all run beside the long one."""
    (returns,) = sweep_in_process(
        hydra_sweep_runner, tmpdir, sleeper, "hydra/sweeper=grid", "bar=300,10,10,10,10,10,10"
    )
    (_, end_long), *short = (returned.return_value for returned in returns)
    # Every short job ends before the long one: none waited for it. (Not that each starts after the long
    # one started: job 1 is sent 0.1 s after job 0, and a worker can begin it first; CI saw that once.)
    assert all(end <= end_long for _, end in short)
    assert [returned.hydra_cfg.hydra.job.num for returned in returns] == list(range(7))


# -- deaths and signals, through the command line as a user runs it ---------------------------------


@pytest.mark.parametrize(
    "send, signum, code",
    [
        ("group", signal.SIGINT, 130),  # Ctrl-C in a terminal: the whole process group
        ("launcher", signal.SIGTERM, 143),  # `kill` or a scheduler: the launcher alone
        ("group", signal.SIGTERM, 143),  # a process group's SIGTERM (a session ending)
    ],
)
def test_stopping_a_sweep_stops_every_job_the_orderly_way(tmp_path, send, signum, code):
    proc, jobs = running_sweep(tmp_path, "data=digits", "epochs=100000", "lr=0.1,0.2,0.3")
    assert len(jobs) == 2
    if send == "group":
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code and "Traceback" not in output, output
    runs = load_runs(tmp_path / "sweep")
    assert runs["status"].tolist() == ["interrupted", "interrupted"]  # the third job never started
    assert (runs["epochs_completed"] >= 3).all()
    assert {json.loads((Path(r) / "result.json").read_text())["signal"] for r in runs["run"]} == {
        signal.Signals(signum).name
    }
    assert "job 2 not started" in output
    assert gone([*jobs, *children(proc.pid)]), "a process of the sweep outlived it"


@pytest.mark.slow
def test_a_job_killed_mid_epoch_is_recorded_as_failed_and_the_others_go_on(tmp_path):
    """What the kernel does when memory runs out: SIGKILL to the job's process."""
    proc, jobs = running_sweep(tmp_path, "data=digits", "epochs=400", "hidden=64", "lr=0.1,0.2,0.3")
    os.kill(jobs[0], signal.SIGKILL)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in output, output
    runs = load_runs(tmp_path / "sweep")
    assert sorted(runs["status"]) == ["completed", "completed", "failed"]
    killed = runs[runs["status"] == "failed"].iloc[0]
    assert "killed by SIGKILL" in killed["error"] and 3 <= killed["epochs_completed"] < 400
    assert output.count("killed by SIGKILL") == 2 and "by status" in output  # said as it happened, and in the summary
    assert "1 job(s) did not finish; to go on from where each stopped: python -m experiments.train -m" in output


def test_a_job_that_dies_with_a_verdict_unread_is_collected_as_killed(tmp_path):
    """A job waiting for its epoch's verdict dies (Ctrl-C, a kill) after the launcher sent it: its
    pipe is then reset, not at its end, and the launcher must still collect it as a dead job (it
    once reported the reset as the study's storage failing)."""
    from omegaconf import OmegaConf

    from experiments.run.reporting import Verdict
    from experiments.sweep.launch.pool import Job, RunningJobs

    fork = multiprocessing.get_context("fork")
    answer, send = fork.Pipe(duplex=True)
    process = fork.Process(target=lambda: os.kill(os.getpid(), signal.SIGKILL))
    answer.send(Verdict.GO_ON.value)  # the verdict it never reads
    process.start()
    process.join()
    send.close()
    config = OmegaConf.create({
        "hydra": {"sweep": {"dir": str(tmp_path), "subdir": "0"}, "job": {"chdir": False, "name": "train"},
                  "overrides": {"task": []}, "runtime": {}},
    })  # fmt: skip
    returned = RunningJobs._collect(None, Job(0, [], config, process, answer, time.time()))  # (no pool state used)
    assert returned.status == JobStatus.FAILED and "killed by SIGKILL" in str(returned._return_value)
    assert json.loads((tmp_path / "0" / "result.json").read_text())["status"] == "failed"


def first_job_process(proc, timeout=60) -> int:
    """The pid of the launcher's first job, the moment it exists (before the job has loaded its data).
    Its line "#0 : ..." comes first: before it, a child of the launcher is a helper (git, asked for
    the sweep's provenance), which between its fork and its exec looks just like a job."""
    for line in proc.stdout:
        if "\t#0 : " in line:
            break
    deadline = time.monotonic() + timeout
    while not (jobs := forked_jobs(proc.pid)):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()
        time.sleep(0.005)
    return jobs[0]


@pytest.mark.parametrize("signum, status", [(signal.SIGKILL, "failed"), (signal.SIGTERM, "interrupted")])
def test_a_job_killed_or_stopped_as_it_starts_has_its_result_and_the_others_still_run(tmp_path, signum, status):
    proc = launch_sweep(tmp_path, "data=mnist_sample", "epochs=1", "hidden=16", "lr=0.1,0.2,0.3")
    os.kill(first_job_process(proc), signum)
    output, _ = proc.communicate(timeout=120)
    assert "Traceback" not in output, output
    runs = load_runs(tmp_path / "sweep").sort_values("run")
    assert runs["status"].tolist() == [status, "completed", "completed"], output  # the queued job ran too
    assert runs["epochs_completed"].iloc[0] == 0
    assert proc.returncode == (1 if status == "failed" else 0)


@pytest.mark.parametrize("when", ["as the first job starts", pytest.param("mid-epoch", marks=pytest.mark.slow)])
def test_when_the_launcher_is_killed_its_jobs_record_interrupted_and_resume_finishes_the_sweep(tmp_path, when):
    overrides = ["data=digits", "epochs=300", "hidden=64", "lr=0.1,0.2,0.3"]
    if when == "mid-epoch":
        proc, jobs = running_sweep(tmp_path, *overrides)
    else:
        proc = launch_sweep(tmp_path, *overrides)
        jobs = [first_job_process(proc)]
    os.kill(proc.pid, signal.SIGKILL)  # the process that runs the jobs
    proc.communicate(timeout=30)
    assert gone(jobs, timeout=30), "a job outlived its launcher"
    runs = load_runs(tmp_path / "sweep")
    assert set(runs["status"]) == {"interrupted"}, runs[["run", "status"]]  # each job that started said so
    assert {json.loads((Path(r) / "result.json").read_text())["signal"] for r in runs["run"]} == {"SIGTERM"}

    resumed = run_cli("experiments.train", "-m", "hydra.sweep.dir=sweep", *overrides, "resume=true", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    runs = load_runs(tmp_path / "sweep")
    assert runs["status"].tolist() == ["completed"] * 3 and (runs["epochs_completed"] == 300).all()


def test_a_launchs_job_returns_are_kept_off_the_heap_and_read_back_in_job_order(tmp_path):
    """What launch() hands Hydra: each JobReturn as it was, in job order, from an unnamed file
    in the sweep's folder (or memory when that cannot be written); a job finished in an
    earlier launch composed only when read."""
    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import OmegaConf

    from experiments.sweep.launch.returns import JobReturns

    def job(number):
        return JobReturn(overrides=[f"lr={number}"], cfg=OmegaConf.create({"lr": number}), status=JobStatus.COMPLETED,
                         _return_value=number / 10)  # fmt: skip

    composed = []
    for folder in (tmp_path, tmp_path / "missing"):  # missing: the file cannot be made, so memory
        returns = JobReturns(folder, lambda o, n, v: composed.append(n) or JobReturn(overrides=o, _return_value=v))
        returns.keep(2, job(2))
        returns.keep_finished_before(1, ["lr=1"], 0.1)
        returns.keep(0, job(0))
        assert composed == [] and list(tmp_path.iterdir()) == [] and len(returns) == 3
        assert [r.overrides for r in returns] == [["lr=0"], ["lr=1"], ["lr=2"]] and composed[-1] == 1
        assert returns[2].cfg == {"lr": 2} and returns[2].return_value == 0.2 and returns[-1].cfg.lr == 2
        assert isinstance(returns.kept[0], tuple if folder == tmp_path else bytes)
        composed.clear()
