"""Failures of the disk and the database: one clear line (exit 2) from the CLI, never a traceback.

Full disks are a file-size limit (RLIMIT_FSIZE with SIGXFSZ ignored) on a real `loratui` subprocess; a read-only
home is a read-only bind mount in a private mount namespace when the tests run as root (permissions do not
stop root), else chmod 555.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys

import pytest

from loratui.errors import DatabaseDamagedError, StorageError
from loratui.store import SCHEMA_VERSION, Store, connect
from loratui.store.failures import storage_error, sqlite_code
from tests.conftest import PYTHON, make_image, python_subprocess_env


def run_loratui(home, *args, fsize: int | None = None, readonly_home: bool = False, timeout: float = 120):
    """`python -m loratui --home HOME ARGS` in a subprocess; optionally with a file-size limit or a read-only
    home. Returns the CompletedProcess (text)."""
    argv = [PYTHON, "-m", "loratui", "--home", str(home), *map(str, args)]

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    if readonly_home:
        argv = readonly_argv(home, argv)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limit_file_size if fsize is not None else None,
                          env=python_subprocess_env({"COLUMNS": "200"}))


def readonly_argv(home, argv: list[str]) -> list[str]:
    """`argv` run with `home` read-only: chmod 555 (set by `make_readonly`) as a user, a read-only bind mount
    in a private mount namespace as root."""
    if os.geteuid() != 0:
        return argv
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(home), *argv]


def make_readonly(home) -> None:
    """Make `home` read-only for the next `run_loratui(..., readonly_home=True)`, or skip saying why not."""
    if os.geteuid() != 0:
        home.chmod(0o555)
        return
    if shutil.which("unshare") is None:
        pytest.skip("running as root, where permissions do not apply, and unshare(1) is missing")
    probe = subprocess.run(readonly_argv(home, ["sh", "-c", f'touch "{home}/probe"']), capture_output=True)
    if probe.returncode == 0 or (home / "probe").exists():
        pytest.skip("running as root and a read-only bind mount is not possible here: "
                    + probe.stderr.decode(errors="replace").strip())


def one_error_line(result, *fragments: str) -> str:
    """The error line of a failed command: exit 2, no traceback, the last stderr line names the fragments."""
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("loratui: "), result.stderr
    for fragment in fragments:
        assert fragment in line, line
    return line


# -- translation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("message", "code", "words"), [
    ("database or disk is full", "SQLITE_FULL", "full"),
    ("attempt to write a readonly database", "SQLITE_READONLY", "read-only"),
    ("disk I/O error", "SQLITE_IOERR", "disk"),
    ("database is locked", "SQLITE_BUSY", "locked by another process"),
    ("file is not a database", "SQLITE_NOTADB", "damaged"),
    ("database disk image is malformed", "SQLITE_CORRUPT", "damaged"),
])
def test_sqlite_failures_become_storage_errors(tmp_path, message, code, words):
    exc = sqlite3.OperationalError(message)
    assert sqlite_code(exc) == code
    error = storage_error(exc, tmp_path / "loratui.db")
    assert isinstance(error, StorageError) and words in error.message and error.hint
    assert str(tmp_path / "loratui.db") in error.message
    if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        assert isinstance(error, DatabaseDamagedError) and "doctor --repair" in error.hint


def test_other_sqlite_errors_keep_their_type():
    assert storage_error(sqlite3.IntegrityError("UNIQUE constraint failed: x.y")) is None
    assert storage_error(sqlite3.OperationalError("no such table: nope")) is None
    assert storage_error(ValueError("a bug")) is None


@pytest.mark.parametrize(("number", "words"), [
    (errno.ENOSPC, "no space left"), (errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied"),
    (errno.EDQUOT, "quota"), (errno.EIO, "input/output error"), (errno.ENOENT, "No such file"),
])
def test_os_failures_become_storage_errors(number, words):
    error = storage_error(OSError(number, os.strerror(number), "/data/x.txt"))
    assert isinstance(error, StorageError) and words in error.message and "/data/x.txt" in error.message


def test_file_size_limit_is_named(monkeypatch):
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1000, resource.RLIM_INFINITY))
    error = storage_error(OSError(errno.EFBIG, "File too large", "/data/big"))
    assert "file-size limit of 1,000 bytes" in error.message and "ulimit -f" in error.hint


async def test_store_translates_failures_of_its_connection(tmp_path):
    async with Store.open(tmp_path / "x.db") as store:
        await store.run(lambda c: c.execute("PRAGMA query_only = 1"))
        with pytest.raises(StorageError, match="read-only"):
            await store.run(lambda c: c.execute("INSERT INTO workspaces (name, created_at) VALUES ('w', 0)"))
        with pytest.raises(StorageError, match="read-only"):
            await store.read(lambda c: c.execute("INSERT INTO workspaces (name, created_at) VALUES ('w', 0)"))
        with pytest.raises(sqlite3.OperationalError, match="no such table"):  # a bug keeps its type
            await store.run(lambda c: c.execute("SELECT * FROM nope"))


# -- the CLI, end to end ----------------------------------------------------------------------------------------


def test_full_disk_while_creating_the_database(tmp_path):
    result = run_loratui(tmp_path / "home", "dataset", "list", fsize=20_000)
    one_error_line(result, "Storage error", "file-size limit of 20,000 bytes", "loratui.db")


def test_full_disk_during_a_scan_says_so_not_cannot_rollback(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    # Enough rows that the scan's WAL outgrows the limit whatever size the migrated, empty database has (with 40
    # images it fit in the WAL once migrations had grown the empty database by 24 KiB).
    for index in range(80):
        make_image(data / f"img{index:02d}.png", size=(96, 96), color=(index * 6, 90, 200 - index * 4))
        (data / f"img{index:02d}.txt").write_text(f"tag{index}, " + "word " * 60)
    assert run_loratui(home, "dataset", "list").returncode == 0  # the database exists: the scan hits the limit
    limit = (home / "loratui.db").stat().st_size + 24_576
    result = run_loratui(home, "dataset", "add", data, "--name", "big", "--workers", "1", fsize=limit)
    line = one_error_line(result, "Storage error")
    assert "cannot rollback" not in result.stderr and "file-size limit" in line


def test_corrupt_or_truncated_database_is_refused_with_the_repair(tmp_path):
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "loratui.db").write_bytes(os.urandom(16_384))
    one_error_line(run_loratui(garbage, "dataset", "list"), "Damaged database", "file is not a database",
                   "loratui doctor --repair", "no backup")

    truncated = tmp_path / "truncated"
    assert run_loratui(truncated, "dataset", "list").returncode == 0
    db = truncated / "loratui.db"
    with open(db, "r+b") as handle:
        handle.truncate(db.stat().st_size // 2)
    one_error_line(run_loratui(truncated, "jobs"), "Damaged database", "loratui doctor --repair")


def test_database_path_that_is_a_folder(tmp_path):
    home = tmp_path / "home"
    (home / "loratui.db").mkdir(parents=True)
    one_error_line(run_loratui(home, "dataset", "list"), "it is a folder, not a file", "--home")


def test_read_only_home_reads_and_refuses_writes_clearly(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    make_image(data / "a.png")
    make_image(tmp_path / "other" / "b.png")
    assert run_loratui(home, "dataset", "add", data, "--name", "ro_ds").returncode == 0
    conn = connect(home / "loratui.db")
    from loratui.jobs import repo
    from loratui.jobs.model import JobStatus

    job = repo.create_job(conn, "train", title="old run", status=JobStatus.COMPLETED, params={"family": "sdxl"})
    conn.close()
    make_readonly(home)

    listed = run_loratui(home, "dataset", "list", readonly_home=True)
    assert listed.returncode == 0 and "ro_ds" in listed.stdout, listed.stderr
    jobs = run_loratui(home, "jobs", readonly_home=True)
    assert jobs.returncode == 0 and "old run" in jobs.stdout, jobs.stderr
    status = run_loratui(home, "train", "status", str(job.id), readonly_home=True)
    assert status.returncode == 0 and "completed" in status.stdout, status.stderr

    one_error_line(run_loratui(home, "dataset", "add", tmp_path / "other", "--name", "second", readonly_home=True),
                   "read-only")
    one_error_line(run_loratui(home, readonly_home=True), "read-only", "the terminal UI needs to write")


def test_read_only_home_with_an_old_schema_says_it_cannot_migrate(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    conn = sqlite3.connect(home / "loratui.db")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("CREATE TABLE settings (key TEXT)")
    conn.close()
    make_readonly(home)
    one_error_line(run_loratui(home, "dataset", "list", readonly_home=True),
                   f"needs migrating to {SCHEMA_VERSION}", "read-only")


def test_an_unexpected_error_is_one_line_and_a_crash_log(cli, home, monkeypatch):
    from loratui.cli.commands import dataset

    def broken(ctx, args):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(dataset, "cmd_list", broken)
    result = cli("dataset", "list")
    assert result.code == 1 and "Traceback" not in result.err and result.err.count("\n") == 1
    assert "unexpected error (a bug in loratui): RecursionError" in result.err
    log = home / "crash.log"
    assert str(log) in result.err and "Traceback (most recent call last)" in log.read_text()


def test_error_lines_are_literal(cli, home):
    result = cli("dataset", "show", "no\x1b[2Jsuch\x9b")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "\x1b" not in result.err and "\x9b" not in result.err and "[2J" in result.err


@pytest.mark.skipif(sys.platform != "linux", reason="mount namespaces are Linux")
def test_readonly_helper_really_makes_the_home_read_only(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    make_readonly(home)
    result = subprocess.run(readonly_argv(home, ["sh", "-c", f'touch "{home}/x"']), capture_output=True)
    assert result.returncode != 0 and not (home / "x").exists()
