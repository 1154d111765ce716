"""A run's epochs, hyperparameters and outcome, where users already look:
TensorBoard and MLflow (the `logger` config group; optional extras).

    python -m experiments.train logger=tensorboard               # tensorboard --logdir runs --load_fast=false
    python -m experiments.train -m logger=mlflow lr=0.01,0.1     # mlflow ui --backend-store-uri sqlite:///runs/mlflow.db
    python -m experiments.train 'logger=[tensorboard,mlflow]'    # both

Each epoch is written as it ends, so a long run can be watched live. TensorBoard:
event files in the run's folder (`tensorboard/`), with the run's hyperparameters
and final numbers for the HParams table, so `tensorboard --logdir` on a sweep's
folder shows every job in one table. MLflow: a run per run, in the tracking URI
given (default a SQLite file), its model.npz as an artifact; a sweep is one
parent run with one child per job.

A logger never breaks or stalls a run: one that fails, or does not answer in
time (a tracking server that is down or hangs), says so in one warning and is
left out from then on, the run goes on, and result.json's `loggers` says which
failed and why.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import partial
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from experiments.run.config_rules import NOT_HYPERPARAMETERS, flatten
from experiments.run.files import RunFolder, write_aside
from experiments.run.record import FINAL_METRICS

log = logging.getLogger(__name__)

EPOCH_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr")
MLFLOW_PARENT = ".mlflow_sweep_run"  # in a sweep's folder: the parent run its jobs are children of
MLFLOW_RUN = ".mlflow_run"  # in a run's folder: its MLflow run, which a resume continues
# How long a logger may take before it is given up: starting (MLflow's first use of a SQLite
# store migrates it, about 6 s measured on 2 busy cores), and each call after that.
START_PATIENCE_S, CALL_PATIENCE_S = 60.0, 10.0
# MLflow retries an HTTP request that fails for minutes, with back-off; a tracker that is down
# should cost a run seconds. Said to MLflow through its own settings, unless the user set them.
MLFLOW_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


def scalar_hyperparameters(hyperparameters: dict) -> dict:
    """Flat key -> number, bool or text (lists as text), what both trackers take as parameters."""
    flat = flatten(hyperparameters)
    return {k: v if isinstance(v, (int, float, bool, str)) else str(v) for k, v in flat.items() if v is not None}


def chosen_hyperparameters(flat: dict) -> dict:
    """The HParams table's columns: the hyperparameters the command line set (in a sweep, what
    its jobs vary among them; a group's choice, `optimizer=adam`, as optimizer.name), not how or
    where the run ran. TensorBoard ticks the first five columns it is given: fewer is clearer."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return flat
    given = {o.split("=")[0].lstrip("+~") for o in HydraConfig.get().overrides.task}
    return {
        key: value
        for key, value in flat.items()
        if key not in NOT_HYPERPARAMETERS and (key in given or key.endswith(".name") and key[:-5] in given)
    }


class TensorBoard:
    def __init__(self, run_dir: Path, settings: dict, hyperparameters: dict):
        from tensorboardX import SummaryWriter

        # A file name of its own: add_hparams (end) opens a second writer in the same folder,
        # and tensorboardX names files by the second they were opened, so a run shorter than
        # a second had its curves' file replaced by the HParams one.
        self.writer = SummaryWriter(str(run_dir / settings["dir"]), filename_suffix=".epochs")
        self.hyperparameters = chosen_hyperparameters(scalar_hyperparameters(hyperparameters))

    def epoch(self, row: dict) -> None:
        for name in EPOCH_METRICS:
            self.writer.add_scalar(name, row[name], row["epoch"])
        self.writer.flush()

    def end(self, result: dict) -> None:
        finals = {f"final/{name}": result[name] for name in FINAL_METRICS if result.get(name) is not None}
        # The HParams table's row: this run's hyperparameters and final numbers, in its own folder.
        self.writer.add_hparams({**self.hyperparameters, "status": str(result["status"])}, finals, name=".")
        self.writer.close()


def mlflow_experiment(client, settings) -> str:
    """The id of the MLflow experiment the runs go into, made if new. Its artifacts (model.npz)
    go beside a SQLite tracking file (runs/mlflow.db: runs/mlflow-artifacts/), not into the
    folder the command was started from (MLflow's ./mlruns), which may be a checkout."""
    experiment = client.get_experiment_by_name(settings["experiment"])
    if experiment:
        return experiment.experiment_id
    uri = settings["tracking_uri"]
    location = None
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///")).absolute()
        location = (database.parent / f"{database.stem}-artifacts").as_uri()
    # MLflow 3's UI shows an experiment as GenAI work unless told it is model training
    kind = {"mlflow.experimentKind": "custom_model_development"}
    return client.create_experiment(settings["experiment"], artifact_location=location, tags=kind)


def mlflow_client(tracking_uri: str):
    """An MLflowClient whose HTTP requests give up within seconds (MLFLOW_HTTP)."""
    from mlflow.tracking import MlflowClient

    for key, value in MLFLOW_HTTP.items():
        os.environ.setdefault(key, value)
    return MlflowClient(tracking_uri=tracking_uri)


class MLflow:
    def __init__(self, run_dir: Path, settings: dict, hyperparameters: dict):
        self.client = mlflow_client(settings["tracking_uri"])
        self.run_dir = run_dir
        kept = run_dir / MLFLOW_RUN
        if kept.is_file():  # a resumed run goes on in its own MLflow run
            self.run_id = kept.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
            return
        experiment_id = mlflow_experiment(self.client, settings)
        tags = {}
        parent = run_dir.parent / MLFLOW_PARENT
        if parent.is_file():
            tags["mlflow.parentRunId"] = parent.read_text().strip()
        self.run_id = self.client.create_run(experiment_id, run_name=run_dir.name, tags=tags).info.run_id
        write_aside(kept, f"{self.run_id}\n".encode())
        from mlflow.entities import Param

        params = [Param(k, str(v)) for k, v in scalar_hyperparameters(hyperparameters).items()]
        self.client.log_batch(self.run_id, params=params)

    def epoch(self, row: dict) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(name, float(row[name]), now, int(row["epoch"])) for name in EPOCH_METRICS]
        self.client.log_batch(self.run_id, metrics=metrics)

    def end(self, result: dict) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        finals = [Metric(name, float(result[name]), now, 0) for name in FINAL_METRICS if result.get(name) is not None]
        self.client.log_batch(self.run_id, metrics=finals)
        self.client.set_tag(self.run_id, "status", str(result["status"]))
        if RunFolder(self.run_dir).model_file.is_file():
            self.client.log_artifact(self.run_id, str(RunFolder(self.run_dir).model_file))
        finished = {"completed": "FINISHED", "pruned": "FINISHED", "diverged": "FINISHED", "interrupted": "KILLED"}
        self.client.set_terminated(self.run_id, status=finished.get(str(result["status"]), "FAILED"))


# The loggers by the names the `logger` group's options use (conf/logger/<name>.yaml).
LOGGERS = {"tensorboard": TensorBoard, "mlflow": MLflow}


class Loggers:
    """The loggers a run's config asks for, each call guarded: a logger that raises is
    warned about once, left out from then on, and named in `failed`."""

    def __init__(self, cfg: DictConfig, run_dir: Path, hyperparameters: dict, job: str = ""):
        self.active, self.failed, self.job = {}, {}, job
        chosen = OmegaConf.to_container(cfg.logger, resolve=True) if cfg.get("logger") else {}
        for name, settings in chosen.items():
            self._guarded(name, partial(self._start, name, run_dir, settings, hyperparameters), START_PATIENCE_S)

    def _start(self, name: str, run_dir: Path, settings: dict, hyperparameters: dict) -> None:
        self.active[name] = LOGGERS[name](run_dir, settings, hyperparameters)

    def _guarded(self, name: str, call, patience: float = CALL_PATIENCE_S) -> None:
        """call() on a thread of its own, waited for `patience` seconds at most: a tracker that
        hangs is left behind on it (a daemon thread, which never holds up the process's exit)."""
        raised = []

        def work():
            try:
                call()
            except Exception as error:  # a tracker's fault is never the run's: it goes on without it
                raised.append(error)

        worker = threading.Thread(target=work, name=f"logger {name}", daemon=True)
        worker.start()
        worker.join(patience)
        if worker.is_alive():
            raised.append(TimeoutError(f"no answer within {patience:g} s"))
        if raised:
            error = raised[0]
            self.active.pop(name, None)
            self.failed[name] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            log.warning("%slogger %s failed and is left out; the run goes on: %s", self.job, name, self.failed[name])

    def epoch(self, row: dict) -> None:
        for name, logger in list(self.active.items()):
            self._guarded(name, lambda logger=logger: logger.epoch(row))

    def end(self, result: dict) -> None:
        for name, logger in list(self.active.items()):
            self._guarded(name, lambda logger=logger: logger.end(result), START_PATIENCE_S)  # uploads model.npz
        if self.active or self.failed:
            result["loggers"] = {**{name: "ok" for name in self.active}, **self.failed}


def start_sweep(config: DictConfig, sweep_dir: Path) -> None:
    """A sweep with logger=mlflow: its parent run, which each job's run is a child of."""
    settings = (config.get("logger") or {}).get("mlflow")
    if settings is None or (sweep_dir / MLFLOW_PARENT).is_file():  # none asked, or a resumed sweep's own
        return
    try:
        client = mlflow_client(settings.tracking_uri)
        run = client.create_run(
            mlflow_experiment(client, settings), run_name=sweep_dir.name, tags={"sweep": str(sweep_dir)}
        )
        write_aside(sweep_dir / MLFLOW_PARENT, f"{run.info.run_id}\n".encode())
    except Exception as error:  # the jobs log as runs of their own then
        log.warning("logger mlflow: the sweep's parent run could not be made (%s: %s)", type(error).__name__, error)


def end_sweep(config: DictConfig, sweep_dir: Path, failed: bool) -> None:
    settings = (config.get("logger") or {}).get("mlflow")
    parent = sweep_dir / MLFLOW_PARENT
    if settings is None or not parent.is_file():
        return
    try:
        mlflow_client(settings.tracking_uri).set_terminated(
            parent.read_text().strip(), status="FAILED" if failed else "FINISHED"
        )
    except Exception as error:
        log.warning("logger mlflow: the sweep's parent run could not be ended (%s: %s)", type(error).__name__, error)
