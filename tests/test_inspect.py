"""experiments.inspect on a real run, and the HTML report opened in a real headless browser."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import nn_core
from experiments.compare import main as compare_main
from experiments.results import inspection
from helpers import run_cli


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("inspect")
    run_cli(
        "experiments.train",
        "-m",
        "data=mnist_sample",
        "epochs=2",
        "hidden=16",
        "lr=0.1,0.5",
        "seed=0,1",
        cwd=cwd,
        check=0,
    )
    (sweep_dir,) = (cwd / "runs" / "multirun").iterdir()
    return sweep_dir


def best_run(sweep_dir):
    results = {p.parent: json.loads(p.read_text()) for p in sweep_dir.glob("*/result.json")}
    return max(results, key=lambda run: results[run]["best_val_acc"]), results


def test_inspect_writes_its_figures_and_agrees_with_the_run(sweep, tmp_path):
    run, results = best_run(sweep)
    numbers = inspection.inspect_run(run, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"confusion.png", "mistakes.png", "first_layer.png", "per_class.csv"}
    assert numbers["confusion"].sum() == 10000 and numbers["test_accuracy"] == pytest.approx(results[run]["test_acc"])
    assert (
        numbers["per_class"]["test_samples"].tolist()
        == np.bincount(nn_core.load_dataset("mnist_sample").y_test).tolist()
    )
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_an_image_file_is_read_whatever_its_size_colour_and_polarity(sweep, tmp_path):
    import matplotlib.image

    run, _ = best_run(sweep)
    network, _ = nn_core.load_network(run / "model.npz")
    digits = nn_core.load_dataset("mnist_sample").X_test[:20]
    for i, digit in enumerate(digits):
        # dark ink on white paper, 3x larger, as RGB: what a user would draw or scan
        paper = 255 - np.kron(digit.reshape(28, 28), np.ones((3, 3), dtype=np.uint8))
        matplotlib.image.imsave(tmp_path / f"{i}.png", np.stack([paper] * 3, axis=-1))
        proc = run_cli("experiments.inspect", str(run), "--image", str(tmp_path / f"{i}.png"), cwd=tmp_path, check=0)
        said = int(re.search(r"predicted (\d)", proc.stdout).group(1))
        assert said == network.predict(digit)[0], proc.stdout
        assert len(re.findall(r"^  \d: 0\.\d{4}$", proc.stdout, flags=re.M)) == 10


def test_inspect_refuses_a_folder_without_a_model(tmp_path):
    proc = run_cli("experiments.inspect", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "no model.npz" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(shutil.which("chromium") is None, reason="apt-get install chromium")
def test_the_html_report_renders_in_a_real_browser(sweep, tmp_path):
    assert compare_main([str(sweep), "--html"]) == 0
    page = sweep / "report.html"
    text = page.read_text()
    assert "<table" in text and "n_seeds" in text and "python -m experiments.train -m" in text
    assert "http://" not in text and "https://" not in text  # nothing fetched: it opens offline
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        ["chromium", *flags, "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert (
        '<body data-images="5" data-broken="0">' in dom
    )  # curves, parallel coordinates, confusion, mistakes, first layer: all decoded
    assert dom.count("<tr") >= 3
    subprocess.run(
        ["chromium", *flags, "--window-size=1200,1600", f"--screenshot={tmp_path / 'shot.png'}", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert (tmp_path / "shot.png").stat().st_size > 50_000  # a page, not a blank
