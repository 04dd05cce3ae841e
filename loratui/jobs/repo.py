"""Job rows: create, read, update, cancel requests, finished items and stale-job detection."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Iterable

from loratui.errors import JobError, NotFoundError
from loratui.jobs.model import ACTIVE, RESUMABLE, Job, JobStatus
from loratui.jobs.procinfo import hostname, is_alive, proc_key
from loratui.store import Store

_JSON_FIELDS = {"params", "outputs"}


async def create_job(
    store: Store,
    kind: str,
    *,
    title: str = "",
    dataset_id: int | None = None,
    params: dict[str, Any] | None = None,
    status: JobStatus = JobStatus.QUEUED,
    parent_id: int | None = None,
) -> Job:
    """Insert a job row and return it."""
    now = time.time()
    job_id = await store.execute(
        """INSERT INTO jobs (kind, title, dataset_id, status, params, parent_id, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (kind, title, dataset_id, JobStatus(status).value, json.dumps(params or {}, sort_keys=True),
         parent_id, now, now),
    )
    return await get_job(store, job_id)


async def get_job(store: Store, job_id: int) -> Job:
    """One job; NotFoundError if there is none with that id."""
    row = await store.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if row is None:
        raise NotFoundError(f"no job with id {job_id}")
    return Job.from_row(row)


async def list_jobs(store: Store, *, kind: str | None = None, limit: int = 200) -> list[Job]:
    """Newest jobs first (after marking dead ones interrupted)."""
    await reap_stale_jobs(store)
    if kind:
        rows = await store.fetchall("SELECT * FROM jobs WHERE kind = ? ORDER BY id DESC LIMIT ?", (kind, limit))
    else:
        rows = await store.fetchall("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
    return [Job.from_row(r) for r in rows]


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in fields.items():
        if key in _JSON_FIELDS:
            value = json.dumps(value)
        elif isinstance(value, JobStatus):
            value = value.value
        elif isinstance(value, bool):
            value = int(value)
        out[key] = value
    return out


async def update_job(store: Store, job_id: int, **fields: Any) -> None:
    """Set columns of a job row (updated_at is set too)."""
    fields = _encode({**fields, "updated_at": time.time()})
    assignments = ", ".join(f"{key} = :{key}" for key in fields)
    await store.execute(f"UPDATE jobs SET {assignments} WHERE id = :_id", {**fields, "_id": job_id})


async def claim_job(store: Store, job_id: int, status: JobStatus = JobStatus.RUNNING) -> None:
    """Record that this process now runs the job."""
    pid = os.getpid()
    now = time.time()
    await update_job(store, job_id, status=status, pid=pid, host=hostname(), proc_key=proc_key(pid),
                     started_at=now, heartbeat_at=now, cancel_requested=False, error=None, exit_code=None,
                     finished_at=None)


async def request_cancel(store: Store, job_id: int) -> Job:
    """Ask a running or queued job to stop; queued jobs are cancelled at once."""
    job = await get_job(store, job_id)
    if job.terminal:
        raise JobError(f"job {job_id} already ended ({job.status.value})")
    if job.status == JobStatus.QUEUED:
        await update_job(store, job_id, status=JobStatus.CANCELLED, finished_at=time.time(),
                         message="cancelled before it started")
    else:
        await update_job(store, job_id, cancel_requested=True)
    return await get_job(store, job_id)


async def mark_items_done(store: Store, job_id: int, items: Iterable[str], status: str = "done") -> None:
    """Remember finished items so a re-run skips them."""
    await store.executemany(
        "INSERT OR REPLACE INTO job_items (job_id, item, status) VALUES (?, ?, ?)",
        [(job_id, item, status) for item in items],
    )


async def finished_items(store: Store, job_id: int) -> set[str]:
    """Items a job already finished."""
    rows = await store.fetchall("SELECT item FROM job_items WHERE job_id = ?", (job_id,))
    return {r[0] for r in rows}


async def find_resumable(store: Store, kind: str, dataset_id: int | None, params: dict[str, Any]) -> Job | None:
    """The newest interrupted/failed/cancelled job of the same kind, dataset and parameters."""
    await reap_stale_jobs(store)
    placeholders = ", ".join("?" for _ in RESUMABLE)
    row = await store.fetchone(
        f"""SELECT * FROM jobs WHERE kind = ? AND dataset_id IS ? AND params = ? AND status IN ({placeholders})
            ORDER BY id DESC LIMIT 1""",
        (kind, dataset_id, json.dumps(params, sort_keys=True), *[s.value for s in RESUMABLE]),
    )
    return Job.from_row(row) if row else None


async def reap_stale_jobs(store: Store) -> list[int]:
    """Mark jobs whose process died (reboot, OOM killer, kill -9) as interrupted; returns their ids.

    Only jobs recorded on this host are judged; a job whose worker pid is gone and whose supervisor (if any)
    is gone too cannot be running.
    """
    placeholders = ", ".join("?" for _ in ACTIVE)
    rows = await store.fetchall(
        f"SELECT * FROM jobs WHERE status IN ({placeholders})", tuple(s.value for s in ACTIVE)
    )
    here = hostname()
    reaped = []
    for row in rows:
        job = Job.from_row(row)
        if job.host and job.host != here:
            continue
        owner = job.supervisor_pid or job.pid
        if owner and is_alive(owner, job.proc_key):
            continue
        if owner is None and time.time() - (job.updated_at or 0) < 60:
            continue  # being started right now
        note = "the process running this job is gone (killed, crashed or the machine rebooted)"
        await update_job(store, job.id, status=JobStatus.INTERRUPTED, finished_at=time.time(),
                         message=f"{job.message + '; ' if job.message else ''}{note}")
        reaped.append(job.id)
    return reaped
