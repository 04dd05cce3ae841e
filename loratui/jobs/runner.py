"""Running an in-process job: throttled progress, cancellation between items, resume.

Usage::

    runner = await JobRunner.start(store, "tag", dataset_id=ds.id, params=params, title="Tag mydata")
    todo = [i for i in items if i.key not in runner.done]
    async with runner:                     # marks completed / failed / cancelled / interrupted
        for item in todo:
            await runner.check_cancelled()   # raises Cancelled
            ...
            await runner.item_done(item.key)
            await runner.progress(advance=1)

``JobRunner.start`` reuses the newest interrupted/failed/cancelled job with the same kind, dataset and
parameters, so a re-run skips the items it finished (``runner.done``).

A job that must wait before its first item (a model download, an endpoint to answer) starts as ``preparing``
with a message saying what it waits for (``start(..., status=JobStatus.PREPARING, message=...)``), so it shows
from the moment the user starts it; ``set_state`` moves it on. ``until_cancelled(awaitable)`` waits for such
work and stops waiting as soon as a cancel is requested (from this process or another), raising ``Cancelled``:
a network call or its back-off sleeps never hold a cancel up. Work running in a thread cannot be interrupted
from outside; it is left to end by itself, and ``stop_flag`` tells it to stop at its next check.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Awaitable, Callable, TypeVar

from loratui.errors import LoratuiError
from loratui.jobs import repo
from loratui.jobs.model import Job, JobStatus
from loratui.store import Store

PROGRESS_INTERVAL_S = 0.5
CANCEL_POLL_S = 0.5

T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside a job when a cancel was requested."""


class JobRunner:
    """Drives one job row from start to a terminal state."""

    def __init__(self, store: Store, job: Job, done: set[str]) -> None:
        self.store = store
        self.job = job
        self.done = done
        self.resumed = bool(done)
        self._done_count = len(done)
        self._total: int | None = None
        self._message: str | None = None
        self._last_write = 0.0
        self._last_poll = 0.0
        self._cancel = False
        self._pending_items: list[str] = []
        self._started = time.monotonic()
        self._done_at_start = len(done)
        self.listeners: list[Callable[[Job], None]] = []
        self.stop_flag = threading.Event()
        """Set once a cancel is known: work in threads checks it (a download's progress callback, for one)."""
        self._cancel_event: asyncio.Event | None = None
        self._watch_task: asyncio.Task | None = None

    @classmethod
    async def start(
        cls,
        store: Store,
        kind: str,
        *,
        title: str = "",
        dataset_id: int | None = None,
        params: dict[str, Any] | None = None,
        resume: bool = True,
        status: JobStatus = JobStatus.RUNNING,
        message: str | None = None,
    ) -> "JobRunner":
        """Create (or resume) a job and claim it for this process, in `status` (running, or preparing while it
        waits for something `message` names)."""
        params = params or {}
        previous = await store.run(repo.find_resumable, kind, dataset_id, params) if resume else None
        if previous is not None:
            done = await store.run(repo.finished_items, previous.id)
            job = await store.run(repo.claim_job, previous.id, status, message)
        else:
            done = set()
            job = await store.run(repo.create_claimed_job, kind, title=title, dataset_id=dataset_id, params=params,
                                  status=status, message=message)
        runner = cls(store, job, done)
        runner._message = message
        return runner

    @property
    def id(self) -> int:
        """The job id."""
        return self.job.id

    def cancel(self) -> None:
        """Ask this job to stop at the next check (same process)."""
        self._cancelled()

    def _cancelled(self) -> None:
        self._cancel = True
        self.stop_flag.set()
        if self._cancel_event is not None:
            self._cancel_event.set()

    async def check_cancelled(self) -> None:
        """Raise Cancelled if a cancel was requested here or from another process."""
        if self._cancel:
            raise Cancelled()
        now = time.monotonic()
        if now - self._last_poll >= CANCEL_POLL_S:
            self._last_poll = now
            if await self.store.run(repo.cancel_requested, self.id):
                self._cancelled()
                raise Cancelled()

    async def until_cancelled(self, awaitable: Awaitable[T], *, status: Callable[[], str | None] | None = None
                              ) -> T:
        """The result of `awaitable`, unless a cancel is requested first: then it is cancelled and Cancelled is
        raised at once (within CANCEL_POLL_S of the request). `status()` is asked every CANCEL_POLL_S for the
        job's message (None: unchanged) while waiting."""
        task = asyncio.ensure_future(awaitable)
        self._watch_cancel()
        assert self._cancel_event is not None
        waiter = asyncio.ensure_future(self._cancel_event.wait())
        try:
            while not task.done() and not waiter.done():
                await asyncio.wait({task, waiter}, timeout=CANCEL_POLL_S, return_when=asyncio.FIRST_COMPLETED)
                message = status() if status is not None and not task.done() else None
                if message is not None and message != self._message:
                    self._message = message
                    await self._write(force=True)
        except BaseException:
            task.cancel()
            raise
        finally:
            waiter.cancel()
        if task.done():
            return task.result()
        task.cancel()
        # Work in a thread goes on until it ends by itself; its outcome no longer matters.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        raise Cancelled()

    def _watch_cancel(self) -> None:
        """Start (once) the task that turns a cancel request in the database into ``_cancel_event``."""
        if self._cancel_event is None:
            self._cancel_event = asyncio.Event()
            if self._cancel:
                self._cancel_event.set()
        if self._watch_task is None and not self._cancel:
            self._watch_task = asyncio.ensure_future(self._poll_cancel())

    async def _poll_cancel(self) -> None:
        while not self._cancel:
            await asyncio.sleep(CANCEL_POLL_S)
            if await self.store.run(repo.cancel_requested, self.id):
                self._cancelled()

    async def set_state(self, status: JobStatus, message: str | None = None) -> None:
        """Move the job to `status` (preparing -> running), saying what it does now."""
        if message is not None:
            self._message = message
        await self._write(force=True, status=status)

    async def set_total(self, total: int) -> None:
        """Set how many items the job has in all (finished ones included)."""
        self._total = total
        await self._write(force=True)

    async def item_done(self, key: str) -> None:
        """Record one finished item (written with the next progress update)."""
        self._pending_items.append(key)
        self.done.add(key)

    async def progress(self, advance: int = 1, message: str | None = None, force: bool = False) -> None:
        """Advance the done counter; the row is written at most every PROGRESS_INTERVAL_S."""
        self._done_count += advance
        if message is not None:
            self._message = message
        await self._write(force=force)

    async def _write(self, force: bool = False, status: JobStatus | None = None) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < PROGRESS_INTERVAL_S:
            return
        self._last_write = now
        items, self._pending_items = self._pending_items, []
        elapsed = now - self._started
        new_done = self._done_count - self._done_at_start
        speed = new_done / elapsed if elapsed > 0 and new_done else None
        eta = (self._total - self._done_count) / speed if speed and self._total else None
        fields: dict[str, Any] = {"progress_done": self._done_count, "heartbeat_at": time.time(),
                                  "speed": speed, "eta_s": eta}
        if self._total is not None:
            fields["progress_total"] = self._total
        if self._message is not None:
            fields["message"] = self._message
        if status is not None:
            fields["status"] = status
        await self.store.run(repo.record_progress, self.id, fields, items=items)
        self.job = await self.store.run(repo.get_job, self.id)
        for listener in self.listeners:
            listener(self.job)

    async def set_outputs(self, outputs: list[str]) -> None:
        """Record the files the job made (the last one is its main output)."""
        await self.store.run(repo.update_job, self.id, output=outputs[-1] if outputs else None, outputs=outputs)

    async def finish(self, status: JobStatus, message: str | None = None, error: str | None = None) -> None:
        """Write the final state."""
        if self._watch_task is not None:
            self._watch_task.cancel()
            self._watch_task = None
        await self._write(force=True)
        fields: dict[str, Any] = {"status": status, "finished_at": time.time(), "eta_s": None}
        if message is not None:
            fields["message"] = message
        if error is not None:
            fields["error"] = error
        await self.store.run(repo.update_job, self.id, **fields)
        self.job = await self.store.run(repo.get_job, self.id)
        for listener in self.listeners:
            listener(self.job)

    async def __aenter__(self) -> "JobRunner":
        return self

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            if not self.job.terminal:
                await self.finish(JobStatus.COMPLETED)
            return False
        if issubclass(exc_type, Cancelled):
            await self.finish(JobStatus.CANCELLED, message="cancelled; run it again to resume")
            return False
        if issubclass(exc_type, (KeyboardInterrupt, SystemExit)) or exc_type.__name__ == "CancelledError":
            await self.finish(JobStatus.INTERRUPTED, message="interrupted; run it again to resume")
            return False
        text = exc.one_line() if isinstance(exc, LoratuiError) else f"{exc_type.__name__}: {exc}"
        await self.finish(JobStatus.FAILED, message=text, error=text)
        return False
