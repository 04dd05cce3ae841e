"""The training queue: queued trainings run one after another, also while no loratui is open.

Queued jobs are ``kind='train'`` rows with status ``queued`` ordered by ``queue_position`` (the rows are
written by ``loratui.jobs.repo``). Whoever frees a slot or finds one free starts the next one: the supervisor of
a finishing job (so the queue advances with no loratui running), ``train start``, the queue commands, and any
loratui process that reconciles a dead supervisor (the TUI does every few seconds). At most
``trainers.max_parallel`` trainings run at once.
"""

from __future__ import annotations

import asyncio
import sqlite3

from loratui.config import Context
from loratui.jobs import repo
from loratui.store import Store
from loratui.training.run.reconcile import reconcile, reconcile_sync
from loratui.training.run.spawn import spawn_supervisor


def advance_sync(conn: sqlite3.Connection, ctx: Context) -> list[int]:
    """Reconcile dead supervisors, then start queued trainings while slots are free; returns the ids started."""
    reconcile_sync(conn)
    started = []
    while True:
        job_id = repo.claim_next(conn, ctx.settings.trainers.max_parallel)
        if job_id is None:
            return started
        spawn_supervisor(ctx, job_id)
        started.append(job_id)


async def advance(store: Store, ctx: Context) -> list[int]:
    """``advance_sync`` through a Store (spawning runs off the database thread)."""
    await reconcile(store)
    started = []
    while True:
        job_id = await store.run(repo.claim_next, ctx.settings.trainers.max_parallel)
        if job_id is None:
            return started
        await asyncio.to_thread(spawn_supervisor, ctx, job_id)
        started.append(job_id)


async def move(store: Store, ctx: Context, job_id: int, position: int) -> list[int]:
    """Move a queued training to `position` (1 = next to run); returns the new order."""
    order = await store.run(repo.move_in_queue, job_id, position)
    await advance(store, ctx)
    return order


async def remove(store: Store, ctx: Context, job_id: int) -> None:
    """Take a queued training out of the queue (it ends as cancelled); the next one starts if a slot is free."""
    await store.run(repo.remove_from_queue, job_id)
    await advance(store, ctx)


async def list_queue(store: Store) -> list[int]:
    """Queued trainings in the order they will run."""
    return await store.run(repo.queued_training_ids)
