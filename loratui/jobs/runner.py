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
"""

from __future__ import annotations

import time
from typing import Any, Callable

from loratui.errors import LoratuiError
from loratui.jobs import repo
from loratui.jobs.model import Job, JobStatus
from loratui.store import Store

PROGRESS_INTERVAL_S = 0.5
CANCEL_POLL_S = 0.5


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
    ) -> "JobRunner":
        """Create (or resume) a job and claim it for this process."""
        params = params or {}
        previous = await store.run(repo.find_resumable, kind, dataset_id, params) if resume else None
        if previous is not None:
            job, done = previous, await store.run(repo.finished_items, previous.id)
        else:
            job = await store.run(repo.create_job, kind, title=title, dataset_id=dataset_id, params=params)
            done = set()
        return cls(store, await store.run(repo.claim_job, job.id), done)

    @property
    def id(self) -> int:
        """The job id."""
        return self.job.id

    def cancel(self) -> None:
        """Ask this job to stop at the next check (same process)."""
        self._cancel = True

    async def check_cancelled(self) -> None:
        """Raise Cancelled if a cancel was requested here or from another process."""
        if self._cancel:
            raise Cancelled()
        now = time.monotonic()
        if now - self._last_poll >= CANCEL_POLL_S:
            self._last_poll = now
            if await self.store.run(repo.cancel_requested, self.id):
                self._cancel = True
                raise Cancelled()

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

    async def _write(self, force: bool = False) -> None:
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
        await self.store.run(repo.record_progress, self.id, fields, items=items)
        self.job = await self.store.run(repo.get_job, self.id)
        for listener in self.listeners:
            listener(self.job)

    async def set_outputs(self, outputs: list[str]) -> None:
        """Record the files the job made (the last one is its main output)."""
        await self.store.run(repo.update_job, self.id, output=outputs[-1] if outputs else None, outputs=outputs)

    async def finish(self, status: JobStatus, message: str | None = None, error: str | None = None) -> None:
        """Write the final state."""
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
