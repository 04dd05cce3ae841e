"""One translation of database and OS failures into ``StorageError``: the cause and the fix, in words.

``storage_error(exc, db=path)`` is called where such failures cross into code that shows them: the store's
boundary (``connect``, ``Store.open``, ``Store.run``/``read``), the CLI's last net and the TUI's
``report_error``. It returns None for what is not a storage failure (a constraint violated, a bug), which
keeps its own type.

========================================  ==========================================================
failure                                   shown as
========================================  ==========================================================
SQLITE_FULL, ENOSPC                       the disk is full: free space (``df -h DIR``), run again
EDQUOT                                    the disk quota is used up
EFBIG                                     a file hit the file-size limit (``ulimit -f``)
SQLITE_IOERR, EIO                         an I/O error (a full disk or a failing one: ``dmesg``)
SQLITE_READONLY, EROFS                    read-only: make the home writable or use ``--home``
SQLITE_PERM, EACCES, EPERM                permission denied on the path (``ls -ld``)
SQLITE_CANTOPEN                           why the file cannot be opened: a folder, a missing folder,
                                          no permission, a read-only folder
SQLITE_CORRUPT, SQLITE_NOTADB             ``DatabaseDamagedError``: the newest backup and
                                          ``loratui doctor --repair``
SQLITE_BUSY, SQLITE_LOCKED                another process held the write lock past the busy timeout
other OSError                             its strerror and path (``FileNotFoundError`` and the like)
========================================  ==========================================================
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from loratui.errors import DatabaseDamagedError, LoratuiError, StorageError
from loratui.store.backup import newest_backup

_BUSY_S = 30  # store.db.BUSY_TIMEOUT_MS in seconds (not imported: db imports this module)

_SQLITE_BY_MESSAGE = (
    ("database or disk is full", "SQLITE_FULL"),
    ("readonly database", "SQLITE_READONLY"),
    ("disk i/o error", "SQLITE_IOERR"),
    ("database disk image is malformed", "SQLITE_CORRUPT"),
    ("file is not a database", "SQLITE_NOTADB"),
    ("unable to open database file", "SQLITE_CANTOPEN"),
    ("database is locked", "SQLITE_BUSY"),
    ("is locked", "SQLITE_LOCKED"),
    ("access permission denied", "SQLITE_PERM"),
)


def sqlite_code(exc: sqlite3.Error) -> str:
    """The primary SQLite result code name of `exc` (``SQLITE_FULL``, ...), or "" when unknown.

    Python 3.11+ carries it on the exception; before that, SQLite's fixed message for the code says it.
    """
    name = getattr(exc, "sqlite_errorname", None)
    if name:
        for primary in ("SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_CORRUPT", "SQLITE_BUSY",
                        "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_NOTADB", "SQLITE_PERM"):
            if name == primary or name.startswith(primary + "_"):
                return primary
    text = str(exc).lower()
    for fragment, code in _SQLITE_BY_MESSAGE:
        if fragment in text:
            return code
    return ""


def is_damaged(exc: BaseException) -> bool:
    """True when `exc` says the database file is corrupt or not a database."""
    return isinstance(exc, sqlite3.Error) and sqlite_code(exc) in ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def storage_error(exc: BaseException, db: Path | None = None) -> LoratuiError | None:
    """The ``StorageError`` explaining `exc` (database `db` when it came from SQLite), or None.

    A ``LoratuiError`` comes back as it is, so callers can pass anything they caught.
    """
    if isinstance(exc, LoratuiError):
        return exc
    if isinstance(exc, sqlite3.Error):
        return _from_sqlite(exc, db)
    if isinstance(exc, OSError):
        return _from_os(exc)
    return None


def damaged_database(db: Path, detail: str) -> DatabaseDamagedError:
    """The error for a database that cannot be read as one, naming the newest backup and the repair."""
    backup = newest_backup(db)
    if backup is not None:
        where = f"the newest backup is {backup.path} (made {backup.when}, {backup.reason})"
        restore = "; `loratui doctor --repair --from-backup` restores the backup instead"
    else:
        where, restore = "loratui has made no backup of it", ""
    return DatabaseDamagedError(
        f"the database {db} is damaged ({detail}); {where}",
        backup=str(backup.path) if backup else None,
        hint="stop other loratui processes, then run `loratui doctor --repair`: it keeps a copy of the damaged "
             f"file and rebuilds the database from what can still be read{restore}",
    )


def _from_sqlite(exc: sqlite3.Error, db: Path | None) -> StorageError | None:
    code = sqlite_code(exc)
    where = str(db) if db is not None else "the database"
    folder = str(db.parent) if db is not None else "the loratui home"
    if code in ("SQLITE_FULL", "SQLITE_IOERR"):
        cause, fix = _space_problem(db.parent if db is not None else None)
        if cause:
            return StorageError(f"cannot write {where}: {cause} (SQLite: {exc})",
                                hint=f"{fix} and run the command again; the unfinished change was rolled back")
        if code == "SQLITE_FULL":
            return StorageError(f"the disk holding {where} is full (SQLite: {exc})",
                                hint=f"free some space (df -h {folder}) and run the command again; "
                                     "the unfinished change was rolled back")
        return StorageError(f"a disk error while reading or writing {where} (SQLite: {exc})",
                            hint=f"the disk may be full or hit a file-size limit (df -h {folder}; ulimit -f) or be "
                                 "failing (dmesg); fix that and run the command again")
    if code == "SQLITE_READONLY":
        return StorageError(f"{where} is read-only: this needs to write to it (SQLite: {exc})",
                            hint=f"make {folder} and the database writable, or use --home DIR with a writable folder")
    if code == "SQLITE_PERM":
        return StorageError(f"permission denied on {where} (SQLite: {exc})",
                            hint=f"check the owner and permissions of {folder} (ls -ld)")
    if code in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return damaged_database(db, str(exc)) if db is not None else DatabaseDamagedError(
            f"the database is damaged ({exc})", hint="run `loratui doctor --repair`")
    if code in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return StorageError(f"{where} stayed locked by another process for more than {_BUSY_S} s ({exc})",
                            hint="wait for the other loratui process (a scan, a tagging job: `loratui jobs`) to "
                                 "finish, then run the command again")
    if code == "SQLITE_CANTOPEN":
        return _cannot_open(exc, db)
    return None


LOW_SPACE = 4 * 1024 * 1024
"""Free bytes under which a failed write is put down to a full disk."""


def _space_problem(folder: Path | None) -> tuple[str, str]:
    """(cause, fix) when a failed write can be explained: a full disk or a file-size limit; ("", "") if not."""
    if folder is not None:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = None
        if free is not None and free < LOW_SPACE:
            return f"the disk holding {folder} is full ({free // 1024} KiB free)", f"free some space (df -h {folder})"
    limit = _file_size_limit()
    if limit is not None:
        return (f"a file-size limit of {limit:,} bytes is set for this process (ulimit -f)",
                "raise the file-size limit (ulimit -f unlimited)")
    return "", ""


def _file_size_limit() -> int | None:
    try:
        import resource  # POSIX only
    except ImportError:
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def _cannot_open(exc: sqlite3.Error, db: Path | None) -> StorageError:
    if db is None:
        return StorageError(f"cannot open the database ({exc})")
    folder = db.parent
    if db.is_dir():
        return StorageError(f"cannot open the database {db}: it is a folder, not a file",
                            hint="move that folder out of the way, or choose another home with --home DIR")
    if not folder.is_dir():
        return StorageError(f"cannot open the database {db}: the folder {folder} does not exist or is not a folder",
                            hint="create it, or choose another home with --home DIR")
    if db.exists() and not os.access(db, os.R_OK):
        return StorageError(f"cannot open the database {db}: permission denied",
                            hint=f"check the owner and permissions of {db} (ls -l)")
    if not os.access(folder, os.W_OK):
        return StorageError(f"cannot open the database {db}: {folder} is read-only",
                            hint=f"make {folder} writable, or choose another home with --home DIR")
    return StorageError(f"cannot open the database {db} ({exc})",
                        hint=f"check that {folder} can be read and written")


def _from_os(exc: OSError) -> StorageError:
    path = exc.filename
    if path is not None and not isinstance(path, str):
        path = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    target = f" ({path})" if path else ""
    number = exc.errno
    if number == errno.ENOSPC:
        return StorageError(f"no space left on the disk{target}",
                            hint=f"free some space{_df(path)} and run the command again")
    if number == getattr(errno, "EDQUOT", -1):
        return StorageError(f"disk quota exceeded{target}",
                            hint="free space within your quota (quota -s) or ask for a larger one")
    if number == errno.EFBIG:
        limit = _file_size_limit()
        if limit is not None:
            return StorageError(f"a file hit the file-size limit of {limit:,} bytes set for this process{target}",
                                hint="raise it (ulimit -f unlimited) and run the command again")
        return StorageError(f"a file grew past the largest size the file system allows{target}",
                            hint="write to a file system that allows larger files")
    if number == errno.EROFS:
        return StorageError(f"read-only file system{target}",
                            hint="remount it read-write, or use --home DIR / an output folder on a writable disk")
    if number in (errno.EACCES, errno.EPERM):
        return StorageError(f"permission denied{target}",
                            hint="check the owner and permissions of that path and its folders (ls -ld)")
    if number == errno.EIO:
        return StorageError(f"input/output error{target}",
                            hint="the disk or the network file system failed (dmesg); run the command again")
    reason = exc.strerror or type(exc).__name__
    return StorageError(f"{reason}{target}" if path else f"{reason} ({exc})")


def _df(path: str | None) -> str:
    if not path:
        return " (df -h)"
    folder = Path(path).parent if not Path(path).is_dir() else Path(path)
    return f" (df -h {folder})"
