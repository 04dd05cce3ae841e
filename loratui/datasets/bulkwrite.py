"""Atomic replacement of many small files at once (batch caption writes, undo, redo).

Same guarantee as ``fsutil.atomic_write_bytes`` — a reader (or a crash) sees the old file or the new one,
never a mix — organised for tens of thousands of captions:

1. every temp file is created (``O_EXCL``, next to its target, mode carried over) and written, in one thread:
   creating files in one folder from several threads only contends on the folder's lock;
2. one ``os.sync()`` puts all their data on disk (instead of one fsync per file);
3. the renames run on a thread pool: replacing a file frees the old one's blocks, which on some disks (online
   discard, network block devices) waits on I/O; many renames in flight overlap those waits;
4. each touched folder is fsynced once, so the renames are durable.

On Linux an existing file is swapped in with ``renameat2(RENAME_EXCHANGE)`` rather than renamed over: the swap is
just as atomic but does not free the old inode while holding the folder's lock, which is what makes a rename
over a file slow on ext4 (~0.12 ms here). The old version, now under the temp name, is unlinked on the thread
pool afterwards; if a crash comes first, recovery removes it like any stray temp file.

A file whose permission bits say read-only is refused (PermissionError) rather than replaced behind the
user's back: replacing via rename would otherwise succeed. A symbolic link, a folder or any other non-regular
file at a target path is refused too (never written through, never swapped for a regular file). An optional
guard per file runs right before its rename and can still refuse it (``Refused``): the journal uses it to check
that nobody changed the file since it was read.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from loratui.fsutil import fsync_dir

RENAME_THREADS = 16
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_counter = itertools.count()

Guard = Callable[[], "str | None"]
"""Called right before a file's rename: None lets it go ahead, a reason refuses it."""


class Refused(OSError):
    """A guard refused the rename; the message is its reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_temp(path: str, data: bytes, umask: int) -> str:
    try:
        old = os.lstat(path)
    except FileNotFoundError:
        old = None
    if old is not None and stat.S_ISLNK(old.st_mode):
        raise OSError(errno.ELOOP, "the file is a symbolic link: not replaced", str(path))
    if old is not None and not stat.S_ISREG(old.st_mode):
        raise OSError(errno.EISDIR if stat.S_ISDIR(old.st_mode) else errno.EINVAL, "not a regular file", str(path))
    if old is not None and not old.st_mode & stat.S_IWUSR:
        raise PermissionError(13, "file is read-only", str(path))
    mode = stat.S_IMODE(old.st_mode) if old is not None else 0o666 & ~umask
    while True:
        folder, name = os.path.split(path)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}-{next(_counter)}.tmp")
        try:
            fd = os.open(tmp, _FLAGS, mode)
            break
        except FileExistsError:
            continue
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        if mode & ~umask != mode:  # the umask took bits the old file had
            os.chmod(tmp, mode)
        if old is not None and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.chown(tmp, old.st_uid, old.st_gid)
            except (PermissionError, AttributeError):
                pass
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _load_renameat2():
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


_renameat2 = _load_renameat2()
_exchange_works = _renameat2 is not None


def _exchange(tmp: str, path: str) -> bool:
    """Atomically swap two existing names; False where the system or file system cannot."""
    global _exchange_works
    if not _exchange_works:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(path), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        _exchange_works = False  # e.g. a file system without RENAME_EXCHANGE support
    return False


def _rename(tmp: str, path: str, guard: Guard | None, old_inodes: list[str]) -> os.stat_result | OSError:
    try:
        reason = guard() if guard is not None else None
        if reason is not None:
            raise Refused(reason)
        if _exchange(tmp, path):
            old_inodes.append(tmp)  # the previous version, now under the temp name
        else:
            os.replace(tmp, path)
        return os.stat(path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return exc


def _unlink_all(paths: list[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _rename_all(jobs: list[tuple[int, str, str, Guard | None]]) -> tuple[list[os.stat_result | OSError], list[str]]:
    old_inodes: list[str] = []
    return [_rename(tmp, path, guard, old_inodes) for _, tmp, path, guard in jobs], old_inodes


def atomic_write_batch(items: list[tuple[str | Path, bytes]], guards: list[Guard | None] | None = None
                       ) -> list[os.stat_result | OSError]:
    """Atomically replace (or create) each path with its bytes; returns per item the new file's stat or the error
    (``Refused`` when its guard, called right before the rename, gave a reason)."""
    results: list[os.stat_result | OSError | None] = [None] * len(items)
    umask = _umask()
    jobs: list[tuple[int, str, str, Guard | None]] = []
    for index, (path, data) in enumerate(items):
        path = os.fspath(path)
        try:
            jobs.append((index, _write_temp(path, data, umask), path, guards[index] if guards else None))
        except OSError as exc:
            results[index] = exc
    if not jobs:
        return results  # type: ignore[return-value]
    if len(jobs) > 8:
        os.sync()
        threads = min(RENAME_THREADS, len(jobs))
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(_rename_all, [jobs[i::threads] for i in range(threads)]))
            done = [None] * len(jobs)
            for i, (part, _) in enumerate(parts):
                done[i::threads] = part
            # Swaps are durable once the folders are fsynced; the old versions can go after that.
            for folder in {os.path.dirname(path) for _, _, path, _ in jobs}:
                fsync_dir(folder)
            list(pool.map(_unlink_all, [old for _, old in parts]))
    else:
        for _, tmp, _, _ in jobs:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        done, old_inodes = _rename_all(jobs)
        _unlink_all(old_inodes)
    for (index, _, _, _), outcome in zip(jobs, done):
        results[index] = outcome
    for folder in {os.path.dirname(path) for _, _, path, _ in jobs}:
        fsync_dir(folder)
    return results  # type: ignore[return-value]
