"""Reconciling trainings whose supervisor died: mark them interrupted and stop their leftover trainers.

A training job is alive while its supervisor process is (``supervisor_pid`` + ``proc_key`` guard against a
reused pid). When the supervisor is gone (machine reboot, OOM killer, ``kill -9``) the job is marked
``interrupted`` with what is known (``loratui.jobs.reconcile``), and a trainer that outlived it is stopped so
nothing keeps a GPU busy unseen. The trainer is known from the job row (``pgid`` + ``trainer_key``) and from
``trainer.json`` in the job folder, which the supervisor writes before the row: a supervisor killed while it
waited to record the trainer in the database leaves it findable too. Nothing shows "running" forever.
``loratui.training.run.queue.advance`` runs this and then starts the next queued training.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

from loratui.jobs import reconcile as job_reconcile
from loratui.jobs import repo
from loratui.jobs.model import SUPERVISED_KINDS, Job, JobStatus
from loratui.jobs.procinfo import hostname, is_alive
from loratui.store import Store
from loratui.training.run import jobfiles
from loratui.training.run.procgroup import group_alive, live_groups, terminate_group

ORPHAN_WINDOW_S = 7 * 86400
"""Interrupted trainings this recent are checked for a trainer that outlived its supervisor."""


def trainer_groups(job: Job) -> list[tuple[int, str | None]]:
    """(process group, identity of its leader) of every trainer the job recorded: in its row, in its folder."""
    groups: list[tuple[int, str | None]] = []
    if job.pgid:
        groups.append((job.pgid, job.trainer_key))
    recorded = jobfiles.read_trainer(Path(job.workdir)) if job.workdir else None
    if recorded is not None and recorded[0] != job.pgid:
        groups.append(recorded)
    return groups


def _ours(pgid: int, key: str | None) -> bool:
    # No pid is handed out while a process group of that number has members, so a group whose leader is gone
    # is still the trainer's (an orphaned worker). A live leader must be the very process that was recorded.
    if key and os.path.exists(f"/proc/{pgid}"):
        return is_alive(pgid, key)
    return True


def stop_orphan_trainer(job: Job) -> bool:
    """Kill the trainer groups of a job whose supervisor is gone, if they are still that job's; True if any ran."""
    stopped = False
    for pgid, key in trainer_groups(job):
        if group_alive(pgid) and _ours(pgid, key):
            terminate_group(pgid, sigint_wait_s=5.0, sigterm_wait_s=5.0)
            stopped = True
    return stopped


def _orphans(jobs: list[Job]) -> list[Job]:
    here = hostname()
    recent = time.time() - ORPHAN_WINDOW_S
    candidates = [job for job in jobs
                  if job.kind in SUPERVISED_KINDS and job.status == JobStatus.INTERRUPTED and (job.pgid or job.workdir)
                  and (job.finished_at or 0) > recent and (not job.host or job.host == here)]
    if not candidates:
        return []
    live = live_groups()
    return [job for job in candidates if any(pgid in live for pgid, _ in trainer_groups(job))
            and not is_alive(job.supervisor_pid, job.proc_key)]


def reconcile_sync(conn: sqlite3.Connection) -> list[Job]:
    """Mark dead jobs interrupted and stop trainers left behind (plain connection); returns the jobs reaped."""
    reaped = job_reconcile.reconcile_sync(conn)
    for job in _orphans([j for kind in SUPERVISED_KINDS for j in repo.list_jobs(conn, kind=kind, limit=50)]):
        stop_orphan_trainer(job)
    return reaped


async def reconcile(store: Store) -> list[Job]:
    """``reconcile_sync`` through a Store (process work off the database thread)."""
    reaped = await job_reconcile.reconcile(store)
    jobs = [j for kind in SUPERVISED_KINDS for j in await store.run(repo.list_jobs, kind=kind, limit=50)]
    for job in await asyncio.to_thread(_orphans, jobs):
        await asyncio.to_thread(stop_orphan_trainer, job)
    return reaped


def supervisor_alive(job: Job) -> bool:
    """True while the job's supervisor process runs (on this host)."""
    return bool(job.supervisor_pid) and is_alive(job.supervisor_pid, job.proc_key)
