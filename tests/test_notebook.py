"""docs/analysis.ipynb, run as a user runs it, on a small sweep: the pandas path the README promises."""

import pytest

from helpers import REPO, run_cli


@pytest.mark.slow
def test_the_analysis_notebook_runs_on_a_sweep(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    run_cli(
        "experiments.train", "-m", "data=digits", "epochs=3", "lr=0.05,0.5", "seed=0,1", "hydra.sweep.dir=sweep",
        cwd=tmp_path, check=0,
    )  # fmt: skip
    monkeypatch.setenv("SWEEP", str(tmp_path / "sweep"))
    notebook = nbformat.read(REPO / "docs" / "analysis.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell, on any error (the test-accuracy assert among them)
    said = "".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    )  # fmt: skip
    best = "2_data=digits,epochs=3,lr=0.5,seed=0"
    assert "n_seeds" in said and f"{best}: test accuracy" in said
    assert (tmp_path / "sweep" / best / "inspect" / "confusion.png").is_file()


@pytest.mark.slow
def test_the_notebook_runs_with_the_command_it_documents_from_a_checkout(tmp_path):
    """`jupyter execute --output=../runs/analysis docs/analysis.ipynb` from the repository's folder,
    no $SWEEP: its kernel starts in docs/, and it still finds the newest sweep under runs/."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("nbclient")
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "docs" / "analysis.ipynb", tmp_path / "docs")
    run_cli("experiments.train", "-m", "data=digits", "epochs=2", "lr=0.1,0.5", "hydra.sweep.dir=runs/multirun/s",
            cwd=tmp_path, check=0)  # fmt: skip
    said = json.loads((REPO / "docs" / "analysis.ipynb").read_text())["cells"][0]["source"]
    command = next(line for line in "".join(said).split("`") if line.startswith("jupyter execute"))
    jupyter = Path(sys.executable).with_name("jupyter")
    env = {k: v for k, v in os.environ.items() if k != "SWEEP"}
    proc = subprocess.run([str(jupyter), *command.split()[1:]], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "runs" / "analysis.ipynb").is_file()
