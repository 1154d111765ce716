"""logger=tensorboard and logger=mlflow, read back with each tool's own reader."""

import csv
import json

import pytest

from helpers import run_cli


def test_tensorboard_has_every_epoch_and_the_hparams_row(tmp_path):
    pytest.importorskip("tensorboardX")
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    from tensorboard.plugins.hparams import plugin_data_pb2

    run_cli(
        "experiments.train", "data=digits", "epochs=3", "lr=0.1", "logger=tensorboard", "hydra.run.dir=run",
        cwd=tmp_path, check=0,
    )  # fmt: skip
    events = accumulator.EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    logged = events.Scalars("val_acc")
    assert [e.step for e in logged] == [1, 2, 3]
    assert [e.value for e in logged] == pytest.approx([float(r["val_acc"]) for r in rows], abs=1e-6)
    hparams = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/session_start_info"]).session_start_info
    assert (
        start.hparams["lr"].number_value == pytest.approx(0.1) and start.hparams["status"].string_value == "completed"
    )
    assert set(start.hparams) == {"data.name", "epochs", "lr", "status"}  # what the command line chose
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["loggers"] == {"tensorboard": "ok"}
    assert events.Scalars("final/test_acc")[0].value == pytest.approx(result["test_acc"], abs=1e-6)


@pytest.mark.slow
def test_a_sweep_in_mlflow_is_a_parent_run_with_a_child_per_job(tmp_path):
    tracking = pytest.importorskip("mlflow.tracking")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "checkout").mkdir()  # where the command is started: a tracker writes nothing there
    run_cli(
        "experiments.train", "-m", "data=digits", "epochs=3", "lr=0.1,0.5", "logger=mlflow",
        f"logger.mlflow.tracking_uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path / "checkout",
        check=0,
    )  # fmt: skip
    assert list((tmp_path / "checkout").iterdir()) == []
    assert list((tmp_path / "mlflow-artifacts").rglob("model.npz"))  # beside the tracking file
    client = tracking.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("mnist-from-scratch").experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = sorted((r for r in runs if r is not parent), key=lambda r: r.data.params["lr"])
    assert parent.info.run_name == "sweep" and parent.info.status == "FINISHED"
    assert [r.data.params["lr"] for r in children] == ["0.1", "0.5"]
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id and child.info.status == "FINISHED"
        assert [m.step for m in client.get_metric_history(child.info.run_id, "val_acc")] == [1, 2, 3]
        assert [a.path for a in client.list_artifacts(child.info.run_id)] == ["model.npz"]
        result = json.loads((tmp_path / "sweep" / child.info.run_name / "result.json").read_text())
        assert (
            child.data.metrics["test_acc"] == pytest.approx(result["test_acc"])
            and child.data.tags["status"] == "completed"
        )


@pytest.mark.slow
def test_a_logger_that_fails_is_one_warning_and_the_run_goes_on(tmp_path):
    pytest.importorskip("mlflow")
    proc = run_cli(
        "experiments.train", "data=digits", "epochs=2", "logger=mlflow", "logger.mlflow.tracking_uri=nosuchscheme://x",
        "hydra.run.dir=run", cwd=tmp_path, check=0,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert output.count("logger mlflow failed and is left out; the run goes on") == 1 and "Traceback" not in output
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "completed" and result["loggers"]["mlflow"].split(":")[0].endswith("Exception")


@pytest.mark.slow
def test_a_tracking_server_that_never_answers_costs_seconds_not_the_run(tmp_path):
    """A server on 127.0.0.1 that accepts connections and never answers: one warning, and the
    sweep's jobs train on (each given up after MLflow's request timeout), every result.json saying why."""
    pytest.importorskip("mlflow")
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # accepted by the kernel, never read: every request waits
    try:
        started = time.monotonic()
        proc = run_cli(
            "experiments.train", "-m", "data=digits", "epochs=3", "lr=0.1,0.2", "logger=mlflow",
            f"logger.mlflow.tracking_uri=http://127.0.0.1:{silent.getsockname()[1]}", "hydra.sweep.dir=s",
            cwd=tmp_path, check=0, timeout=120,
        )  # fmt: skip
        took = time.monotonic() - started
    finally:
        silent.close()
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and output.count("logger mlflow failed and is left out") == 2, output
    assert took < 60, took  # MLflow's own retries would take minutes per job
    for result in (tmp_path / "s").glob("*/result.json"):
        about = json.loads(result.read_text())
        assert about["status"] == "completed" and about["epochs_completed"] == 3 and about["loggers"]["mlflow"]
