"""The default launcher of sweeps (-m, hydra/launcher=parallel): jobs run side
by side, one per core, through joblib's process pool like Hydra's joblib
launcher, but each job in a process of its own, forked from the pool's worker:

- a job whose process dies (the kernel's out-of-memory killer, `kill -9`) is
  recorded as failed, with the signal, and every other job runs on. (With the
  pool's worker itself running the job, its death breaks the whole pool: joblib
  ends the sweep with TerminatedWorkerError, killing the healthy jobs.)
- SIGTERM or Ctrl-C to the launcher reaches each running job exactly once: each
  records `interrupted` and keeps its checkpoint (resume=true continues the
  sweep); no further job starts; no process is left behind; exit 143 or 130.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from omegaconf import open_dict

from experiments.run.files import record_death
from experiments.run.signals import STOP_SIGNALS, interrupt_for

log = logging.getLogger(__name__)


class ParallelLauncher(Launcher):
    def __init__(self, n_jobs: int = -1, preload: Sequence[str] = (), parent_preload: Sequence[str] = ()) -> None:
        self.n_jobs = n_jobs  # jobs at once; -1: one per core
        self.preload = list(preload)  # modules each worker imports once, so that its forked jobs start with them
        self.parent_preload = list(parent_preload)  # modules the sweep's end needs, imported while the jobs run
        self.config = self.hydra_context = self.task_function = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function
        # A worker takes 1.5 s to start (Python, then `preload`); Hydra, on one core,
        # still checks every job's config before it calls launch: start them meanwhile.
        self.starting_workers = threading.Thread(target=self.start_workers, name="start-workers")
        self.starting_workers.start()

    def start_workers(self) -> None:
        from joblib import Parallel, delayed

        Parallel(n_jobs=self.n_workers, backend="loky")(
            delayed(import_modules)(self.preload) for _ in range(self.n_workers)
        )

    @property
    def n_workers(self) -> int:
        return self.n_jobs if self.n_jobs > 0 else os.cpu_count()

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from joblib import Parallel, delayed
        from joblib.externals.loky import get_reusable_executor

        self.starting_workers.join()  # the same pool of workers runs the jobs
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        n_jobs = self.n_workers
        log.info(
            "launching %d job(s), %d at a time, into %s", len(job_overrides), min(n_jobs, len(job_overrides)), sweep_dir
        )
        for number, overrides in enumerate(job_overrides, initial_job_idx):
            log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))

        stopped = []  # the signal that stops the sweep

        def stop(signum, frame):
            if not stopped:
                stopped.append(signum)
                log.warning(
                    "%s: stopping every job (each records how far it got); no further job starts",
                    signal.Signals(signum).name,
                )
                for worker in multiprocessing.active_children():  # joblib's workers pass it on to their job
                    os.kill(worker.pid, signum)

        def jobs():
            singleton_state = Singleton.get_state()
            for number, overrides in enumerate(job_overrides, initial_job_idx):
                if stopped:
                    return
                yield delayed(run_job_in_own_process)(
                    number,
                    overrides,
                    self.hydra_context,
                    self.config,
                    self.task_function,
                    singleton_state,
                    self.preload,
                )

        previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
        # This process only waits while the jobs run: it imports what the sweep's end
        # needs meanwhile (the summary's pandas and scipy: 0.9 s after the last job otherwise).
        threading.Thread(target=import_modules, args=(self.parent_preload,), name="parent-preload").start()
        try:
            # Each worker holds its next job, so that it starts as the last one ends (a round
            # trip to this process takes 0.1 s); a worker that got a stop signal starts none.
            returns = Parallel(n_jobs=n_jobs, backend="loky", pre_dispatch="2*n_jobs")(jobs())
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        # The workers exit (0.4 s: their interpreters tear down) while the parent
        # sums the sweep up, instead of after it, when Python would wait for them.
        get_reusable_executor(reuse=True).shutdown(wait=False)
        if stopped:
            raise interrupt_for(stopped[0])
        return returns


# A pool worker's state across the jobs it runs (one worker per process).
_running_job = None  # the process of the job it runs now, if any
_stopped_by = None  # the first stop signal the worker got: passed on to its job; no job starts after it


def _stop_worker(signum, frame) -> None:
    global _stopped_by
    if _stopped_by is None:
        _stopped_by = signum
        if _running_job is not None:
            os.kill(_running_job.pid, signum)


def run_job_in_own_process(
    number, overrides, hydra_context, config, task_function, singleton_state, preload=()
) -> JobReturn:
    """In a pool worker: run one job in a forked child and wait for it. A stop
    signal reaching the worker is passed on to the child once, and the worker
    starts no further job. A child that dies without returning gets a
    result.json saying how it died; the sweep gets NaN for it, as for any failed job."""
    global _running_job
    import_modules(preload)  # in the worker once (a no-op after), not in every forked job
    setup_globals()
    Singleton.set_state(singleton_state)
    job_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(job_config):
        job_config.hydra.job.id = f"{job_config.hydra.job.name}_{number}"
        job_config.hydra.job.num = number
    HydraConfig.instance().set_config(job_config)
    run_dir = Path(str(job_config.hydra.sweep.dir)) / str(job_config.hydra.sweep.subdir)

    fork = multiprocessing.get_context("fork")
    receive, send = fork.Pipe(duplex=False)
    child = fork.Process(target=_job_process, args=(send, hydra_context, job_config, task_function))
    started = time.time()
    # A stop signal waits until the job's process exists, so that it reaches the job.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    for s in STOP_SIGNALS:
        signal.signal(s, _stop_worker)
    if _stopped_by is None:
        child.start()
        _running_job = child
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    returned = None
    if _running_job is None:  # queued behind a job that was stopped
        log.warning("job %d not started: %s stopped the sweep", number, signal.Signals(_stopped_by).name)
    else:
        send.close()
        try:
            returned = receive.recv()
        except EOFError:  # the child ended without an answer: killed, or interrupted
            pass
        _running_job = None
        child.join()
        if returned is None and child.exitcode < 0:
            name = signal.Signals(-child.exitcode).name
            reason = f"the job's process was killed by {name}" + (
                " (what the kernel sends when memory runs out: see dmesg)" if name == "SIGKILL" else ""
            )
            record_death(run_dir, reason, since=started)
            log.error("job %d (%s): %s; the other jobs go on", number, run_dir, reason)
        # An interrupted job (exit 130 or 143) has written its own result.json.
    status, value = returned or (
        JobStatus.COMPLETED,
        math.nan,
    )  # a job that did not answer failed: NaN, as any failed job
    return JobReturn(
        overrides=list(overrides),
        cfg=job_config,
        hydra_cfg=job_config,
        working_dir=os.getcwd(),
        task_name=job_config.hydra.job.name,
        status=status,
        _return_value=value,
    )


def import_modules(names: Sequence[str]) -> None:
    for name in names:
        importlib.import_module(name)


def _job_process(send, hydra_context, job_config, task_function) -> None:
    """The forked child: one job, then exit without running the worker's exit handlers."""
    os.setpgid(0, 0)  # a terminal's Ctrl-C comes through the worker, so it arrives once
    _die_with_parent(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the worker as it forked
    code = 0
    try:
        HydraConfig.instance().set_config(job_config)
        returned = run_job(
            hydra_context=hydra_context,
            config=job_config,
            task_function=task_function,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        send.send((returned.status, returned._return_value))  # the JobReturn's configs are the worker's already
    except SystemExit as exit_:  # an interrupted run (130, 143): its files say so
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        log.exception("job process failed")
        code = 1
    logging.shutdown()
    os._exit(code)


def _die_with_parent(signum: int) -> None:
    """Linux: get `signum` when the worker dies, so a job never outlives its sweep."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signum)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
