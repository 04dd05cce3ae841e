"""The training queue: queued trainings run one after another, also while no loratui is open.

(Named train_queue, not queue: schema_dump.py runs as a script from this folder, and a queue.py here would
shadow the standard library's queue module inside the trainer's Python.)

Queued jobs are ``kind='train'`` rows with status ``queued`` ordered by ``queue_position``. Whoever frees a
slot starts the next one: the supervisor of a finishing job (so the queue advances with no loratui running),
``train start`` and the queue commands. At most ``trainers.max_parallel`` trainings run at once.
"""

from __future__ import annotations

import sqlite3
import time

from loratui.errors import JobError, NotFoundError
from loratui.jobs.model import ACTIVE
from loratui.training.reattach import reap_training_sync
from loratui.training.supervisor import transaction

_ACTIVE = tuple(s.value for s in ACTIVE)


def active_count(conn: sqlite3.Connection) -> int:
    """How many trainings run now."""
    placeholders = ", ".join("?" for _ in _ACTIVE)
    return conn.execute(f"SELECT COUNT(*) FROM jobs WHERE kind = 'train' AND status IN ({placeholders})",
                        _ACTIVE).fetchone()[0]


def queued_ids(conn: sqlite3.Connection) -> list[int]:
    """Queued training jobs in the order they will run.

    A job being created is 'queued' without a position until `claim_or_enqueue` decides: not yet in the queue.
    """
    rows = conn.execute(
        "SELECT id FROM jobs WHERE kind = 'train' AND status = 'queued' AND queue_position IS NOT NULL "
        "ORDER BY queue_position, id"
    ).fetchall()
    return [r[0] for r in rows]


def _renumber(conn: sqlite3.Connection, ids: list[int]) -> None:
    conn.executemany("UPDATE jobs SET queue_position = ?, updated_at = ? WHERE id = ?",
                     [(pos, time.time(), job_id) for pos, job_id in enumerate(ids, start=1)])


def claim_or_enqueue(conn: sqlite3.Connection, job_id: int, max_parallel: int, force_queue: bool = False) -> bool:
    """Either mark the job as starting (True: spawn its supervisor now) or put it at the end of the queue."""
    reap_training_sync(conn)
    with transaction(conn):
        waiting = [i for i in queued_ids(conn) if i != job_id]
        if not force_queue and active_count(conn) < max(1, max_parallel) and not waiting:
            conn.execute("UPDATE jobs SET status = 'preparing', queue_position = NULL, updated_at = ? WHERE id = ?",
                         (time.time(), job_id))
            return True
        ids = waiting + [job_id]
        conn.execute("UPDATE jobs SET status = 'queued' WHERE id = ?", (job_id,))
        _renumber(conn, ids)
        return False


def claim_next(conn: sqlite3.Connection, max_parallel: int) -> int | None:
    """Take the first queued job if a slot is free; returns its id (now 'preparing')."""
    reap_training_sync(conn)
    with transaction(conn):
        if active_count(conn) >= max(1, max_parallel):
            return None
        ids = queued_ids(conn)
        if not ids:
            return None
        job_id = ids[0]
        conn.execute("UPDATE jobs SET status = 'preparing', queue_position = NULL, updated_at = ? WHERE id = ?",
                     (time.time(), job_id))
        _renumber(conn, ids[1:])
        return job_id


def start_next_sync(conn: sqlite3.Connection, ctx) -> list[int]:
    """Start queued jobs while slots are free; returns the ids started."""
    from loratui.training.launch import spawn_supervisor

    started = []
    while True:
        job_id = claim_next(conn, ctx.settings.trainers.max_parallel)
        if job_id is None:
            return started
        spawn_supervisor(ctx, job_id)
        started.append(job_id)


async def pump(store, ctx) -> list[int]:
    """Async: start queued trainings if slots are free."""
    return await store.run_sync(start_next_sync, ctx)


def move_sync(conn: sqlite3.Connection, job_id: int, position: int) -> list[int]:
    """Move a queued job to `position` (1 = next to run); returns the new order."""
    with transaction(conn):
        ids = queued_ids(conn)
        if job_id not in ids:
            raise NotFoundError(f"job {job_id} is not in the training queue")
        ids.remove(job_id)
        position = max(1, min(position, len(ids) + 1))
        ids.insert(position - 1, job_id)
        _renumber(conn, ids)
        return ids


def remove_sync(conn: sqlite3.Connection, job_id: int) -> None:
    """Take a queued job out of the queue (it ends as cancelled)."""
    with transaction(conn):
        row = conn.execute("SELECT status, kind FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no job with id {job_id}")
        if row["status"] != "queued":
            raise JobError(f"job {job_id} is not queued ({row['status']})")
        conn.execute(
            "UPDATE jobs SET status = 'cancelled', queue_position = NULL, message = 'removed from the queue', "
            "finished_at = ?, updated_at = ? WHERE id = ?", (time.time(), time.time(), job_id))
        _renumber(conn, queued_ids(conn))


async def move(store, job_id: int, position: int) -> list[int]:
    """Async `move_sync`."""
    return await store.run_sync(move_sync, job_id, position)


async def remove(store, job_id: int) -> None:
    """Async `remove_sync`."""
    await store.run_sync(remove_sync, job_id)


async def list_queue(store) -> list[int]:
    """Async `queued_ids`."""
    return await store.run_sync(queued_ids)
