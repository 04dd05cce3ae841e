"""The one way to the database: connections, the transaction helper, and the async ``Store``.

loratui talks to SQLite through a **synchronous repository layer**: every query lives in a repository module
(``datasets/dataset_repo.py``, ``jobs/repo.py``, ...) as a plain function taking a ``sqlite3.Connection``.
Who runs those functions:

* the TUI and the CLI hold a ``Store``: one connection living on one dedicated thread. ``await
  store.run(fn, *args)`` runs ``fn(conn, *args)`` there, so a repository function (a whole transaction, or a
  50,000-row read) is one hop, and no two tasks' statements ever interleave inside a transaction;
* processes without an event loop (the training supervisor, the queue it advances) call the same functions on
  a connection from ``connect()``;
* ``await store.read(fn, *args)`` runs a read-only repository function on a small pool of read-only connections,
  for big reads (the image list of 50,000 images, the tag vocabulary) that should neither wait behind a write nor
  hold up the short queries behind them; threads that must never wait at all (the preview's decoder) keep a
  read-only connection of their own (``ThreadConnections``).

Why not aiosqlite: its public API runs one statement per hop, so a transaction spanning several awaits would
let other tasks' statements slip into it, and bulk work (a scan batch, an undo) meant reaching into its private
``_execute``. A single-thread executor does the same job with public APIs only.

Every connection gets WAL journaling, foreign keys, a busy timeout (other loratui processes — a training
supervisor, a CLI call — write to the same file) and ``synchronous=NORMAL`` (safe with WAL). Statements run in
autocommit mode; ``transaction(conn)`` is the one way to group writes.

Failures of the disk or the file (full, read-only, I/O error, damaged, locked too long) leave ``connect`` and
``Store.run``/``read`` as a ``StorageError`` that says the cause and the fix (``loratui.store.failures``). An
existing database is backed up before it is migrated (``loratui.store.backup``). A home that is not writable
(a read-only mount, no permission) is opened read-only: reading commands work, writes fail with a
``StorageError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, TypeVar

from loratui.errors import ConfigError, StorageError
from loratui.store import backup
from loratui.store.failures import sqlite_code, storage_error
from loratui.store.migrations import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_MS = 30_000
T = TypeVar("T")

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous=NORMAL",
)
_savepoints = itertools.count()


def _check_version(current: int) -> None:
    if current > SCHEMA_VERSION:
        raise ConfigError(
            f"the database is schema version {current}, newer than this loratui ({SCHEMA_VERSION})",
            hint="upgrade loratui",
        )


def _apply_migrations(conn: sqlite3.Connection, path: Path) -> None:
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    _check_version(current)
    if 0 < current < SCHEMA_VERSION:
        backup.snapshot(conn, path, f"v{current}-to-v{SCHEMA_VERSION}")
    for number, _name, sql in MIGRATIONS:
        if number <= current:
            continue
        # executescript commits first; run the file and the version bump in one explicit transaction.
        conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;")


def writable(path: Path | str) -> bool:
    """Whether a database at `path` can be written: the file (if it exists) and its folder (WAL's side files)."""
    path = Path(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def open_readonly_file(path: Path) -> tuple[sqlite3.Connection, int]:
    """A read-only connection to the database file at `path`, even in a folder loratui cannot write, and its
    schema version. No version check and no pragmas beyond the busy timeout (``doctor`` reads damaged files)."""
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        conn.close()
        wal = Path(f"{path}-wal")
        if sqlite_code(exc) != "SQLITE_CANTOPEN" or not path.is_file() or (wal.exists() and wal.stat().st_size):
            raise
        # A WAL database in a folder loratui cannot write: SQLite cannot create the shared-memory file a reader
        # needs. With no WAL content left (a clean close), the file alone is the whole database, and nobody can
        # change it while the folder is read-only: open it as immutable.
        conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None,
                               check_same_thread=False)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error:
            conn.close()
            raise
    return conn, version


def _open_readonly(path: Path) -> sqlite3.Connection:
    conn, version = open_readonly_file(path)
    _check_version(version)
    if version < SCHEMA_VERSION:
        conn.close()
        raise StorageError(
            f"the database {path} is schema {version} and needs migrating to {SCHEMA_VERSION}, "
            f"but it is opened read-only ({path.parent} is not writable)",
            hint="run loratui once where it may write its home, or make the home writable")
    return conn


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with loratui's pragmas (autocommit, ``sqlite3.Row`` rows), migrated unless `readonly`.

    A read-only connection never writes (``mode=ro``) and is meant for a thread that reads on its own, or for a
    home that is not writable; it refuses a database that would need migrating. Failures of the file or the disk
    raise ``StorageError`` (``DatabaseDamagedError`` for a damaged file).
    """
    path = Path(path)
    conn = None
    try:
        if readonly:
            if not path.exists():
                raise StorageError(f"there is no database at {path}, and it cannot be created here (read-only)",
                                   hint="run loratui once where it may write its home, or make the home writable")
            conn = _open_readonly(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            for pragma in _PRAGMAS:
                conn.execute(pragma)
            _apply_migrations(conn, path)
    except (sqlite3.Error, OSError) as exc:
        if conn is not None:
            conn.close()
        error = storage_error(exc, path)
        if error is None:
            raise
        raise error from exc
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    conn.row_factory = sqlite3.Row
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error; nested use becomes a savepoint.

    A failing ROLLBACK (after "database or disk is full", say) never hides the error that caused it.
    """
    if conn.in_transaction:
        name = f"sp{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class ThreadConnections:
    """Read-only connections, one per thread, for threads that must never wait behind the app's connection.

    ``get()`` returns the calling thread's connection (opened on first use); ``close()`` closes them all (at the
    end of the app or a test). The TUI's preview decoder reads thumbnails this way.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """This thread's read-only connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection handed out (each belongs to its thread, so only when they are done)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()


class Store:
    """The database of one loratui process with an event loop: ``async with Store.open(path) as store``.

    One connection on one dedicated thread; ``await store.run(fn, *args)`` runs ``fn(conn, *args)`` there.
    ``fn`` must not call ``store.run`` itself (it is already on the only thread) and should do no file I/O:
    the thread is shared by every query of the process.
    """

    READERS = 2
    """Threads (each with its own read-only connection) behind ``read``."""

    def __init__(self, path: Path, conn: sqlite3.Connection, executor: ThreadPoolExecutor,
                 readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        """True when the database was opened read-only (its home is not writable): every write fails."""
        self._conn = conn
        self._executor = executor
        self._readers = ThreadConnections(path)
        self._read_executor = ThreadPoolExecutor(max_workers=self.READERS, thread_name_prefix="loratui-db-read")
        self._write_listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: Path | str, *, readonly: bool | None = None) -> AsyncIterator["Store"]:
        """Open (creating and migrating if needed) the database at `path`.

        `readonly` None means: read-only when the database or its folder is not writable (``writable``).
        """
        path = Path(path)
        if readonly is None:
            readonly = not writable(path)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loratui-db")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, functools.partial(connect, path, readonly=readonly))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        store = cls(path, conn, executor, readonly)
        try:
            yield store
        finally:
            store._read_executor.shutdown(wait=True)
            store._readers.close()
            await loop.run_in_executor(executor, conn.close)
            executor.shutdown(wait=True)

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(connection, *args, **kwargs)`` on the database thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._call, fn, args, kwargs))

    async def read(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a read-only ``fn(connection, *args, **kwargs)`` on a read-only connection of the read pool.

        It sees everything committed before it starts (this process's writes included) and never blocks ``run``.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_executor, self._read_call, fn, args, kwargs)

    def _read_call(self, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        try:
            return fn(self._readers.get(), *args, **kwargs)
        except sqlite3.Error as exc:
            self._translate(exc)
            raise

    def _translate(self, exc: sqlite3.Error) -> None:
        """Raise the StorageError for a failure of the file or the disk; return for anything else."""
        error = storage_error(exc, self.path)
        if error is not None:
            raise error from exc

    def _call(self, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        conn = self._conn
        before = conn.total_changes
        try:
            return fn(conn, *args, **kwargs)
        except sqlite3.Error as exc:
            self._translate(exc)
            raise
        finally:
            if conn.total_changes != before:
                for listener in list(self._write_listeners):
                    listener()

    def add_write_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (on the database thread) after each ``run`` that changed rows.

        The TUI's change feed uses this to read the change log right after its own writes instead of waiting
        for its next poll; the callback must be thread-safe and quick (``loop.call_soon_threadsafe``).
        """
        with self._lock:
            self._write_listeners.append(callback)

    def remove_write_listener(self, callback: Callable[[], None]) -> None:
        """Stop calling a callback added with ``add_write_listener``."""
        with self._lock:
            if callback in self._write_listeners:
                self._write_listeners.remove(callback)
