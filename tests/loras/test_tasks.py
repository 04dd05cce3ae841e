"""Blocking work as a job: progress reaches the row, a cancel request stops the worker between chunks."""

from __future__ import annotations

import asyncio
import threading

import pytest

from loratui.jobs.repo import get_job, request_cancel
from loratui.jobs.runner import Cancelled
from loratui.loras.tasks import run_job
from loratui.store import Store


async def test_progress_and_result(tmp_path):
    async with Store.open(tmp_path / "db.sqlite") as store:
        def work(progress):
            for i in range(1, 6):
                progress(i * 10, 50, f"chunk {i}")
            return "ok"

        job_id, result = await run_job(store, "download", "t", {"x": 1}, work)
        job = await store.run(get_job, job_id)
    assert result == "ok" and job.status.value == "completed"
    assert (job.progress_done, job.progress_total, job.message) == (50, 50, "chunk 5")


async def test_cancel_request_stops_the_worker(tmp_path):
    started = threading.Event()
    calls = []

    def work(progress):
        started.set()
        for i in range(2000):
            calls.append(i)
            progress(i, 2000, None)
            threading.Event().wait(0.005)
        return "finished"

    async with Store.open(tmp_path / "db.sqlite") as store:
        ids = []

        async def cancel_soon():
            while not ids or not started.is_set():
                await asyncio.sleep(0.02)
            await store.run(request_cancel, ids[0])

        canceller = asyncio.ensure_future(cancel_soon())
        with pytest.raises(Cancelled):
            await run_job(store, "download", "t", {}, work, on_start=ids.append)
        await canceller
        job = await store.run(get_job, ids[0])
    assert job.status.value == "cancelled"
    assert len(calls) < 2000
