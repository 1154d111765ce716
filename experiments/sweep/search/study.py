"""A search's study as data, kept like a run's files (experiments/sweep/search/loop.py asks and tells it).

    study = open_study(name, storage, definition)

The storage is None (in memory), an RDB URL (`sqlite:///runs/search.db`, or a database
server's), Optuna's journal file (`journal:///shared/disk/search.log`) or its gRPC storage
proxy (`grpc://host:port`). What keeps it readable:

- A journal is appended to whole records or not at all: a write that fails (a full
  disk) is cut back to where it began before the error is raised, and a record
  cut short by a killed process is removed when the journal is next opened,
  keeping every whole one (said in one line). A journal damaged elsewhere is
  refused, naming the line.
- Opening a study is done by one launch at a time (an flock beside the storage
  file), so two launches started together never collide creating it.
- A study remembers what defines it: the direction, the objective, the sampler
  and the search space. A launch with other settings is refused before any
  trial, listing what differs: its trials would not be one search.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

DEFINITION = "definition"  # the study's user attribute that records what defines it
LAUNCHES = "launches"  # the study's user attribute that counts the launches that searched it
STORAGE_SCHEMES = ("sqlite:///", "journal://")  # the storages kept in one file, which may hold a cut record


class SearchError(ValueError):
    """A search that cannot run as configured; the message names the setting and what is allowed."""


def storage_file(storage: str | None) -> Path | None:
    """The file a SQLite or journal storage keeps the study in (None for others)."""
    for scheme in STORAGE_SCHEMES:
        if storage and storage.startswith(scheme) and storage != scheme:
            return Path(storage.removeprefix(scheme))
    return None


def anchored(storage: str | None) -> str | None:
    """The storage with its file's path made absolute (a SQLite or journal file), so that
    processes started elsewhere (a search's workers on SLURM) open the same file."""
    path = storage_file(storage)
    if path is None or path.is_absolute():
        return storage
    scheme = next(s for s in STORAGE_SCHEMES if storage.startswith(s))
    return f"{scheme}{path.absolute()}"


def definition(objectives: list, sampler: str, space, limits: list = ()) -> dict:
    """What makes a study one search: a launch that differs in any of it is another search.
    objectives: (Objective, direction) pairs (experiments/sweep/search/objectives.py); space: a
    sweep.space.Space. One objective is written as a name and a direction, as studies made
    before there could be several were; several, as lists; conditions only when there are
    some, as studies made before there could be were; constraints (results.limits.Limit) likewise."""
    from optuna.distributions import distribution_to_json

    names, directions = [o.name for o, _ in objectives], [d for _, d in objectives]
    conditions = {key: [parent, values] for key, (parent, values) in sorted(space.conditions.items())}
    return {
        "direction": directions[0] if len(directions) == 1 else directions,
        "objective": names[0] if len(names) == 1 else names,
        "sampler": sampler,
        "space": {key: json.loads(distribution_to_json(d)) for key, d in sorted(space.distributions.items())},
        **({"conditions": conditions} if conditions else {}),
        **({"constraints": sorted(map(str, limits))} if limits else {}),
    }


def as_list(value) -> list:
    """A definition's direction or objective: one (a string) or several (a list), as a list."""
    return [value] if isinstance(value, str) else list(value)


def open_study(name: str, storage: str | None, wanted: dict):
    """The study `name` in `storage`, created if new, once its definition is `wanted`'s.
    Raises SearchError, in one line (or one per difference), for a storage that cannot be
    opened or read, and for a study defined otherwise."""
    import optuna

    path = storage_file(storage)
    try:
        if path and not path.parent.is_dir():  # the folder the user named for it, made as a run's folder is
            path.parent.mkdir(parents=True)
            log.info("made the folder %s for hydra.sweeper.storage=%s", path.parent, storage)
        with one_launch_at_a_time(storage):
            study = optuna.create_study(
                study_name=name, storage=opened(storage), directions=as_list(wanted["direction"]), load_if_exists=True
            )
            check_same_study(study, name, storage, wanted)
    except SearchError:
        raise
    except Exception as error:  # a path that cannot be created, a file that is not a database, a bad URL
        reason = damaged_journal_line(path) if storage.startswith("journal://") else None
        raise SearchError(f"hydra.sweeper.storage={storage} cannot be opened ({reason or in_words(error)})") from None
    return study


def launch_number(study, storage: str | None) -> int:
    """This launch's number among those that searched the study (0 for the first), counted
    under the storage's lock: launches started at the same moment get different numbers, and
    so their samplers different seeds (else both would draw the same first trials)."""
    with one_launch_at_a_time(storage):
        number = study.user_attrs.get(LAUNCHES, 1 if study.trials else 0)  # a study from before they were counted
        study.set_user_attr(LAUNCHES, number + 1)
    return number


def in_words(error: BaseException) -> str:
    """An error as one line, from the error it came from: a storage's wrapper says "an exception
    is raised during the commit" where the database said "attempt to write a readonly database"."""
    while error.__cause__ or error.__context__:
        error = error.__cause__ or error.__context__
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def check_same_study(study, name: str, storage: str | None, wanted: dict) -> None:
    """Record the definition of a new study; refuse a launch whose definition differs from
    the stored one (a study from before definitions were kept: its direction only)."""
    from optuna.exceptions import ExperimentalWarning

    stored = study.user_attrs.get(DEFINITION)
    if stored is None and not study.trials:
        study.set_user_attr(DEFINITION, wanted)
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2, and what optuna-dashboard reads
            warnings.simplefilter("ignore", ExperimentalWarning)
            study.set_metric_names(as_list(wanted["objective"]))  # the dashboard's names for the objectives
        return
    stored = stored or {"direction": study.direction.name.lower()}  # a study of one objective
    # The keys the study was made with, and conditions (a study made without them has none).
    keys = [*stored, *(["conditions"] if "conditions" not in stored else [])]
    differs = [
        f"{key}: the study has {describe(stored.get(key))}, this launch {describe(wanted.get(key))}"
        for key in keys
        if stored.get(key) != wanted.get(key)
    ]
    if differs:
        raise SearchError(
            f"study {name!r} in {storage} was made with other settings, and its trials would not be one "
            "search with this launch's:\n  " + "\n  ".join(differs) + "\nLaunch with the study's settings, or "
            "name a new study (hydra.sweeper.study_name=...) or another storage for these."
        )


def describe(value) -> str:
    if isinstance(value, dict):  # a search space: key -> its distribution's JSON
        return "{" + ", ".join(f"{k}: {json.dumps(v, separators=(',', ':'))}" for k, v in value.items()) + "}"
    return str(value)


@contextlib.contextmanager
def one_launch_at_a_time(storage: str | None):
    """Held while a study is opened or created, and while a launch or worker counts its trials
    and asks the next: on the storage itself, so that every process sharing the study waits,
    wherever it runs. A SQLite or journal file: an flock on a file beside it, there only while
    held (file_lock). PostgreSQL: an advisory lock on the server (database_lock). A study in
    memory, or behind Optuna's gRPC proxy (whose server answers one request at a time), needs none."""
    path = storage_file(storage)
    if path is not None:
        with file_lock(path.with_name(f".{path.name}.opening")):
            yield
    elif storage is not None and storage.startswith(DATABASE_SCHEMES):
        with database_lock(storage):
            yield
    else:
        yield


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive flock on the file `path`, made when taken and removed by its holder before
    letting go, so that nothing is left beside the storage. A process that was waiting got the
    lock of a file no longer there: it takes the lock again, on the file at `path` now (one
    inode at a time is the lock; a process killed while holding it leaves a file that the next
    one simply locks)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # a folder gone read-only: the file stays, harmless
            os.unlink(path)
        os.close(fd)


def asking_alone(storage: str | None):
    """Held while a launch counts a study's trials and asks the next, so that launches and
    workers sharing one n_trials never ask past it (the same lock as opening)."""
    return one_launch_at_a_time(storage)


DATABASE_SCHEMES = ("postgresql://", "postgresql+psycopg://")  # a database server the tests run (PostgreSQL)
ASKING_LOCK = 0x6D6E6973745F6E6E  # the advisory lock's number ("mnist_nn"), one per database


def database_url(storage: str) -> str:
    """The URL SQLAlchemy is given: postgresql:// through psycopg (version 3, the extra
    `postgresql`), which SQLAlchemy would otherwise look for as psycopg2."""
    if storage.startswith("postgresql://"):
        return "postgresql+psycopg://" + storage.removeprefix("postgresql://")
    return storage


@contextlib.contextmanager
def database_lock(storage: str):
    """PostgreSQL's advisory lock ASKING_LOCK, held on a connection of its own: the server makes
    every process that counts and asks wait its turn, and a process killed while holding it
    loses its connection, and the lock with it."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(database_url(storage), poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": ASKING_LOCK})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": ASKING_LOCK})
    finally:
        engine.dispose()


def opened(storage: str | None):
    """What Optuna is given for `storage`: the URL (an RDB: sqlite:///, postgresql://, mysql://),
    our journal file backend, or for grpc://host:port a client of Optuna's storage proxy
    (`optuna.storages.run_grpc_proxy_server`, for more workers than one file serves)."""
    import optuna

    if storage is not None and storage.startswith("grpc://"):
        host, _, port = storage.removeprefix("grpc://").rpartition(":")
        return optuna.storages.GrpcStorageProxy(host=host, port=int(port))
    if storage is not None and storage.startswith(DATABASE_SCHEMES):
        return database_url(storage)
    if storage is None or not storage.startswith("journal://"):
        return storage
    return optuna.storages.JournalStorage(JournalFile(storage_file(storage)))


class JournalFile:
    """Optuna's journal file (a JournalStorage's backend), whose records are whole or not
    there at all: Optuna's own backend reads it; writing is ours."""

    def __init__(self, path: Path):
        from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

        self.path = Path(path)
        self.lock = JournalFileSymlinkLock(str(path))  # Optuna's default lock, so that other clients agree
        self.reader = JournalFileBackend(str(path), lock_obj=self.lock)
        if self.path.is_file():
            with self.locked():
                cut_last_record(self.path)

    def read_logs(self, log_number_from: int):
        return self.reader.read_logs(log_number_from)

    @contextlib.contextmanager
    def locked(self):
        self.lock.acquire()
        try:
            yield
        finally:
            self.lock.release()

    def append_logs(self, logs: list[dict]) -> None:
        """As Optuna writes them (one JSON record a line, then fsync); a write that fails is
        cut back to where it began, so the next record never lands on half of this one."""
        text = "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in logs).encode()
        with self.locked():
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            start = os.fstat(fd).st_size
            try:
                written = 0
                while written < len(text):
                    written += os.write(fd, text[written:])
                os.fsync(fd)
            except OSError as error:
                os.ftruncate(fd, start)
                error.filename = error.filename or str(self.path)
                raise
            finally:
                os.close(fd)


def cut_last_record(path: Path) -> None:
    """Remove a last record without its line end (a write a killed process did not finish),
    keeping every whole record before it; said in one line."""
    with open(path, "rb+") as f:
        end = f.seek(0, os.SEEK_END)
        if end == 0 or (f.seek(end - 1) >= 0 and f.read(1) == b"\n"):
            return
        keep, chunk = 0, 65536
        for start in range(max(0, end - chunk), -chunk, -chunk):  # the last line end, read from the back
            f.seek(max(start, 0))
            block = f.read(min(chunk, end - max(start, 0)))
            if b"\n" in block:
                keep = max(start, 0) + block.rindex(b"\n") + 1
                break
        f.truncate(keep)
    log.warning(
        "%s: its last record was cut short (%d bytes: a write that did not finish, as a process was killed "
        "or the disk filled); removed it, keeping every whole record before it",
        path,
        end - keep,
    )


def damaged_journal_line(path: Path | None) -> str | None:
    """Where a journal file that Optuna cannot read is damaged, in words; None if it reads."""
    if path is None or not path.is_file():
        return None
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                json.loads(line)
            except ValueError:
                return (
                    f"{path}, line {number}, is not a whole record: every record before it is whole. Keep a copy "
                    f"of the file, then keep only those (head -n {number - 1}) and launch again; the trials "
                    "recorded after it are lost"
                )
    return None
