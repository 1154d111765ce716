"""Golden runs: numbers that cannot change silently.

A few fixed configurations on the bundled MNIST sample, trained in-process; their
per-epoch metrics (as metrics.csv writes them, to the last digit) and a SHA-256 of
every weight array are recorded in tests/golden/<name>.json with the libraries, BLAS
and CPU they were made on. tests/test_golden.py trains them again and names the first
number that moved, where the libraries and CPU are the recorded ones.

A deliberate change to the numbers (a new summation order, an initialisation fixed)
regenerates them in a commit of its own that says why:

    .venv/bin/python tests/golden.py
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

GOLDEN_DIR = Path(__file__).with_name("golden")
GOLDEN = {  # name -> overrides; the sample, a few epochs
    "default": ["data=mnist_sample", "epochs=3"],
    "everything": [
        "data=mnist_sample", "epochs=3", "hidden=[64,32]", "activation=relu", "init=he", "batch_norm=true",
        "dropout=0.1", "augment.shift=1", "optimizer=momentum", "schedule=cosine", "label_smoothing=0.05",
    ],
}  # fmt: skip
TIME_COLUMNS = ("epoch_time_s",)


def measure(overrides: list[str]) -> dict:
    """Train the configuration in a temporary folder; its numbers and where they were made."""
    from experiments.run.task import train
    from helpers import composed
    from nn_core import load_network

    with tempfile.TemporaryDirectory() as folder:
        result = train(composed(*overrides), Path(folder) / "run")
        lines = (Path(folder) / "run" / "metrics.csv").read_text().splitlines()
        network, _ = load_network(Path(folder) / "run" / "model.npz")
    header = lines[0].split(",")
    metrics = [{k: v for k, v in zip(header, line.split(",")) if k not in TIME_COLUMNS} for line in lines[1:]]
    weights = {name: hashlib.sha256(array.tobytes()).hexdigest() for name, array in network.arrays().items()}
    return {
        "overrides": overrides,
        "metrics": metrics,
        "test_acc": result["test_acc"],
        "test_loss": result["test_loss"],
        "weights_sha256": weights,
        "made_on": made_on(result["provenance"]),
    }


def made_on(provenance: dict) -> dict:
    """What the numbers depend on besides the code: NumPy, the BLAS library and the CPU."""
    blas = sorted(f"{p.get('library')} {p.get('version')}" for p in provenance.get("blas", []))
    return {"numpy": provenance["libraries"]["numpy"], "blas": blas, "cpu": provenance["cpu"]}


def regenerate() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, overrides in GOLDEN.items():
        (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(measure(overrides), indent=1) + "\n")
        print(f"written {GOLDEN_DIR / name}.json")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    regenerate()
