"""The jobs of a sweep on the default launcher (experiments/sweep/launch/launcher.py): each forked
from the launching process the moment a worker is free, its reports and result read through
a pipe, its death recorded (result.json `failed`, with the signal), stop signals passed on
once. RunningJobs is what `ParallelLauncher.jobs()` hands a sweeper; `job_process` is the
forked job itself (its side: child.py)."""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from hydra import version
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from experiments.run import exits
from experiments.run.files import RESULT_FILE, RESUMABLE, Status, completed_result, objective, read_result, record_death
from experiments.run.reporting import Verdict
from experiments.run.signals import STOP_SIGNALS, interrupt_for
from experiments.sweep.launch.child import job_process
from experiments.sweep.launch.compose import FolderNaming, run_folder_of, split_overrides
from experiments.sweep.launch.progress import progress
from experiments.sweep.launch.returns import JobReturns

log = logging.getLogger(__name__)


@dataclass
class Queued:
    """Jobs submitted and not started yet: jobs[taken:], numbered from first + taken. A grid's
    jobs are a Sequence that works each out when asked (experiments/sweep/grid/sweeper.py), so
    queueing 10,000 of them costs nothing until each starts."""

    jobs: Sequence[Sequence[str]]
    first: int
    taken: int = 0

    def __len__(self) -> int:
        return len(self.jobs) - self.taken

    def take(self) -> tuple[list, int]:
        overrides, number = list(self.jobs[self.taken]), self.first + self.taken
        self.taken += 1
        return overrides, number


# How a job's pipe ends when its process dies: at its end (EOF), or reset when the process died
# with a verdict sent to it unread (Ctrl-C as it waited): either way, no JobReturn is coming.
PIPE_ENDED = (EOFError, ConnectionResetError)


@dataclass
class Job:
    number: int
    overrides: list
    config: DictConfig  # the job's whole config, `hydra` included
    process: multiprocessing.Process
    answer: object  # the launcher's end of the pipe the job sends its JobReturn (and reports) through
    started: float  # time.time(), to tell this launch's result.json from an earlier one's
    returned: JobReturn | None = None  # received while reading reports
    ended_early: bool = False  # its pipe closed while reading reports

    @property
    def run_dir(self) -> Path:
        return run_folder_of(self.config)


class RunningJobs:
    """The jobs of a sweep: queued ones, and up to `n_workers` running. A context
    manager: inside it SIGTERM and Ctrl-C stop every running job once and start
    no other; on leaving, every job has ended, and a stop is raised as
    KeyboardInterrupt (Terminated for SIGTERM)."""

    def __init__(self, launcher: Launcher, n_workers: int, judge=None):
        # launcher: the ParallelLauncher that made these jobs (its config, hydra_context, task_function,
        # parent_preload), named by Hydra's base class so that this module needs nothing of launcher.py
        self.launcher, self.n_workers, self.judge = launcher, n_workers, judge
        self.queued: deque[Queued] = deque()
        self.running: dict[int, Job] = {}
        self.waiting: dict[int, Job] = {}  # running jobs that reported an epoch and wait for its verdict
        self.stopped: list[int] = []  # the signal that stopped the sweep
        self.announced = False
        self.finished_before: deque = deque()  # (number, JobReturn) of jobs a resumed sweep had already finished
        sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
        # Jobs of the sweep that ended, for the progress line: a resumed sweep's finished ones, then each that ends
        self.done = sum(1 for result in sweep_dir.glob(f"*/{RESULT_FILE}") if completed_result(result.parent))
        self.naming = FolderNaming.of(launcher.config)
        self.templates: dict[tuple, DictConfig] = {}  # a job's config per combination of composed overrides
        self.returns = JobReturns(sweep_dir, self._composed_return)

    @property
    def pending(self) -> int:
        """Jobs submitted whose result has not been collected."""
        return sum(map(len, self.queued)) + len(self.running) + len(self.finished_before)

    @property
    def free(self) -> int:
        """How many more jobs would start at once if submitted now."""
        return 0 if self.stopped else max(0, self.n_workers - self.pending)

    def submit(self, overrides: Sequence[str], number: int) -> None:
        """Queue a job; it starts as soon as fewer than n_workers jobs run."""
        self.submit_all([overrides], number)

    def submit_all(self, jobs: Sequence[Sequence[str]], first: int) -> None:
        """Queue jobs numbered from `first`; each starts as soon as fewer than n_workers jobs run."""
        self.queued.append(Queued(jobs, first))
        self._start_queued()

    def next_result(self) -> tuple[int, JobReturn]:
        """Wait for a running job to end; return its number and JobReturn
        (status FAILED with the error for a job that failed or died)."""
        self._start_queued()
        self._answer_waiting()  # what the sweeper learnt since (a job's end) may decide a verdict
        if self.finished_before:
            return self.finished_before.popleft()
        if not self.running:
            raise RuntimeError("no job is running") if not self.stopped else interrupt_for(self.stopped[0])
        while True:
            ready = wait([job.answer for job in self.running.values()])
            job = next(job for job in self.running.values() if job.answer in ready)
            if not (self.judge and job.answer.poll() and self._judged(job)):
                break
        returned = self._collect(job)
        self.returns.keep(job.number, returned)
        del self.running[job.number]
        self.waiting.pop(job.number, None)
        self._say_progress(job)
        log.debug("job %d ended", job.number)
        self._start_queued()
        if not self.running and not self.queued:
            import_modules(self.launcher.parent_preload)  # while the sweep's end is still to come
        return job.number, returned

    # -- the jobs' processes -------------------------------------------------------------------------

    def _start_queued(self) -> None:
        while self.queued and len(self.running) < self.n_workers and not self.stopped:
            overrides, number = self.queued[0].take()
            if not self.queued[0]:
                self.queued.popleft()
            self._start(overrides, number)

    def _start(self, overrides: list, number: int) -> None:
        launcher = self.launcher
        if launcher.config.get("resume") and self._finished_before(overrides, number):
            return  # counted in the launch's first line, not listed as launched
        log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))
        config = self._composed(overrides, number)  # just before it starts, while the others train
        log.debug("job %d starts", number)
        fork = multiprocessing.get_context("fork")
        answer, send = fork.Pipe(duplex=self.judge is not None)  # both ways: its epochs' reports, and the verdicts
        process = fork.Process(
            target=job_process,
            args=(send, launcher.hydra_context, config, launcher.task_function, self.judge is not None, os.getpid()),
            daemon=False,
        )
        # A stop signal waits until the job's process exists and is listed, so that it reaches the job too.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            process.start()
            self.running[number] = Job(number, overrides, config, process, answer, time.time())
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        send.close()

    def count_done(self, jobs: int) -> None:
        """`jobs` ended for good without a process of theirs ending now (paused runs the sweep
        then pruned: sweep/grid/halving.py): counted as done in the progress line."""
        self.done += jobs

    def _say_progress(self, job: Job) -> None:
        """'job N finished: k/n jobs of the sweep done', counting as the jobs end."""
        status = (read_result(job.run_dir) or {}).get("status")
        if status == Status.PAUSED:  # it said so itself, and is not done
            return
        if status not in RESUMABLE:
            self.done += 1
        progress(job.config, self.done)

    def _composed(self, overrides: list, number: int) -> DictConfig:
        """Job `number`'s whole config, `hydra` included, as Hydra's launchers compose it.

        Composing takes 60-130 ms, in the launcher, for every job. A job whose overrides differ
        from a job composed before only in plain values (lr=0.1 where it had lr=0.2; not a
        config group, not data.*, no +, ++ or ~) is made from that job's config instead: a copy,
        its values set as Hydra sets them, and the two entries Hydra makes from the overrides
        (hydra.overrides.task, hydra.job.override_dirname): about 20 ms, and equal to composing
        (tested on every job of a grid)."""
        master, loader = self.launcher.config, self.launcher.hydra_context.config_loader
        composed, plain = split_overrides(overrides, loader)
        template = self.templates.get(composed) if plain is not None else None
        if template is None:
            config = loader.load_sweep_config(master, overrides)
            if plain is not None:
                self.templates[composed] = config
        else:
            config = template.copy()
            OmegaConf.copy_cache(from_config=master, to_config=config)
            ConfigLoaderImpl._apply_overrides_to_config(plain, config)
            with open_dict(config):
                config.hydra.overrides.task = list(overrides)
                config.hydra.job.override_dirname = self.naming.override_dirname(overrides)
        with open_dict(config):
            config.hydra.job.id = f"{config.hydra.job.name}_{number}"
            config.hydra.job.num = number
        return config

    def _composed_return(self, overrides: list, number: int, value) -> JobReturn:
        return job_return(self._composed(overrides, number), JobStatus.COMPLETED, value)

    def run_folder(self, overrides: list, number: int) -> Path:
        """Job `number`'s folder: from its folder's name, composing its config only if that name
        needs more than the job's number and overrides."""
        return self.naming.run_folder(overrides, number) or run_folder_of(self._composed(overrides, number))

    def _finished_before(self, overrides: list, number: int) -> bool:
        """True for a job that finished in an earlier launch: it is not started again, so its
        files stay as they are, .hydra/ too. Found from its folder's name, without composing
        its config (a resumed 10,000-job grid would take 15 minutes to compose)."""
        run_dir = self.run_folder(overrides, number)
        done = completed_result(run_dir)
        if not done:
            return False
        log.debug("job %d had already finished", number)
        self.returns.keep_finished_before(number, overrides, value := objective(done))
        # What a sweeper reads of it (status, value, folder); the whole JobReturn is composed if Hydra reads it.
        folder = OmegaConf.create({"hydra": {"runtime": {"output_dir": str(run_dir.absolute())}}})
        self.finished_before.append(
            (number, JobReturn(overrides=overrides, hydra_cfg=folder, status=JobStatus.COMPLETED, _return_value=value))
        )
        return True

    def _judged(self, job: Job) -> bool:
        """Answer a job's report of an epoch with the judge's verdict; False when what
        came is not a report (the job's JobReturn, or the end of its pipe)."""
        try:
            message = job.answer.recv()
        except PIPE_ENDED:
            job.ended_early = True
            return False
        if not (isinstance(message, tuple) and message[:1] == ("epoch",)):
            job.returned = message
            return False
        _, epoch, row, last = message
        verdict = self.judge(job.number, epoch, row, last)
        if verdict is None:  # not judged yet: the job waits, and is answered once it is (answer_waiting)
            self.waiting[job.number] = job
        else:
            self._answer(job, Verdict(verdict))
        self._answer_waiting()
        return True

    def _answer(self, job: Job, verdict: Verdict) -> None:
        if self.stopped and verdict == Verdict.PRUNE:  # stopped from outside: interrupted, resumable, not pruned
            verdict = Verdict.GO_ON
        try:
            job.answer.send(verdict.value)
        except (BrokenPipeError, ConnectionResetError):  # it died while it waited
            pass

    def _answer_waiting(self) -> None:
        """Answer the jobs waiting for a verdict that their judge has now given (judge.answers)."""
        if not self.waiting:
            return
        for number, verdict in list(self.judge.answers(set(self.waiting))):
            self._answer(self.waiting.pop(number), Verdict(verdict))

    def _collect(self, job: Job) -> JobReturn:
        """The ended job's JobReturn: as its process sent it, or made here for a process that died."""
        try:
            returned = job.returned if job.returned is not None else None if job.ended_early else job.answer.recv()
        except PIPE_ENDED:  # ended without an answer: killed, or stopped by a signal
            returned = None
        job.answer.close()
        job.process.join()
        if returned is not None:
            return returned
        code = job.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            reason = f"the job's process was killed by {name}" + (
                " (what the kernel sends when memory runs out: see dmesg)" if name == "SIGKILL" else ""
            )
            record_death(job.run_dir, reason, since=job.started, signal=name)
            log.error("job %d (%s): %s; the other jobs go on", job.number, job.run_dir, reason)
        elif stopped_by := exits.signal_of(code):  # its result.json says so
            reason = f"the job was interrupted by {stopped_by.name}"
        else:
            reason = f"the job's process ended with exit code {code} without a result"
        return job_return(job.config, JobStatus.FAILED, RuntimeError(reason))

    def stop(self, signum, frame=None) -> None:
        """SIGTERM or Ctrl-C: pass it once to every running job; start none after."""
        if self.stopped:
            return
        self.stopped.append(signum)
        log.warning(
            "%s: stopping every job (each records how far it got); no further job starts", signal.Signals(signum).name
        )
        for job in self.running.values():
            try:
                os.kill(job.process.pid, signum)
            except ProcessLookupError:
                pass

    def __enter__(self) -> RunningJobs:
        self.previous = {s: signal.signal(s, self.stop) for s in STOP_SIGNALS}
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if isinstance(error, KeyboardInterrupt) and not self.stopped:  # raised before our handler was asked
            self.stop(exits.stop_signal(error))
        while self.running:  # each running job ends the orderly way, then this does
            number = next(iter(self.running))
            self._collect(self.running.pop(number))
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        if self.stopped:
            for queued in self.queued:
                first, last = queued.first + queued.taken, queued.first + len(queued.jobs) - 1
                which = f"job {first}" if first == last else f"jobs {first}-{last}"
                log.warning("%s not started: %s stopped the sweep", which, signal.Signals(self.stopped[0]).name)
            if error is None:
                raise interrupt_for(self.stopped[0])


def job_return(config: DictConfig, status: JobStatus, value) -> JobReturn:
    """A JobReturn for a job whose process could not send its own (FAILED, the error as its
    value, as Hydra's run_job makes one for a task that raised), or that had finished in an
    earlier launch (COMPLETED, the task's return value)."""
    output_dir = os.path.abspath(run_folder_of(config))
    hydra_cfg = OmegaConf.masked_copy(config, ["hydra"])
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.hydra.runtime.output_dir = output_dir
    chdir = config.hydra.job.chdir  # unset: Hydra changes into the job's folder before version_base 1.2
    if chdir is None:
        chdir = not version.base_at_least("1.2")
    return JobReturn(
        overrides=OmegaConf.to_container(config.hydra.overrides.task),
        cfg=OmegaConf.masked_copy(config, [key for key in config if key != "hydra"]),
        hydra_cfg=hydra_cfg,
        working_dir=output_dir if chdir else os.getcwd(),
        task_name=config.hydra.job.name,
        status=status,
        _return_value=value,
    )


def import_modules(names: Sequence[str]) -> None:
    for name in names:
        importlib.import_module(name)
