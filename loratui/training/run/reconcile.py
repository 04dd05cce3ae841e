"""Reconciling trainings whose supervisor died: mark them interrupted and stop their leftover trainers.

A training job is alive while its supervisor process is (``supervisor_pid`` + ``proc_key`` guard against a
reused pid). When the supervisor is gone (machine reboot, OOM killer, ``kill -9``) the job is marked
``interrupted`` with what is known (``loratui.jobs.reconcile``), and a trainer that outlived it (its process
group, checked against ``trainer_key``) is stopped so nothing keeps a GPU busy unseen. Nothing shows "running"
forever. ``loratui.training.run.queue.advance`` runs this and then starts the next queued training.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from loratui.jobs import reconcile as job_reconcile
from loratui.jobs import repo
from loratui.jobs.model import Job, JobStatus
from loratui.jobs.procinfo import hostname, is_alive
from loratui.store import Store
from loratui.training.run.procgroup import group_alive, terminate_group

ORPHAN_WINDOW_S = 7 * 86400
"""Interrupted trainings this recent are checked for a trainer that outlived its supervisor."""


def stop_orphan_trainer(job: Job) -> bool:
    """Kill the trainer group of a job whose supervisor is gone, if it is still that trainer."""
    pgid = job.pgid
    if not pgid or not group_alive(pgid):
        return False
    if job.trainer_key and not is_alive(pgid, job.trainer_key):
        return False  # the leader is gone; a reused group id is not ours to kill
    terminate_group(pgid, sigint_wait_s=5.0, sigterm_wait_s=5.0)
    return True


def _orphans(jobs: list[Job]) -> list[Job]:
    here = hostname()
    recent = time.time() - ORPHAN_WINDOW_S
    return [job for job in jobs
            if job.kind == "train" and job.status == JobStatus.INTERRUPTED and job.pgid
            and (job.finished_at or 0) > recent and (not job.host or job.host == here)
            and not is_alive(job.supervisor_pid, job.proc_key)]


def reconcile_sync(conn: sqlite3.Connection) -> list[Job]:
    """Mark dead jobs interrupted and stop trainers left behind (plain connection); returns the jobs reaped."""
    reaped = job_reconcile.reconcile_sync(conn)
    for job in _orphans(repo.list_jobs(conn, kind="train", limit=50)):
        stop_orphan_trainer(job)
    return reaped


async def reconcile(store: Store) -> list[Job]:
    """``reconcile_sync`` through a Store (process work off the database thread)."""
    reaped = await job_reconcile.reconcile(store)
    orphans = _orphans(await store.run(repo.list_jobs, kind="train", limit=50))
    for job in orphans:
        await asyncio.to_thread(stop_orphan_trainer, job)
    return reaped


def supervisor_alive(job: Job) -> bool:
    """True while the job's supervisor process runs (on this host)."""
    return bool(job.supervisor_pid) and is_alive(job.supervisor_pid, job.proc_key)
