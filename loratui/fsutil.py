"""Small filesystem helpers: atomic writes and containment checks."""

from __future__ import annotations

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


def atomic_write_many(items: list[tuple[Path, bytes]], *, preserve: bool = True) -> list[BaseException | None]:
    """Atomically replace many files; returns one error (or None) per item, in order.

    Same guarantees as ``atomic_write_bytes`` (readers see the old or the new file, never a mix; the data is
    on disk before the rename) at a fraction of the cost for big batches: all temp files are written first,
    flushed with one ``os.sync()`` instead of one fsync each, then renamed, then each folder is fsynced once.
    """
    errors: list[BaseException | None] = [None] * len(items)
    temps: list[tuple[int, str, Path]] = []
    many = len(items) > 8
    for index, (path, data) in enumerate(items):
        path = Path(path)
        try:
            old = os.stat(path) if preserve and os.path.exists(path) else None
            if old is not None and not old.st_mode & stat.S_IWUSR:
                # Replacing via rename would succeed; honour the user's read-only mark instead.
                raise PermissionError(13, "file is read-only", str(path))
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    if not many:
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
            except BaseException:
                os.unlink(tmp_name)
                raise
            temps.append((index, tmp_name, path))
        except OSError as exc:
            errors[index] = exc
    if many and temps:
        os.sync()
    folders = set()
    for index, tmp_name, path in temps:
        try:
            os.replace(tmp_name, path)
            folders.add(path.parent)
        except OSError as exc:
            errors[index] = exc
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    for folder in folders:
        fsync_dir(folder)
    return errors
