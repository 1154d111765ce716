"""The golden runs (tests/golden.py) give the numbers recorded with them, to the last digit,
wherever NumPy, the BLAS library and the CPU are the ones they were recorded on."""

from __future__ import annotations

import json

import pytest
from golden import GOLDEN, GOLDEN_DIR, made_on, measure


def first_moved(recorded: dict, now: dict) -> str | None:
    """The first number that moved, in words (which, where, from what to what, by how much)."""
    for old, new in zip(recorded["metrics"], now["metrics"]):
        for column, value in old.items():
            if new.get(column) != value:
                by = float(new[column]) - float(value)
                return f"metrics.csv epoch {old['epoch']}, {column}: {value} then {new[column]} ({by:+.3g})"
    if len(recorded["metrics"]) != len(now["metrics"]):
        return f"{len(recorded['metrics'])} epochs then {len(now['metrics'])}"
    for score in ("test_acc", "test_loss"):
        if recorded[score] != now[score]:
            return f"{score}: {recorded[score]} then {now[score]} ({now[score] - recorded[score]:+.3g})"
    moved = [name for name, digest in recorded["weights_sha256"].items() if now["weights_sha256"].get(name) != digest]
    return f"model.npz arrays {', '.join(moved)}: other bytes" if moved else None


@pytest.mark.parametrize("name", list(GOLDEN))
def test_a_golden_run_gives_its_recorded_numbers(name):
    recorded = json.loads((GOLDEN_DIR / f"{name}.json").read_text())
    assert recorded["overrides"] == GOLDEN[name], "the configuration changed: regenerate (python tests/golden.py)"
    now = measure(GOLDEN[name])
    if now["made_on"] != recorded["made_on"]:
        pytest.skip(f"recorded on {recorded['made_on']}, here {now['made_on']}: the last digits may differ")
    moved = first_moved(recorded, now)
    assert moved is None, (
        f"golden run {name!r} moved: {moved}. If the change is deliberate, regenerate "
        "(python tests/golden.py) in a commit of its own that says why."
    )


def test_the_first_moved_number_is_named_with_how_far_it_moved():
    recorded = {"metrics": [{"epoch": "1", "val_acc": "0.9"}], "test_acc": 0.9, "test_loss": 0.3,
                "weights_sha256": {"W1": "a"}}  # fmt: skip
    now = {**recorded, "metrics": [{"epoch": "1", "val_acc": "0.91"}]}
    assert first_moved(recorded, now) == "metrics.csv epoch 1, val_acc: 0.9 then 0.91 (+0.01)"
    assert first_moved(recorded, {**recorded, "weights_sha256": {"W1": "b"}}) == "model.npz arrays W1: other bytes"
    assert first_moved(recorded, recorded) is None
    assert made_on({"libraries": {"numpy": "2"}, "blas": [], "cpu": "x"}) == {"numpy": "2", "blas": [], "cpu": "x"}
