"""Running blocking LoRA work (uploads, downloads) as loratui jobs: progress rows, cancellation.

``run_job`` starts a job row, runs ``work(progress)`` in a worker thread and copies the latest progress to the
row every half second. A cancel request (here or from `loratui jobs cancel`) makes the next ``progress`` call
inside the worker raise ``Cancelled``, so the work stops between chunks.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, TypeVar

from loratui.jobs.runner import Cancelled, JobRunner

T = TypeVar("T")
WorkProgress = Callable[[int, int | None, str | None], None]  # (done, total, message)


async def run_job(store, kind: str, title: str, params: dict[str, Any], work: Callable[[WorkProgress], T],
                  on_progress: WorkProgress | None = None,
                  on_start: Callable[[int], None] | None = None) -> tuple[int, T]:
    """Run `work` as a job of `kind`; returns (job id, its result). Errors mark the job failed and propagate."""
    runner = await JobRunner.start(store, kind, title=title, params=params, resume=False)
    if on_start:
        on_start(runner.id)
    state: dict[str, Any] = {"done": 0, "total": None, "message": None}
    stop = threading.Event()

    def progress(done: int, total: int | None, message: str | None = None) -> None:
        state.update(done=done, total=total, message=message)
        if on_progress:
            on_progress(done, total, message)
        if stop.is_set():
            raise Cancelled()

    written = 0
    async with runner:
        task = asyncio.ensure_future(asyncio.to_thread(work, progress))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.5)
                if state["total"] is not None and state["total"] != runner.job.progress_total:
                    await runner.set_total(state["total"])
                await runner.progress(state["done"] - written, message=state["message"])
                written = state["done"]
                try:
                    await runner.check_cancelled()
                except Cancelled:
                    stop.set()
        except BaseException:
            stop.set()
            raise
        result = await task
        await runner.progress(state["done"] - written, message=state["message"], force=True)
    return runner.id, result
