"""The training queue: queued trainings run one after another, also while no loratui is open.

Queued jobs are ``kind='train'`` rows with status ``queued`` ordered by ``queue_position`` (the rows are
written by ``loratui.jobs.repo``). Whoever frees a slot or finds one free starts the next one: the supervisor of
a finishing job (so the queue advances with no loratui running), ``train start``, the queue commands, and any
loratui process that reconciles a dead supervisor (the TUI does every few seconds). At most
``trainers.max_parallel`` trainings run at once on a machine without GPUs. With GPUs (``loratui.gpu``), the GPUs
are the slots instead: a training starts when the GPUs it asks for are free (``repo.claim_next`` with a
``SlotView`` of one inventory snapshot), holds them while it runs (``gpu_ids`` on its row) and its supervisor
pins the trainer to them (``loratui.gpu.pinning``).

Starting a training takes two steps, each recorded: ``claim_next`` (or ``claim_or_enqueue``) marks it
``preparing`` owned by this process, in one transaction, so two processes never take the same job; then
``start_claimed`` spawns its supervisor and hands the job to it (``repo.hand_to_supervisor``). A claimer that
dies before the hand-over leaves a job whose owner is gone: reconciling puts it back at the front of the queue.
A supervisor that dies at any point after it is spawned leaves a job whose owner is gone too: it is marked
``interrupted``, and the slot is free again for the next queued training.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess

from loratui.config import Context
from loratui.errors import JobError
from loratui.gpu.inventory import MIB, open_inventory
from loratui.gpu.slots import SlotView
from loratui.jobs import repo
from loratui.jobs.procinfo import proc_key
from loratui.store import Store
from loratui.training.run.reconcile import reconcile, reconcile_sync
from loratui.training.run.spawn import spawn_supervisor


def slot_view(ctx: Context) -> SlotView | None:
    """The machine's GPUs as slots now (one inventory snapshot), or None on a machine without GPUs."""
    gpus = open_inventory(ctx.settings.gpus.fake).snapshot()
    return SlotView.from_snapshot(gpus, ctx.settings.gpus.busy_memory_mib * MIB) if gpus else None


def _spawn(ctx: Context, job_id: int) -> tuple[int | None, str]:
    """(supervisor pid and its proc_key) or (None, why it could not start)."""
    try:
        pid = spawn_supervisor(ctx, job_id)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not start the supervisor: {exc}"
    return pid, proc_key(pid)


def start_claimed_sync(conn: sqlite3.Connection, ctx: Context, job_id: int) -> int:
    """Spawn the supervisor of a job this process claimed and hand the job to it; returns its pid.

    JobError (the job is then failed) when no supervisor could be started.
    """
    pid, key = _spawn(ctx, job_id)
    if pid is None:
        repo.fail_unstarted(conn, job_id, key)
        raise JobError(f"job {job_id}: {key}")
    repo.hand_to_supervisor(conn, job_id, pid, key)
    return pid


async def start_claimed(store: Store, ctx: Context, job_id: int) -> int:
    """``start_claimed_sync`` through a Store (spawning runs off the database thread)."""
    pid, key = await asyncio.to_thread(_spawn, ctx, job_id)
    if pid is None:
        await store.run(repo.fail_unstarted, job_id, key)
        raise JobError(f"job {job_id}: {key}")
    await store.run(repo.hand_to_supervisor, job_id, pid, key)
    return pid


def advance_sync(conn: sqlite3.Connection, ctx: Context) -> list[int]:
    """Reconcile dead supervisors, then start queued trainings while slots are free; returns the ids started."""
    reconcile_sync(conn)
    started = []
    while True:
        job_id = repo.claim_next(conn, ctx.settings.trainers.max_parallel, slot_view(ctx))
        if job_id is None:
            return started
        start_claimed_sync(conn, ctx, job_id)
        started.append(job_id)


async def advance(store: Store, ctx: Context) -> list[int]:
    """``advance_sync`` through a Store (spawning runs off the database thread)."""
    await reconcile(store)
    started = []
    while True:
        slots = await asyncio.to_thread(slot_view, ctx)
        job_id = await store.run(repo.claim_next, ctx.settings.trainers.max_parallel, slots)
        if job_id is None:
            return started
        await start_claimed(store, ctx, job_id)
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
