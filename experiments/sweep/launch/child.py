"""A forked job's own side (the parent's is pool.py): run the task as Hydra's run_job does,
send its JobReturn up the pipe, record how it ended when stopped or failed, and exit without
running the launcher's exit handlers."""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import shutil
import signal
import time

from hydra.core.utils import JobReturn, JobStatus, run_job

from experiments.run import exits, reporting
from experiments.run.files import RunFolder, Status, record_death
from experiments.run.signals import STOP_SIGNALS, handle_stops, signals_held
from experiments.sweep.launch.compose import run_folder_of

log = logging.getLogger(__name__)


def job_process(send, hydra_context, job_config, task_function, judged=False, launcher_pid=None) -> None:
    """The forked job: run it as Hydra's run_job does, send its JobReturn, and exit
    without running the launcher's exit handlers. A stop signal at any moment ends
    it as interrupted (exit 130 or 143), with a result.json that says so."""
    started = time.time()
    logging.raiseExceptions = False  # a log file on a full disk: no traceback per line; the job's error says it
    os.setpgid(0, 0)  # a terminal's Ctrl-C comes through the launcher, so it arrives once
    _die_with_parent(signal.SIGTERM)
    if launcher_pid is not None and os.getppid() != launcher_pid:  # it died before that took hold
        os.kill(os.getpid(), signal.SIGTERM)  # held until the handlers below are in place
    handle_stops()  # from its first instant: a SIGTERM with the default action would kill it unrecorded
    # submitit's warning of a timeout or preemption is for the worker that forked it (experiments/sweep/
    # workers.py), which has the job requeued: SLURM's SIGTERM that follows stops this one, recorded.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    code = 0
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the launcher as it forked
        if judged:
            reporting.connect(send)
        # (No HydraConfig.set_config before it, as Hydra's basic launcher does: run_job sets it
        # first thing, and each is a deep copy of the config, 15-25 ms of a job's time.)
        returned = run_job(
            hydra_context=hydra_context,
            config=job_config,
            task_function=task_function,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        send.send(_picklable(returned))
    except (KeyboardInterrupt, SystemExit) as stop:  # the run's own files say how far it got; if it had none yet:
        code = int(exits.for_interrupt(stop)) if isinstance(stop, KeyboardInterrupt) else _exit_code(stop)
        stopped_by = exits.signal_of(code)
        if stopped_by:
            with signals_held():
                record_death(
                    run_folder_of(job_config), "", since=started, status=Status.INTERRUPTED, signal=stopped_by.name
                )
    except OSError as error:  # Hydra's own record (.hydra/) on a full disk, before or after the task ran
        code = 1
        folder = RunFolder(run_folder_of(job_config))
        # The task never started: Hydra's record, written in place, may be half a file; a resume writes it anew
        if not folder.metrics_file.exists():
            shutil.rmtree(folder.hydra_dir, ignore_errors=True)
        reason = f"cannot write {error.filename or folder.hydra_dir}: {error.strerror or error}"
        log.error("job %s: %s", job_config.hydra.job.num, reason)
        try:
            record_death(folder.path, reason, since=started)
        except OSError:  # the disk is still full: the launcher's summary names the job without its result.json
            pass
    except BaseException:
        log.exception("job process failed")
        code = 1
    logging.shutdown()
    os._exit(code)


def _exit_code(exit_: SystemExit) -> int:
    return exit_.code if isinstance(exit_.code, int) else 1


def _picklable(returned: JobReturn) -> JobReturn:
    """The JobReturn, its error replaced by a RuntimeError of the same text if it cannot be sent as it is."""
    if returned.status == JobStatus.FAILED:
        try:
            pickle.dumps(returned._return_value)
        except Exception:
            error = returned._return_value
            returned._return_value = RuntimeError(f"{type(error).__name__}: {error}")
    return returned


def _die_with_parent(signum: int) -> None:
    """Linux: get `signum` when the launcher dies, so a job never outlives its sweep."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signum)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
