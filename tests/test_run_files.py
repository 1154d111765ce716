"""A run's files, unit by unit: RunFiles, record_death, check_resumable and the
checkpoint round trip, so that a failure points at the function."""

import json
import os
import time

import numpy as np
import pytest

import nn_core
from experiments.run.config_rules import ConfigError, check_resumable
from experiments.run.files import METRICS_COLUMNS, RunFiles, Status, WriteError, read_epochs, read_result, record_death
from helpers import composed

ROW = {
    "epoch": 1,
    "lr": 0.1,
    "train_loss": 2.0,
    "train_acc": 0.5,
    "val_loss": 1.5,
    "val_acc": 0.6,
    "epoch_time_s": 0.01,
}


def row(epoch):
    return {**ROW, "epoch": epoch, "val_loss": 2.0 / epoch}


def test_run_files_write_rows_as_they_come_and_result_json_last(tmp_path):
    files = RunFiles(tmp_path)
    for epoch in (1, 2):
        files.append_epoch(row(epoch))
    assert [r["epoch"] for r in read_epochs(tmp_path / "metrics.csv")] == [1, 2]  # on disk before the run ends
    assert read_result(tmp_path) is None
    files.finish({"status": Status.COMPLETED, "best_val_acc": 0.6})
    assert read_result(tmp_path) == {"status": "completed", "best_val_acc": 0.6}
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == ",".join(METRICS_COLUMNS)
    assert not list(tmp_path.glob(".*.tmp"))


def test_run_files_claim_the_folder_and_resume_keeps_only_the_checkpointed_rows(tmp_path):
    files = RunFiles(tmp_path)
    for epoch in (1, 2, 3):
        files.append_epoch(row(epoch))
    files.finish({"status": Status.INTERRUPTED})
    with pytest.raises(FileExistsError, match="another run wrote into this directory"):
        RunFiles(tmp_path)
    resumed = RunFiles(tmp_path, resume_epochs=2)  # the checkpoint covered two epochs; the third is done again
    assert [r["epoch"] for r in resumed.previous_epochs] == [1, 2]
    resumed.append_epoch(row(3))
    resumed.finish({"status": Status.COMPLETED})
    assert [r["epoch"] for r in read_epochs(tmp_path / "metrics.csv")] == [1, 2, 3]


def test_a_row_that_cannot_be_written_whole_is_cut_off_and_named(tmp_path):
    files = RunFiles(tmp_path)
    files.append_epoch(row(1))
    before = (tmp_path / "metrics.csv").read_bytes()
    real_write = os.write
    os.write = lambda fd, data: real_write(fd, data[:5])  # a disk that fills up mid-line
    try:
        with pytest.raises(WriteError, match=r"cannot write .*metrics\.csv: No space left on device"):
            files.append_epoch(row(2))
    finally:
        os.write = real_write
    assert (tmp_path / "metrics.csv").read_bytes() == before


def test_record_death_keeps_what_metrics_csv_holds_and_never_overwrites_a_later_word(tmp_path):
    since = time.time()
    files = RunFiles(tmp_path)
    for epoch in (1, 2, 3):
        files.append_epoch(row(epoch))
    record_death(tmp_path, "the job's process was killed by SIGKILL", since=since)
    result = read_result(tmp_path)
    assert result["status"] == "failed" and "SIGKILL" in result["error"]
    assert result["epochs_completed"] == 3 and result["best_epoch"] == 3  # lowest val_loss: 2/3
    (tmp_path / "result.json").write_text(json.dumps({"status": "interrupted"}))
    record_death(tmp_path, "killed again", since=since)  # the run wrote its own result after `since`: it stands
    assert read_result(tmp_path) == {"status": "interrupted"}
    record_death(tmp_path, "killed in a later launch", since=time.time() + 60)
    assert read_result(tmp_path)["error"] == "killed in a later launch"


def test_check_resumable_allows_what_does_not_change_results_and_refuses_the_rest():
    saved = composed("epochs=5")
    check_resumable(saved, composed("epochs=9", "blas_threads=2", "save_weights=false", "resume=true"), 5)
    with pytest.raises(ConfigError) as info:
        check_resumable(saved, composed("epochs=3", "lr=0.5", "data.root=/elsewhere"), 5)
    message = str(info.value)
    assert "lr: the run has 0.1, this resume 0.5" in message
    assert "data.root: the run has None, this resume '/elsewhere'" in message  # where the data is can change what it is
    assert "epochs=3 is fewer than the run's 5: epochs may only grow" in message
    # Fewer than planned, though more than done (100 -> 40 after 9): refused as the docs say.
    with pytest.raises(ConfigError, match="epochs=40 is fewer than the run's 100: epochs may only grow"):
        check_resumable(composed("epochs=100"), composed("epochs=40"), 9)
    # A schedule whose horizon is the run's length would give its planned epochs other learning
    # rates: refused, naming it; one whose rates do not depend on it grows freely.
    with pytest.raises(ConfigError, match="epochs=30: schedule=cosine spreads its learning rates over the run's 10"):
        check_resumable(composed("epochs=10", "schedule=cosine"), composed("epochs=30", "schedule=cosine"), 9)
    check_resumable(composed("epochs=10", "schedule=step"), composed("epochs=30", "schedule=step"), 9)


def test_a_checkpoint_restores_weights_optimizer_generator_and_progress(tmp_path):
    data = nn_core.load_digits_dataset()
    architecture = nn_core.Architecture([64, 16, 10], "relu", dropout=0.2, batch_norm=True, pixel_max=data.pixel_max)

    def start():
        rng = np.random.default_rng(0)
        network = nn_core.build_mlp(architecture, rng)
        return network, nn_core.make_optimizer("adam", network.trainable), rng

    network, optimizer, rng = start()
    options = nn_core.TrainingOptions(epochs=2, patience=5)
    schedule = nn_core.make_schedule("constant", 0.01, 4)
    nn_core.fit(
        network,
        data,
        options,
        schedule=schedule,
        rng=rng,
        optimizer=optimizer,
        on_checkpoint=lambda state: nn_core.save_checkpoint(tmp_path / "c.npz", network, optimizer, rng, state, note=1),
    )
    assert nn_core.read_checkpoint_info(tmp_path / "c.npz")["note"] == 1

    restored, restored_optimizer, restored_rng = start()
    progress = nn_core.load_checkpoint(tmp_path / "c.npz", restored, restored_optimizer, restored_rng)
    assert progress.epoch == 2 and progress.best_weights is not None
    for name, array in network.arrays().items():
        np.testing.assert_array_equal(restored.arrays()[name], array, err_msg=name)
    for name, array in optimizer.state().items():
        np.testing.assert_array_equal(restored_optimizer.state()[name], array, err_msg=name)
    assert restored_rng.bit_generator.state == rng.bit_generator.state
