"""The golden runs (tests/golden.py) give the numbers recorded with them, to the last digit,
wherever NumPy, the BLAS library and the CPU are the ones they were recorded on."""

from __future__ import annotations

import pytest
from golden import GOLDEN, made_on, measure, records


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
    recorded_all = records(name)
    assert all(r["overrides"] == GOLDEN[name] for r in recorded_all), (
        "the configuration changed: regenerate (python tests/golden.py)"
    )
    now = measure(GOLDEN[name])
    recorded = next((r for r in recorded_all if r["made_on"] == now["made_on"]), None)
    if recorded is None:
        pytest.skip(
            f"recorded on {[r['made_on'] for r in recorded_all]}, here {now['made_on']}: the last digits may differ "
            "(python tests/golden.py --add records this platform's)"
        )
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
    platform = made_on({"libraries": {"numpy": "2"}, "cpu": "x"})
    assert platform["numpy"] == "2" and platform["cpu"] == "x"
    assert len(platform["blas"]) == 2 and all(b.startswith("openblas ") for b in platform["blas"])  # NumPy's, SciPy's
