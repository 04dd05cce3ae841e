"""One writer at a time per dataset, across processes: ``async with writer(store, dataset, "tags add"): ...``.

Every loratui code path that writes or moves files of a dataset (batch operations, caption saves, taggers,
undo/redo/recover, duplicate moves and the index refresh after them) holds this lock from the moment it reads
what it will change until its last rename is recorded in the store. Two writers of one dataset therefore run
one after the other, and the second one sees the first one's result.

The lock is ``flock(LOCK_EX)`` on ``<home>/locks/dataset-<key>.lock``, next to the database; the key is a hash
of the dataset folder's real path, so two names for one folder share a lock. The kernel releases a flock when
its process dies (kill -9 included): a crash never leaves a stale lock behind, and there is nothing to clean up.
The file is never deleted (deleting a lock file others may have open would split the lock in two). While held,
it holds one JSON line, ``{"pid", "operation", "dataset", "since"}``, so a waiter can say what it waits for.
Separate opens conflict even within one process, so a TUI save waits for a tagging job of the same TUI.

How to wait is the front end's choice, set for a task with ``wait_policy`` (the CLI's ``--no-wait``, the TUI's
notification): by default a writer waits (polling, so that it can be cancelled) up to ``DEFAULT_TIMEOUT_S``,
calling ``on_wait`` once per holder with "waiting for <operation> (pid N) ...". Re-entrant within a task: a
command that holds the lock calls core functions that take it again. Only the task that took it re-enters: a
task started meanwhile (another save, a tagging job) waits like any other writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator, Callable, Iterator

from loratui.errors import JobError

if TYPE_CHECKING:
    from loratui.datasets.dataset_repo import Dataset
    from loratui.store import Store

LOCKS_DIR = "locks"
DEFAULT_TIMEOUT_S = 600.0
POLL_S = (0.02, 0.25)
"""First and longest pause between two tries while waiting."""


class DatasetBusyError(JobError):
    """Another writer holds a dataset's lock (``--no-wait``, or waiting timed out)."""

    title = "Dataset busy"


@dataclass(frozen=True)
class Holder:
    """Who holds a dataset's lock, as its lock file says."""

    pid: int
    operation: str
    since: float

    def describe(self) -> str:
        """'tags add (pid 123)', control characters escaped (an operation's name can hold a user's tag)."""
        operation = "".join(c if c.isprintable() else repr(c)[1:-1] for c in self.operation)
        return f"{operation} (pid {self.pid})"


@dataclass(frozen=True)
class WaitPolicy:
    """How a writer waits for a dataset's lock."""

    no_wait: bool = False
    """Fail at once with DatasetBusyError instead of waiting."""
    timeout_s: float = DEFAULT_TIMEOUT_S
    on_wait: Callable[[str], None] | None = None
    """Told, once per holder, what the writer waits for (a line for stderr or a notification)."""


_policy: contextvars.ContextVar[WaitPolicy] = contextvars.ContextVar("writelock_policy", default=WaitPolicy())
_held: contextvars.ContextVar[tuple[tuple[str, object], ...]] = contextvars.ContextVar("writelock_held", default=())
"""(lock file, task holding it) pairs: a task started meanwhile inherits them, but only the holder re-enters."""


@contextlib.contextmanager
def wait_policy(*, no_wait: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S,
                on_wait: Callable[[str], None] | None = None) -> Iterator[WaitPolicy]:
    """Use this policy for every dataset lock taken in the current task (and the tasks it starts) meanwhile."""
    policy = WaitPolicy(no_wait, timeout_s, on_wait)
    token = _policy.set(policy)
    try:
        yield policy
    finally:
        _policy.reset(token)


def lock_path(db_path: Path, dataset_path: Path) -> Path:
    """The lock file of a dataset folder, in the ``locks`` folder beside the database."""
    key = hashlib.sha256(os.fsencode(os.path.realpath(dataset_path))).hexdigest()[:20]
    return Path(db_path).parent / LOCKS_DIR / f"dataset-{key}.lock"


def read_holder(fd: int) -> Holder | None:
    """The holder recorded in an open lock file (None when empty or being rewritten)."""
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return Holder(int(record["pid"]), str(record["operation"]), float(record["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


_NOBODY = object()


def _who(holder: Holder | None) -> str:
    return holder.describe() if holder is not None else "another loratui writer"


def _busy_message(name: str, holder: Holder | None) -> str:
    return f"{_who(holder)} is writing dataset {name!r}"


async def _acquire(fd: int, name: str, policy: WaitPolicy) -> None:
    if _try_lock(fd):
        return
    holder = read_holder(fd)
    if policy.no_wait:
        raise DatasetBusyError(_busy_message(name, holder), hint="wait for it to finish, or run without --no-wait")
    started = time.monotonic()
    told: object = _NOBODY
    pause = POLL_S[0]
    while True:
        if policy.on_wait is not None and holder != told:
            policy.on_wait(f"waiting for {_who(holder)} to finish writing dataset {name!r}")
            told = holder
        waited = time.monotonic() - started
        if waited >= policy.timeout_s:
            raise DatasetBusyError(f"{_busy_message(name, holder)}; gave up after waiting {waited:.0f} s",
                                   hint="try again when it has finished")
        await asyncio.sleep(min(pause, max(policy.timeout_s - waited, 0.0)))
        pause = min(pause * 2, POLL_S[1])
        if _try_lock(fd):
            return
        holder = read_holder(fd) or holder


@contextlib.asynccontextmanager
async def writer(store: "Store", dataset: "Dataset", operation: str) -> AsyncIterator[None]:
    """Hold `dataset`'s writer lock for `operation` (a short name: 'tags add', 'undo', 'caption edit').

    Waits as the current ``wait_policy`` says; raises DatasetBusyError when it may not wait or waited too long.
    """
    path = lock_path(store.path, dataset.path)
    key = str(path)
    task = asyncio.current_task()
    if (key, task) in _held.get():
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        await _acquire(fd, dataset.name, _policy.get())
        record = json.dumps({"pid": os.getpid(), "operation": operation, "dataset": dataset.name,
                             "since": time.time()}, ensure_ascii=True)
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode("ascii") + b"\n", 0)
        token = _held.set(_held.get() + ((key, task),))
        try:
            yield
        finally:
            _held.reset(token)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the last descriptor of the open file releases the flock

