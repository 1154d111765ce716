"""Golden runs: numbers that cannot change silently.

A few fixed configurations on the bundled MNIST sample, trained in-process; their
per-epoch metrics (as metrics.csv writes them, to the last digit) and a SHA-256 of
every weight array are recorded in tests/golden/<name>.json with the libraries, BLAS
(and the kernels it chose) and CPU they were made on. tests/test_golden.py trains them again and names the first
number that moved, where the libraries and CPU are the recorded ones.

A deliberate change to the numbers (a new summation order, an initialisation fixed)
regenerates them in a commit of its own that says why:

    .venv/bin/python tests/golden.py          # this machine's numbers replace every record
    .venv/bin/python tests/golden.py --add    # the same code's numbers on another platform, beside the others

A file holds one record per platform: the same code sums differently in its last digits
with another BLAS kernel, so each platform's numbers are its own.
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
    """What the numbers depend on besides the code: NumPy, the BLAS libraries that sum them and
    the kernels those chose for the CPU (the same OpenBLAS sums differently with AVX-512's
    SkylakeX kernels than with Zen's or Haswell's), and the CPU."""
    return {"numpy": provenance["libraries"]["numpy"], "blas": summing_blas(), "cpu": provenance["cpu"]}


def summing_blas() -> list[str]:
    """NumPy's BLAS (the matrix products) and SciPy's (plain SGD's fused update, nn_core.layers),
    as "openblas 0.3.31 SkylakeX"."""
    from threadpoolctl import threadpool_info

    return sorted(
        f"{pool['internal_api']} {pool['version']} {pool.get('architecture')}"
        for pool in threadpool_info()
        if pool.get("user_api") == "blas" and Path(pool["filepath"]).parent.name.startswith(("numpy", "scipy"))
    )


def records(name: str) -> list[dict]:
    """The recorded runs of golden `name`, one per platform (a file of a single record: the older format)."""
    path = GOLDEN_DIR / f"{name}.json"
    if not path.is_file():
        return []
    loaded = json.loads(path.read_text())
    return loaded if isinstance(loaded, list) else [loaded]


def regenerate(add: bool = False) -> None:
    """Record this platform's numbers: instead of every record, or (add) beside the other platforms'."""
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, overrides in GOLDEN.items():
        now = measure(overrides)
        kept = [r for r in records(name) if r["made_on"] != now["made_on"]] if add else []
        (GOLDEN_DIR / f"{name}.json").write_text(json.dumps([*kept, now], indent=1) + "\n")
        print(f"written {GOLDEN_DIR / name}.json ({len(kept) + 1} platform(s))")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    regenerate(add="--add" in sys.argv[1:])
