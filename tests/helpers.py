"""What the tests share, in one place: small IDX data sets written on the fly,
a local HTTP mirror on 127.0.0.1, the real CLI run in a subprocess, configs
composed in-process, a run's files read back, and the gradient check.
The fixtures built on these are in conftest.py."""

from __future__ import annotations

import csv
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

import experiments.run.config_groups  # noqa: F401  (the optimizer and schedule groups, for in-process compose)
from nn_core import load_network
from nn_core.idx import save_idx
from nn_core.idx_sets import IDX_FILES, sample_folder
from nn_core.network import Architecture, build_mlp, cross_entropy

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
# The real MNIST digits installed with the package: 10,000 training, 10,000 test.
MNIST_SAMPLE = sample_folder()


def write_idx_folder(folder: Path, n_train=60, n_test=20, seed=0) -> Path:
    """Four IDX gz files of random 28x28 'digits' with every class present."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = []
    for n in (n_train, n_test):
        arrays.append(rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        arrays.append((np.arange(n) % 10).astype(np.uint8))
    for name, array in zip(IDX_FILES, arrays):
        save_idx(folder / name, array)
    return folder


class Mirror:
    """A local HTTP server; `files[name] = bytes` serves them, `broken[name] = n`
    sends the full Content-Length but closes after n bytes, `stall[name] = n`
    sends n bytes and then waits (up to 30 s) before closing, `trickle[name] = s`
    sends one byte every s seconds (for at most 30 s)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.broken: dict[str, int] = {}
        self.stall: dict[str, int] = {}
        self.trickle: dict[str, float] = {}
        self.release = threading.Event()
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                mirror.requests.append(self.path)
                if name not in mirror.files:
                    self.send_error(404)
                    return
                body = mirror.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in mirror.trickle:
                    for i in range(len(body)):
                        if mirror.release.wait(timeout=mirror.trickle[name]):
                            return
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                    return
                if name in mirror.stall:
                    self.wfile.write(body[: mirror.stall[name]])
                    self.wfile.flush()
                    mirror.release.wait(timeout=30)
                    return
                self.wfile.write(body[: mirror.broken.get(name, len(body))])
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/data/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def run_cli(module: str, *args: str, cwd: Path, timeout=300, env=None, check=None) -> subprocess.CompletedProcess:
    """Run `python -m module args` as a user would; returns the finished process."""
    full_env = {**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    if check is not None and proc.returncode != check:
        raise AssertionError(
            f"exit {proc.returncode}, expected {check}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def dominated(point, others) -> bool:
    """(accuracy, size): another is at least as accurate and as small, and better in one."""
    return any(o[0] >= point[0] and o[1] <= point[1] and o != point for o in others)


def single_run_dir(cwd: Path) -> Path:
    runs = [p for p in (cwd / "runs").iterdir() if p.is_dir() and p.name != "multirun"]
    assert len(runs) == 1, runs
    return runs[0]


def composed(*overrides, return_hydra_config=False):
    """The config `python -m experiments.train *overrides` would run, composed in-process
    (with its `hydra` part: the sweeper's and launcher's settings, the overrides)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)


def metrics(run_dir):
    """A run's metrics.csv rows as written (text), without the time column."""
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in csv.DictReader(f)]


def weights(run_dir):
    """Every array of a run's model.npz, in order."""
    network, _ = load_network(run_dir / "model.npz")
    return list(network.arrays().values())


MASK_SEED = 5  # dropout draws the same mask on every forward pass of the gradient check


def _loss(network, X, y, smoothing):
    logits = network.forward(X, train=True, rng=np.random.default_rng(MASK_SEED))
    return cross_entropy(logits, y, smoothing)[0]


def assert_gradients_match_finite_differences(architecture: Architecture, smoothing=0.0, seed=1):
    """The backward pass of a float64 network of this architecture (8 random samples,
    4 classes) against central finite differences, for every parameter of every layer."""
    rng = np.random.default_rng(seed)
    X = rng.random((8, architecture.sizes[0]))
    y = rng.integers(0, architecture.sizes[-1], size=8)
    network = build_mlp(architecture, rng, init_scale=1.5, dtype=np.float64)
    for layer in network.trainable:  # biases (and batch norm's gamma, beta) away from their start, so all are exercised
        for key in set(layer.params) - {"W"}:
            layer.params[key][:] = rng.normal(size=layer.params[key].shape)

    logits = network.forward(X, train=True, rng=np.random.default_rng(MASK_SEED))
    _, dlogits = cross_entropy(logits, y, smoothing)
    network.backward(dlogits)
    grads = [{key: g.copy() for key, g in layer.grads.items()} for layer in network.trainable]

    eps = 1e-6
    for layer, grad in zip(network.trainable, grads):
        for key, value in layer.params.items():
            numeric = np.zeros_like(value)
            for index in np.ndindex(value.shape):
                saved = value[index]
                value[index] = saved + eps
                plus = _loss(network, X, y, smoothing)
                value[index] = saved - eps
                minus = _loss(network, X, y, smoothing)
                value[index] = saved
                numeric[index] = (plus - minus) / (2 * eps)
            np.testing.assert_allclose(grad[key], numeric, rtol=1e-5, atol=1e-8, err_msg=key)


# -- processes of a sweep ----------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def forked_jobs(pid: int) -> list[int]:
    """The launcher's jobs: its children forked from it (the same command line), not a git or other helper."""

    def command(p):
        try:
            return (Path("/proc") / str(p) / "cmdline").read_bytes()
        except OSError:
            return None

    return [child for child in children(pid) if command(child) == command(pid)]


def launch_sweep(tmp_path, *overrides) -> subprocess.Popen:
    """A sweep launched as a user would, into tmp_path/sweep, in a session of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.train", "-m", "hydra.sweep.dir=sweep", *overrides],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def running_sweep(tmp_path, *overrides, started=2, epochs_done=3):
    """launch_sweep, once `started` of its jobs have finished `epochs_done` epochs;
    returns the launcher's process and its jobs' processes."""
    proc = launch_sweep(tmp_path, *overrides)
    deadline = time.monotonic() + 60
    while (
        len([m for m in tmp_path.glob("sweep/*/metrics.csv") if len(m.read_text().splitlines()) > epochs_done])
        < started
    ):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    return proc, forked_jobs(proc.pid)


def gone(pids, timeout=10) -> bool:
    deadline = time.monotonic() + timeout
    while any(
        Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1][:3]
        for p in pids
    ):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# -- runs stopped mid-way ------------------------------------------------------------------------------


def start_and_stop(cwd, args, run_dir, signum, after_rows=4, glob=False) -> str:
    """Start `python -m experiments.train args`, stop its process group with `signum` once
    run_dir/metrics.csv has `after_rows` epochs (with glob, the first folder whose name
    starts with run_dir's: a sweep job's); return what it printed."""
    output = cwd / "output.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.train", *args],
        cwd=cwd,
        stdout=output.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def rows():
        found = list(run_dir.parent.glob(run_dir.name + "*/metrics.csv")) if glob else [run_dir / "metrics.csv"]
        return max((len(m.read_text().splitlines()) for m in found if m.is_file()), default=0)

    deadline = time.monotonic() + 60
    while rows() <= after_rows:
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be stopped"
        time.sleep(0.02)
    if signum == signal.SIGKILL and glob:  # a sweep's job killed, not its launcher
        os.kill(forked_jobs(proc.pid)[0], signum)
    else:
        os.killpg(proc.pid, signum)
    proc.wait(timeout=60)
    return output.read_text()


def files_of(folder):
    """Every file under `folder`, by its path relative to it, with its bytes."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@contextmanager
def small_filesystem(folder: Path, size: str):
    """A filesystem of its own at `folder`, `size` big ("64k"), to fill up for real (tmpfs: needs
    root, as CI and the dev machines run; the test skips without). Unmounted after."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a small tmpfs here (not root?)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def slurm_missing() -> str | None:
    """Why the SLURM tests cannot run here, or None."""
    if shutil.which("sbatch") is None:
        return "no sbatch: apt-get install slurm-wlm munge, then scripts/local_slurm.sh as root"
    state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if state.returncode != 0 or not {"idle", "mixed", "allocated"} & set(state.stdout.split()):
        return "no SLURM node up: run scripts/local_slurm.sh as root"
    return None


def worker_process(lock: Path) -> int:
    """The worker holding `lock`: of the processes that have it open (the worker and its trial's
    process, forked from it), the one whose parent has not."""
    holders = {}
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if fd.resolve() == lock:
                pid = int(fd.parts[2])
                holders[pid] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:  # a process or descriptor gone meanwhile
            continue
    (worker,) = [pid for pid, parent in holders.items() if parent not in holders]
    return worker
