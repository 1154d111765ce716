"""The benchmark entry points run and report every figure (their timings are not asserted)."""

import pytest

from helpers import MNIST_SAMPLE, run_cli


@pytest.mark.slow
def test_bench_prints_the_table_with_ratios(tmp_path):
    proc = run_cli(
        "benchmarks.bench",
        "--data",
        str(MNIST_SAMPLE),
        "--samples",
        "3000",
        "--batch-sizes",
        "64",
        "--epochs",
        "1",
        "--rounds",
        "1",
        "--sweep",
        "--sweep-epochs",
        "1",
        "--sweep-rounds",
        "1",
        "--rounds-of-runs",
        "1",
        cwd=tmp_path,
        check=0,
    )
    out = proc.stdout
    assert "3000 samples x 784 features (from" in out
    for trainer in ("nn_core", "floor (matmuls only)", "scikit-learn"):
        assert trainer in out
    assert "batch 64: nn_core takes" in out and "faster than scikit-learn" in out
    assert "checkpoint adds" in out and "augment.shift=2 adds" in out and "batch_norm=true adds" in out
    assert "peak memory of experiments.train" in out and "MB resident the first time" in out and "MB after" in out
    assert "over rounds)" in out  # each ratio with its spread
    assert "a 1-epoch digits run" in out and "the imports, median of 1 turns" in out
    assert "a digits step (1077 x 64" in out and "the floor" in out
    assert "start-up: 'experiments.train --help'" in out
    sweep = out[out.index("8 equal jobs") :]
    assert (
        "sequential (hydra/launcher=basic)" in sweep
        and "parallel, one job per core (default)" in sweep
        and "1.00x" in sweep
    )


@pytest.mark.slow
def test_launcher_bench_prints_every_figure(tmp_path):
    proc = run_cli(
        "benchmarks.launcher",
        "--rounds",
        "1",
        "--sweep-samples",
        "3000",
        "--sweep-epochs",
        "1",
        cwd=tmp_path,
        check=0,
    )
    out = proc.stdout
    assert "ours (hydra/launcher=parallel)" in out and "Hydra's joblib launcher" in out
    assert "job_cpu_besides_epochs_s" in out and "first_epoch_s" in out
    assert "a single run (data=digits epochs=1): first epoch after" in out
    assert "a job's wall time besides its epoch" in out and "(accepted in issue 45: 0.15 s" in out  # the guard
    assert "the workers were in jobs" in out and "of their time until the last job started" in out
    assert "parallel, one job per core (default)" in out and "1.00x" in out
