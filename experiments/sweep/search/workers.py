"""A search on SLURM without batches: workers, each asking the next trial as it finishes one.

    python -m experiments.train hparams_search=optuna hydra/launcher=slurm \\
        hydra.launcher.partition=cpu hydra.sweeper.storage=journal:///shared/disk/search.log \\
        hydra.sweeper.n_jobs=8                       # 8 workers
        # hydra.sweeper.wait=false                   # submit them and return at once

The search submits `n_jobs` worker jobs through submitit (one array job, with the
launcher's sbatch settings). Each worker runs the search's own ask-and-tell loop
(experiments/sweep/search/loop.py) on a one-job default launcher inside its SLURM job: it
asks a trial from the shared study, runs it as a job of the sweep (its own folder,
pruned through the storage like any trial), tells it, and asks the next, until the
study holds n_trials. No worker waits for another.

A worker holds a lock file in the sweep folder (`.worker-<SLURM job>.lock`) for its
life, and marks each trial it runs with its name. A trial whose worker is gone
(preempted, timed out, killed, its node lost) is continued from its checkpoint, with
its own parameters and number, by the first worker that asks after it: the same worker
when SLURM requeues it (its name is its array job and task, which a requeue keeps), or
any other. Its trial is told once, when its run ends, so it counts once.

Why the submitting command is not a worker: it runs where the user typed it (a login
node), and it may return at once (wait=false). Waiting, it says the study's progress
until every worker has ended. Launched again on the same storage, it adds workers to
the same study.

What SLURM and submitit leave out: the locks need a shared disk whose flock reaches
every node (NFSv4, Lustre or GPFS with flock enabled); workers submitted by another
launch share the study but are told apart only by their names.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

from hydra.core.plugins import Plugins
from hydra.core.singleton import Singleton
from omegaconf import DictConfig, OmegaConf

from experiments.run import loggers
from experiments.run.files import hold_folder
from experiments.sweep.launch.launcher import ParallelLauncher

log = logging.getLogger(__name__)

WORKER_LOCK = ".worker-{}.lock"  # in the sweep folder, held by a worker (and its trials' processes) for its life
POLL_S = 2.0  # how often the waiting command reads the study and the workers' states


def submits_workers(launcher) -> bool:
    """True for Hydra's submitit launchers (hydra/launcher=slurm, submitit_local), given as
    their config or the instance Hydra made: a search on them runs as workers."""
    target = launcher.get("_target_", "") if isinstance(launcher, DictConfig) else type(launcher).__module__
    return "hydra_submitit_launcher" in str(target)


def submitit_says_once() -> None:
    """submitit's log in the submitting process, through Hydra's log alone and each kind
    of warning once: submitit configures its logger with a stdout and a stderr handler of
    its own, so behind Hydra's each of its warnings came three times, and on a cluster
    without accounting its 'Bypassing sacct error' comes again at every status check."""
    import submitit.core.logger  # noqa: F401  configures its logger as it is imported; then ours stands

    submitit_log = logging.getLogger("submitit")
    submitit_log.handlers.clear()  # its records go up to Hydra's handler, once
    if not any(isinstance(f, _SaidOnce) for f in submitit_log.filters):
        submitit_log.addFilter(_SaidOnce())


class _SaidOnce(logging.Filter):
    """Lets the first of submitit's sacct warnings through, not its repeats (each says
    'Call #N - Bypassing sacct error ...', N counting up)."""

    def __init__(self) -> None:
        super().__init__()
        self.said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "Bypassing sacct error" not in record.getMessage():
            return True
        first, self.said = not self.said, True
        return first


class SearchWorker:
    """What each worker job runs (submitit pickles it and calls it in the SLURM job).

    search: the OptunaSearch that submitted it, with its settings checked; ends_at: the
    search's timeout as a time.time(), or None."""

    def __init__(self, search, hydra_context, task_function, config: DictConfig, ends_at: float | None):
        import cloudpickle

        # Packed apart, to be unpacked after the worker's plugin scan (__call__).
        self.packed = cloudpickle.dumps((search, hydra_context, task_function, config, Singleton.get_state()))
        self.ends_at = ends_at

    def __call__(self, index: int) -> int:
        """Run trials until the study holds n_trials; the number of trials this worker told."""
        import cloudpickle

        # Hydra's plugin scan runs the plugins' modules again, making their config classes anew:
        # done first, so that the configs unpacked next are made of the classes the modules hold
        # (else a job's JobReturn cannot be pickled), and kept through set_state, which would scan again.
        plugins = Plugins.instance()
        search, hydra_context, task_function, config, singletons = cloudpickle.loads(self.packed)
        singletons["instances"][Plugins] = plugins
        Singleton.set_state(singletons)
        name = worker_name()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        hold_folder(sweep_dir, WORKER_LOCK.format(name))  # its trials' processes inherit it
        # One trial at a time, each in a process forked from this one (which ignores submitit's
        # SIGUSR2 warning: experiments/sweep/launch/child.py), reporting its epochs for pruning.
        search.launcher = ParallelLauncher(n_jobs=1)
        search.launcher.setup(hydra_context=hydra_context, task_function=task_function, config=config)
        settings = search.settings  # checked by the launch that submitted the workers
        log.info("worker %s (%d) searches study %s in %s", name, index, settings.study_name, settings.storage)
        told = search.work(name, self.ends_at)
        if not settings.wait:  # no launch waits to end the sweep: its workers do
            workers_done(config)
        return told

    def checkpoint(self, *args, **kwargs):
        """submitit's hook before a timeout or preemption: the worker is submitted again as it
        was; its trial continues from the trial's checkpoint (the worker's name is kept)."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def worker_name() -> str:
    """This worker's name, kept by a SLURM requeue: its array job and task (12_0), or outside
    submitit its process id."""
    try:
        import submitit

        return str(submitit.JobEnvironment().job_id)
    except Exception:  # not in a submitit job: a worker started by hand, or a test
        return str(os.getpid())


def executor_for(launcher):
    """A submitit executor with the launcher's settings (hydra.launcher.*), made as Hydra's
    submitit launcher makes its own (hydra_plugins.hydra_submitit_launcher: launch())."""
    import submitit

    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    cluster = launcher._EXECUTOR  # "slurm" or "local": the plugin's own name for its cluster
    params = dict(launcher.params)
    init = {f"{cluster}_max_num_timeout": params.pop("max_num_timeout")} if "max_num_timeout" in params else {}
    executor = submitit.AutoExecutor(cluster=cluster, folder=params.pop("submitit_folder"), **init)
    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{key if key in shared else f"{cluster}_{key}": value for key, value in params.items()})
    return executor


def submit(search, count: int, ends_at: float | None) -> list:
    """Submit `count` workers of `search` as one array job; their submitit jobs."""
    launcher = search.launcher
    worker = SearchWorker(search, launcher.hydra_context, launcher.task_function, launcher.config, ends_at)
    executor = executor_for(launcher)
    jobs = executor.map_array(worker, list(range(count)))
    log.info(
        "%d worker(s) submitted as job %s, into %s",
        count,
        jobs[0].job_id.split("_")[0],
        launcher.config.hydra.sweep.dir,
    )
    return jobs


def follow(study, jobs: list, n_trials: int) -> list:
    """Say the study's progress every POLL_S seconds (when it changed) until every worker has
    ended, and each worker that failed as soon as it is seen to have ended (its trial, if it
    had one, is continued by another worker); those, each as (job id, its log file, the error
    in one line)."""
    said, ended, failed = None, set(), []
    while True:
        # Asked before each job's result is looked for: a job that writes its result and leaves
        # the queue in between is then found done, never taken for gone.
        gone = left_the_queue([job for job in jobs if job.job_id not in ended])
        for job in jobs:
            if job.job_id in ended:
                continue
            done = job.done()  # each asks the scheduler: once a round
            if not (done or job.job_id in gone):
                continue
            ended.add(job.job_id)
            if done:  # its result says how it ended
                error = job.exception()
                if error is None:
                    continue
                text = str(error).strip().splitlines()
                why = text[-1] if text else type(error).__name__
            else:  # no result, and job.exception() would wait for one for ever
                why = "it ended without a result (killed?), and the cluster keeps no accounting to say how"
            log.warning("worker %s failed: %s (its log: %s)", job.job_id, why, job.paths.stderr)
            failed.append((job.job_id, job.paths.stderr, why))
        running = len(jobs) - len(ended)
        states = Counter(trial.state.name.lower() for trial in study.get_trials(deepcopy=False))
        line = in_one_line(states, n_trials, running)
        if line != said:
            log.info("%s", line)
            said = line
        if not running:
            return failed
        time.sleep(POLL_S)


def left_the_queue(jobs: list) -> set[str]:
    """The SLURM workers submitit cannot tell have ended that the scheduler no longer lists.

    submitit learns that a job ended from its result file or from `sacct`; on a cluster that
    keeps no accounting `sacct` fails, and a worker killed before it could write its result
    would be waited for for ever. `squeue` lists every queued and running job without it
    (-r: each task of an array on its own line)."""
    from submitit.slurm.slurm import SlurmJob

    unknown = [job for job in jobs if isinstance(job, SlurmJob) and job.state == "UNKNOWN"]
    if not unknown:
        return set()
    arrays = sorted({job.job_id.split("_")[0] for job in unknown})
    try:
        listed = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)],
                                capture_output=True, text=True, timeout=60, check=True).stdout.split()  # fmt: skip
    except (OSError, subprocess.SubprocessError):  # no answer: nothing is taken for gone
        return set()
    return {job.job_id for job in unknown} - set(listed)


def in_one_line(states: Counter, n_trials: int, running_workers: int) -> str:
    finished = sum(count for state, count in states.items() if state != "running")
    by_state = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    trials = f"{finished}/{n_trials} trials finished ({by_state or 'none yet'})"
    return f"study: {trials}; {running_workers} worker(s) queued or running"


def workers_done(config: DictConfig) -> None:
    """A search's worker found nothing left to ask: with hydra.sweeper.wait=false no
    launch is left to end the sweep, so each worker ends its MLflow parent run as it finishes
    (the last one's end stands), FAILED if a job failed, as end_of_sweep would."""
    from experiments.results.ranking import any_failed  # pandas: only a worker that ends the sweep needs it
    from experiments.results.runs import load_runs

    sweep_dir = Path(config.hydra.sweep.dir)
    loggers.end_sweep(config, sweep_dir, failed=any_failed(load_runs(sweep_dir)))
