"""Reconciling jobs whose process died (reboot, OOM killer, kill -9): an explicit step, never a side effect of
reading. The TUI runs it every few seconds, the CLI before it reports on jobs, the supervisor before it starts
the next queued training.

A job's owner is its supervisor (trainings) or the process that claimed it (in-process jobs, and a training
between being taken from the queue and the hand-over to the supervisor its claimer spawns), identified by pid
*and* ``proc_key`` (boot id + start time), so a reused pid after a reboot never keeps a dead job "running".
Only jobs recorded on this host are judged. A dead owner ends the job as ``interrupted``, except a training
whose claimer died before it spawned a supervisor: that one never ran, and goes back to the front of the queue.
"""

from __future__ import annotations

import sqlite3
import time

from loratui.jobs import repo
from loratui.jobs.model import SUPERVISED_KINDS, Job, JobStatus
from loratui.jobs.procinfo import hostname, is_alive
from loratui.store import Store

STARTUP_GRACE_S = 60.0
"""A running job that names no owner process at all is left alone this long. Every claim of this version
records its owner, so only rows written by an older loratui (which recorded the supervisor once it ran) wait."""


def unstarted(job: Job) -> bool:
    """True for a training still held by the process that claimed it (no supervisor handed it yet). An
    in-process job (tagging, captioning) that is preparing belongs to the process that runs it, like a running
    one: it is never put into the training queue."""
    return (job.kind in SUPERVISED_KINDS and job.status == JobStatus.PREPARING and job.supervisor_pid is None
            and job.pid is not None)


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
        dead.append((job, _note(job)))
    return dead


def _note(job: Job) -> str:
    if unstarted(job):
        return "the process that was starting this training stopped before its supervisor ran; it waits again"
    if job.kind in SUPERVISED_KINDS and job.started_at is None:
        return ("the supervisor of this training stopped before it started "
                f"(its errors are in jobs/{job.id}/supervisor.log)")
    who = "the supervisor of this training" if job.kind in SUPERVISED_KINDS else "the process running this job"
    note = f"{who} is gone (killed, crashed or the machine rebooted)"
    if job.step:
        note += f"; last seen at step {job.step}" + (f"/{job.total_steps}" if job.total_steps else "")
    return note


def _settle(conn: sqlite3.Connection, job: Job, note: str) -> bool:
    """Requeue or interrupt one dead job; True when it was marked interrupted."""
    if unstarted(job):
        repo.requeue_unstarted(conn, job.id, job.proc_key, note)
        return False
    return repo.mark_interrupted(conn, job.id, job.status, note, job.proc_key)


def reconcile_sync(conn: sqlite3.Connection) -> list[Job]:
    """Settle every job whose process died (on a plain connection); returns those marked interrupted."""
    return [job for job, note in dead_jobs(repo.active_jobs(conn)) if _settle(conn, job, note)]


async def reconcile(store: Store) -> list[Job]:
    """``reconcile_sync`` through a Store (process checks run off the database thread)."""
    reaped = []
    for job, note in dead_jobs(await store.run(repo.active_jobs)):
        if await store.run(_settle, job, note):
            reaped.append(job)
    return reaped
