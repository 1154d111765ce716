"""A private PostgreSQL server for the tests and benchmarks that put a study on a database
(tests/test_many_workers.py, benchmarks/storage.py): Debian's postgresql, started on 127.0.0.1 in
a new folder and removed after; psycopg (the extra `postgresql`) is the client Optuna's storage uses."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def postgresql_missing() -> str | None:
    """Why a test cannot start a PostgreSQL server here, or None (Debian's postgresql and psycopg
    from PyPI: .ci/run and `make test` install both)."""
    if not sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return "PostgreSQL is not installed (apt-get install postgresql)"
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed (pip install '.[postgresql]')"
    if os.geteuid() == 0 and subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
        return "no postgres user to run the server as"
    return None


@contextmanager
def postgresql_server():
    """A private PostgreSQL cluster on 127.0.0.1 (initdb into a new folder, pg_ctl start on a free
    port; as the postgres user when run as root, since the server refuses root), yielding its URL
    for hydra.sweeper.storage; stopped and removed at the end."""
    bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    folder = Path(tempfile.mkdtemp(prefix="postgresql-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"
    subprocess.run([*as_user, bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder} -c max_connections=400"
    subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", folder / "server.log", "-w",
                    "start"], check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
