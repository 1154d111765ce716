"""Bad config values end the run before any data is loaded, naming key, value and rule.

The rules themselves are checked in-process on composed configs; the CLI is
run where the exit code and what the user sees are the point.
"""

import pytest

from experiments.run.config_rules import ConfigError, check_config
from helpers import composed, run_cli


@pytest.mark.parametrize(
    "override, expected",
    [
        ("lr=-1", "lr=-1 is not allowed: must be a finite number > 0"),
        ("lr=nan", "lr=nan is not allowed: must be a finite number > 0"),
        ("lr=abc", "lr='abc' is not allowed: must be a finite number > 0"),
        ("hidden=0", "hidden=0 is not allowed: must be an integer >= 1"),
        ("hidden=[64,x]", "hidden=[64, 'x'] is not allowed"),
        ("batch_size=0", "batch_size=0 is not allowed: must be an integer >= 1"),
        ("batch_size=2.5", "batch_size=2.5 is not allowed: must be an integer >= 1"),
        ("init_scale=0", "init_scale=0 is not allowed: must be a finite number > 0"),
        ("epochs=true", "epochs=True is not allowed: must be an integer >= 1"),
        ("activation=softplus", "activation='softplus' is not allowed: must be one of sigmoid, tanh, relu"),
        ("dtype=float16", "dtype='float16' is not allowed: must be one of float32, float64"),
        (
            "data.val_size=1.5",
            "data.val_size=1.5 is not allowed: must be an integer count >= 1 or a fraction in (0, 1)",
        ),
        ("+foo=1", "unknown config key 'foo'"),
        ("+data.test_size=5", "data.test_size does not apply to data=mnist"),
    ],
)
def test_bad_value_is_named_with_its_rule(override, expected):
    with pytest.raises(ConfigError) as info:
        check_config(composed(override))
    assert expected in str(info.value)


def test_bad_values_end_the_run_before_loading_data(tmp_path):
    # data.root points nowhere and fallback is off: had the run got as far as loading, it would say so.
    proc = run_cli(
        "experiments.train", "data.root=/nonexistent", "data.fallback=false", "lr=-1", "batch_size=2.5", cwd=tmp_path
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "lr=-1 is not allowed: must be a finite number > 0" in output
    assert "batch_size=2.5 is not allowed: must be an integer >= 1" in output
    assert "No mnist data" not in output and "Traceback" not in output


def test_corrupt_data_file_is_named(tmp_path, idx_folder):
    target = idx_folder / "train-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:20])
    proc = run_cli("experiments.train", f"data.root={idx_folder}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "train-labels-idx1-ubyte.gz" in proc.stdout + proc.stderr


def test_missing_data_without_fallback_explains_how_to_go_offline(tmp_path, mirror):
    proc = run_cli(
        "experiments.train",
        f"data.root={tmp_path / 'empty'}",
        f"data.mirrors=[{mirror.url}]",
        "data.fallback=false",
        cwd=tmp_path,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2
    assert str(tmp_path / "empty") in output and "404" in output and "data=mnist_sample" in output
    assert "Traceback" not in output


def test_download_through_the_cli(tmp_path, idx_folder, mirror):
    """The config's mirrors are used; files whose MD5 is not the published one are refused."""
    for path in idx_folder.iterdir():
        mirror.files[path.name] = path.read_bytes()
    proc = run_cli(
        "experiments.train",
        f"data.root={tmp_path / 'cache'}",
        f"data.mirrors=[{mirror.url}]",
        "data.fallback=false",
        cwd=tmp_path,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2
    assert "does not match the published f68b3c2dcbeaaa9fbdd348bbdeb94873" in output
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
