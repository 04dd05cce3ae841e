"""Reconciling jobs whose process died (reboot, OOM killer, kill -9): an explicit step, never a side effect of
reading. The TUI runs it every few seconds, the CLI before it reports on jobs, the supervisor before it starts
the next queued training.

A job's owner is its supervisor (trainings) or the process that claimed it (in-process jobs), identified by pid
*and* ``proc_key`` (boot id + start time), so a reused pid after a reboot never keeps a dead job "running".
Only jobs recorded on this host are judged.
"""

from __future__ import annotations

import sqlite3
import time

from loratui.jobs import repo
from loratui.jobs.model import Job
from loratui.jobs.procinfo import hostname, is_alive
from loratui.store import Store

STARTUP_GRACE_S = 60.0
"""A job handed to a process that has not recorded its pid yet is left alone this long."""


def dead_jobs(jobs: list[Job]) -> list[tuple[Job, str]]:
    """The jobs (of those given, all active) whose owner process is gone, each with a note saying so."""
    here = hostname()
    dead = []
    for job in jobs:
        if job.host and job.host != here:
            continue
        owner = job.supervisor_pid or job.pid
        if owner is None:
            if time.time() - (job.updated_at or 0) < STARTUP_GRACE_S:
                continue  # being started right now
        elif is_alive(owner, job.proc_key):
            continue
        who = "the supervisor of this training" if job.kind == "train" else "the process running this job"
        note = f"{who} is gone (killed, crashed or the machine rebooted)"
        if job.step:
            note += f"; last seen at step {job.step}" + (f"/{job.total_steps}" if job.total_steps else "")
        dead.append((job, note))
    return dead


def reconcile_sync(conn: sqlite3.Connection) -> list[Job]:
    """Mark every job whose process died as interrupted (on a plain connection); returns those jobs."""
    reaped = []
    for job, note in dead_jobs(repo.active_jobs(conn)):
        if repo.mark_interrupted(conn, job.id, job.status, note):
            reaped.append(job)
    return reaped


async def reconcile(store: Store) -> list[Job]:
    """``reconcile_sync`` through a Store (process checks run off the database thread)."""
    reaped = []
    for job, note in dead_jobs(await store.run(repo.active_jobs)):
        if await store.run(repo.mark_interrupted, job.id, job.status, note):
            reaped.append(job)
    return reaped
