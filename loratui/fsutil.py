"""Small filesystem helpers: atomic writes, containment checks, file hashes."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, *, preserve: bool = True) -> None:
    """Write `data` to `path` atomically: temp file in the same folder, fsync, rename.

    When the file exists and `preserve` is set, its permission bits (and owner, where allowed)
    are carried over so the replacement differs only in content. The folder is fsynced so the
    rename itself survives a crash.
    """
    path = Path(path)
    folder = path.parent
    old: os.stat_result | None = None
    if preserve:
        try:
            old = os.stat(path)
        except FileNotFoundError:
            old = None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if old is not None:
            os.chmod(tmp_name, stat.S_IMODE(old.st_mode))
            try:
                os.chown(tmp_name, old.st_uid, old.st_gid)
            except (PermissionError, AttributeError):
                pass
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(folder)


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Atomically write text (no newline translation: what you pass is what lands)."""
    atomic_write_bytes(path, text.encode(encoding))


def fsync_dir(folder: Path) -> None:
    """fsync a directory so renames in it are durable (no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_within(root: Path, candidate: Path) -> bool:
    """True if `candidate` (resolved) lies inside `root` (resolved)."""
    try:
        Path(os.path.realpath(candidate)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True


def hash_file(path: str | os.PathLike, digest, chunk: int = 1 << 20):
    """Feed the bytes of `path` to `digest` (a ``hashlib`` object), `chunk` bytes at a time; returns `digest`.

    Memory stays at one chunk whatever the file's size. For a digest that starts with a prefix (git's blob
    header, say), update it before calling this.
    """
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The SHA-256 of the file at `path`, as lowercase hex (64 characters); reads it in `chunk`-byte blocks."""
    return hash_file(path, hashlib.sha256(), chunk).hexdigest()
