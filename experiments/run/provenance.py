"""Where a run came from, recorded in its result.json beside its config: the
code (the git commit, and whether the tree had uncommitted changes, whose diff
is then saved beside the run as code.diff; the package version where the code
is not a git checkout), Python and the key libraries' versions, the BLAS
library and its threads as threadpoolctl reports them, the CPU and the host.
(The data files' MD5s and sample counts are the loader's: result.json's `data`.)

What the same code, libraries and BLAS threads guarantee is said in the README:
the same numbers, to the last bit (experiments/reproduce.py checks a run).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import platform
import socket
import subprocess
from pathlib import Path

from nn_core.atomic import write_atomically

LIBRARIES = ("numpy", "scipy", "hydra-core", "omegaconf", "scikit-learn", "pandas", "threadpoolctl")
CODE_DIFF = "code.diff"  # beside a run whose code had uncommitted changes
CHECKOUT = Path(__file__).resolve().parents[2]  # the folder holding experiments/ and nn_core/


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout


# What an untracked file must be to count as code: text a person writes, of a size a person writes.
# Anything else in the checkout (a model.npz, a report page, a figure, a table, a database, a log)
# is data a command left there, which would make every later run record "changed code".
SOURCE_SUFFIXES = (".py", ".pyx", ".pyi", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh", ".md", ".rst", ".txt",
                   ".ipynb", ".c", ".h", ".cpp")  # fmt: skip
SOURCE_MAX_BYTES = 200_000


@functools.cache
def untracked() -> tuple[list[str], list[str]]:
    """The checkout's new files git does not ignore: (those that are source, those left out)."""
    source, left_out = [], []
    for name in _git("ls-files", "--others", "--exclude-standard").splitlines():
        path = CHECKOUT / name
        try:
            small = path.stat().st_size <= SOURCE_MAX_BYTES
        except OSError:
            small = False
        (source if name.endswith(SOURCE_SUFFIXES) and small else left_out).append(name)
    return source, left_out


@functools.cache
def code_version() -> dict:
    """{"commit", "uncommitted_changes"} in a git checkout, else {"package_version"}: changes are
    to tracked files, or new source files (untracked(): outputs left in the checkout are not
    code, and are named in `not_code`). Asked once per process (a sweep asks before forking its jobs)."""
    if (CHECKOUT / ".git").exists():
        try:
            tracked = bool(_git("status", "--porcelain", "--untracked-files=no").strip())
            source, left_out = untracked()
            version = {"commit": _git("rev-parse", "HEAD").strip(), "uncommitted_changes": tracked or bool(source)}
            if left_out:
                shown = ", ".join(left_out[:5]) + (f" and {len(left_out) - 5} more" if len(left_out) > 5 else "")
                version["not_code"] = f"{len(left_out)} untracked file(s) that are not source, left out: {shown}"
            return version
        except (OSError, subprocess.SubprocessError):
            pass  # no git program, or not a repository after all
    try:
        return {"package_version": importlib.metadata.version("mnist-from-scratch")}
    except importlib.metadata.PackageNotFoundError:
        return {"package_version": None}


@functools.cache
def code_diff() -> str:
    """The uncommitted changes: to tracked files (git diff HEAD), and new source files (untracked())."""
    new_files, _ = untracked()
    as_added = (  # git diff --no-index exits 1 when the files differ, as they do here
        subprocess.run(
            ["git", "-C", str(CHECKOUT), "diff", "--no-index", "--", "/dev/null", name], capture_output=True, text=True
        ).stdout
        for name in new_files
    )
    return _git("diff", "HEAD") + "".join(as_added)


@functools.cache
def machine() -> dict:
    """Python, the key libraries, the CPU and the host."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    host = socket.gethostname()
    return {"python": platform.python_version(), "libraries": versions, "cpu": cpu_model(), "host": host}


def ask_once() -> None:
    """Ask what is the same for every job of a sweep once, before the jobs are forked: they inherit it."""
    if code_version().get("uncommitted_changes"):
        code_diff()
    machine()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas() -> list[dict]:
    """The BLAS libraries loaded, the kernels each chose for this CPU (OpenBLAS's `architecture`:
    Zen, Haswell, SkylakeX..., whose sums differ in their last digits) and their threads now
    (inside the run's thread limit)."""
    from threadpoolctl import threadpool_info

    return [
        {
            "library": pool.get("internal_api"),
            "version": pool.get("version"),
            "architecture": pool.get("architecture"),
            "threads": pool.get("num_threads"),
        }
        for pool in threadpool_info()
        if pool.get("user_api") == "blas"
    ]


def record(run_dir: Path) -> dict:
    """What result.json's `provenance` holds; writes code.diff beside the run when the code had changes."""
    code = dict(code_version())
    if code.get("uncommitted_changes"):
        try:
            diff = code_diff().encode()
        except (OSError, subprocess.SubprocessError) as error:  # the run goes on; its record says why
            code["diff"] = f"not saved: {type(error).__name__}"
        else:
            try:
                write_atomically(Path(run_dir) / CODE_DIFF, lambda f: f.write(diff))
                code.update(diff=CODE_DIFF, diff_md5=hashlib.md5(diff).hexdigest())
            except OSError as error:  # a full disk: the run's next write says so, as every write does
                code["diff"] = f"not saved: {error.strerror or type(error).__name__}"
    return {"code": code, **machine(), "blas": blas()}


def libraries_label(provenance: dict | None) -> str | None:
    """The libraries' versions in one line: "numpy 2.4.6, scipy 1.17.1, ..."."""
    versions = (provenance or {}).get("libraries") or {}
    return ", ".join(f"{name} {version}" for name, version in versions.items()) or None


def code_label(provenance: dict | None) -> str | None:
    """A short name of the code a run ran: the commit's first 10 characters (and its changes'
    MD5, if it had some), or the package's version."""
    code = (provenance or {}).get("code") or {}
    if code.get("commit"):
        changes = f"+changes {code.get('diff_md5', '')[:6]}" if code.get("uncommitted_changes") else ""
        return code["commit"][:10] + changes
    return f"version {code['package_version']}" if code.get("package_version") else None
