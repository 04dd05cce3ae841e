"""Small filesystem helpers: atomic writes, containment checks, file hashes, and safe opens of dataset files.

``open_regular`` is the one way loratui opens a file that comes from a dataset (an image, a caption, and later a
video or a control image): it opens regular files only, never follows a symlink out of the dataset, never blocks on
a FIFO or a device, and says in words why a file was refused (``FileRefused``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO


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


def hash_file(path: str | os.PathLike | BinaryIO, digest, chunk: int = 1 << 20):
    """Feed the bytes of `path` to `digest` (a ``hashlib`` object), `chunk` bytes at a time; returns `digest`.

    `path` may also be a binary file opened for reading (read from where it stands, left open). Memory stays at
    one chunk whatever the file's size. For a digest that starts with a prefix (git's blob header, say), update it
    before calling this.
    """
    if hasattr(path, "read"):
        for block in iter(lambda: path.read(chunk), b""):
            digest.update(block)
        return digest
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The SHA-256 of the file at `path`, as lowercase hex (64 characters); reads it in `chunk`-byte blocks."""
    return hash_file(path, hashlib.sha256(), chunk).hexdigest()


class FileRefused(OSError):
    """A file loratui did not open, and why.

    ``str(error)`` (and ``reason``) is a predicate to put after the file's name: "is a FIFO (named pipe), not a
    regular file". ``kind`` is one of ``missing``, ``symlink``, ``outside``, ``directory``, ``special``,
    ``permission``, ``too_large`` or ``unreadable``; ``stat`` is the file's own ``lstat`` when it was read.
    """

    def __init__(self, kind: str, reason: str, st: os.stat_result | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.stat = st

    def __str__(self) -> str:
        return self.reason


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_CLOEXEC
# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; O_NOCTTY: a terminal device
# opened by mistake must not become the controlling terminal. Regular files ignore both.
_FILE_FLAGS = (os.O_RDONLY | _O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | _O_CLOEXEC
               | getattr(os, "O_BINARY", 0))
_HAVE_DIR_FD = os.open in os.supports_dir_fd and os.stat in os.supports_dir_fd and _O_NOFOLLOW != 0


def open_regular(path: str | os.PathLike, *, root: str | os.PathLike | None = None, follow_links_inside: bool = False,
                 max_size: int | None = None) -> tuple[BinaryIO, os.stat_result]:
    """Open a dataset file for reading, only if it is a regular file; returns (binary handle, its ``fstat``).

    With `root` (the dataset folder, trusted as given), `path` (absolute, or relative to `root`) must lie inside it
    and no component below `root` is followed when it is a symlink: the folders are opened one by one with
    ``O_NOFOLLOW`` (``openat``), so a folder swapped for a link mid-scan cannot lead outside. With
    `follow_links_inside`, a symlink whose target resolves inside `root` is opened at its target (a kohya folder
    may link one image into two subsets); one that leaves `root` is refused. Without `root` the folder part of
    `path` is trusted and only its last component is checked.

    The file itself is checked with ``lstat`` before it is opened (a device is never opened), opened with
    ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO swapped in meanwhile cannot block) and checked again with ``fstat``.
    Raises ``FileRefused`` with the reason; files over `max_size` bytes are refused as ``too_large``.
    """
    if root is None:
        folder, name = os.path.split(os.fspath(path))
        fd = _open_in(folder or ".", [], [name])
    else:
        parts = _parts_below(root, path)
        try:
            fd = _open_in(os.fspath(root), parts[:-1], parts[-1:])
        except FileRefused as exc:
            if exc.kind != "symlink" or not follow_links_inside:
                raise
            fd = _open_in(*_resolved_inside(root, parts))
    try:
        st = os.fstat(fd)
        if max_size is not None and st.st_size > max_size:
            raise FileRefused("too_large", f"is {_size_text(st.st_size)}, over the {_size_text(max_size)} limit", st)
        return os.fdopen(fd, "rb"), st
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, *, root: str | os.PathLike | None = None,
                 follow_links_inside: bool = False, max_size: int | None = None) -> tuple[bytes, os.stat_result]:
    """The whole content of a dataset file opened by ``open_regular`` (same arguments), and its ``fstat``."""
    handle, st = open_regular(path, root=root, follow_links_inside=follow_links_inside, max_size=max_size)
    with handle:
        return handle.read(), st


def _parts_below(root: str | os.PathLike, path: str | os.PathLike) -> list[str]:
    """The components of `path` below `root`, lexically; FileRefused for a path that is not below it."""
    try:
        rel = os.path.relpath(os.path.join(os.fspath(root), os.fspath(path)), os.fspath(root))
    except ValueError:  # another drive (Windows)
        rel = ".."
    parts = [p for p in rel.replace(os.sep, "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or os.path.isabs(rel):
        raise FileRefused("outside", f"is outside the dataset folder {os.fspath(root)}: not opened")
    return parts


def _resolved_inside(root: str | os.PathLike, parts: list[str]) -> tuple[str, list[str], list[str]]:
    """(real root, folders, [name]) of a linked file's real location; FileRefused when it leaves `root`."""
    link = os.path.join(os.fspath(root), *parts)
    real_root = os.path.realpath(root)
    target = os.path.realpath(link)
    if os.path.commonpath([target, real_root]) != real_root or target == real_root:
        try:
            shown = os.readlink(link)
        except OSError:
            shown = target
        raise FileRefused("outside", f"is a symlink pointing outside the dataset ({shown}): not followed")
    real_parts = os.path.relpath(target, real_root).split(os.sep)
    # The real location is opened with the same no-follow walk: a link swapped in meanwhile is refused there.
    return real_root, real_parts[:-1], real_parts[-1:]


def _open_in(top: str, folders: list[str], last: list[str]) -> int:
    """Open `top` (followed), then each of `folders` without following links, then the file; returns its fd."""
    if not _HAVE_DIR_FD:
        return _open_without_dir_fd(os.path.join(top, *folders, *last))
    try:
        dir_fd = os.open(top, _DIR_FLAGS)
    except OSError as exc:
        raise _refusal(exc, "its folder", None) from None
    try:
        for index, folder in enumerate(folders):
            shown = "/".join(folders[:index + 1])
            try:
                next_fd = os.open(folder, _DIR_FLAGS | _O_NOFOLLOW, dir_fd=dir_fd)
            except OSError as exc:
                raise _folder_refusal(exc, dir_fd, folder, shown) from None
            os.close(dir_fd)
            dir_fd = next_fd
        return _open_last(dir_fd, last[0])
    finally:
        os.close(dir_fd)


def _open_last(dir_fd: int, name: str) -> int:
    try:
        lst = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        raise _refusal(exc, "it", None) from None
    _check_mode(lst.st_mode, lst)
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _refusal(exc, "it", lst) from None
    return _checked_fd(fd)


def _checked_fd(fd: int) -> int:
    """`fd` once ``fstat`` says it is a regular file, in blocking mode again; closed and refused otherwise."""
    try:
        st = os.fstat(fd)
        _check_mode(st.st_mode, st)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_without_dir_fd(path: str) -> int:
    """Where ``openat`` is missing (Windows): resolve, then open and check the file itself."""
    try:
        lst = os.lstat(path)
    except OSError as exc:
        raise _refusal(exc, "it", None) from None
    _check_mode(lst.st_mode, lst)
    try:
        fd = os.open(path, _FILE_FLAGS)
    except OSError as exc:
        raise _refusal(exc, "it", lst) from None
    return _checked_fd(fd)


def _check_mode(mode: int, st: os.stat_result) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISLNK(mode):
        raise FileRefused("symlink", "is a symlink: not followed", st)
    if stat.S_ISDIR(mode):
        raise FileRefused("directory", "is a folder, not a file", st)
    if stat.S_ISFIFO(mode):
        raise FileRefused("special", "is a FIFO (named pipe), not a regular file", st)
    if stat.S_ISSOCK(mode):
        raise FileRefused("special", "is a socket, not a regular file", st)
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise FileRefused("special", "is a device, not a regular file", st)
    raise FileRefused("special", "is not a regular file", st)


def _refusal(exc: OSError, what: str, st: os.stat_result | None) -> FileRefused:
    """The FileRefused for an OSError raised while opening a file (`what`: "it" or "its folder")."""
    code = exc.errno
    if code in (errno.ENOENT, errno.ENOTDIR):
        return FileRefused("missing", "does not exist (deleted or moved meanwhile?)" if what == "it"
                           else "does not exist: its folder is gone", st)
    if code == errno.ELOOP:
        return FileRefused("symlink", "is a symlink: not followed", st)
    if code in (errno.EACCES, errno.EPERM):
        return FileRefused("permission", "cannot be read: permission denied" if what == "it"
                           else "cannot be read: its folder is not accessible (permission denied)", st)
    if code == errno.ENXIO:
        return FileRefused("special", "is a socket or a device without a driver, not a regular file", st)
    if code == errno.EISDIR:
        return FileRefused("directory", "is a folder, not a file", st)
    if code == errno.EFBIG or code == getattr(errno, "EOVERFLOW", -1):
        return FileRefused("too_large", "is too large to open", st)
    return FileRefused("unreadable", f"cannot be read: {exc.strerror or exc}", st)


def _folder_refusal(exc: OSError, dir_fd: int, folder: str, shown: str) -> FileRefused:
    """Why a folder on the way to a file could not be opened without following links."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        try:
            is_link = stat.S_ISLNK(os.stat(folder, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        except OSError:
            is_link = False
        if is_link:
            return FileRefused("symlink", f"is inside a symlinked folder ({shown}): not followed")
    return _refusal(exc, "its folder", None)


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} bytes"
