"""Supervisors killed with SIGKILL at every state of a training: the queue is never stuck.

Each case kills the running training's supervisor at one moment of its life, with one or two trainings queued
behind it, checks that nothing moves on its own (no supervisor is left to move it), then lets one of loratui's
ways of reconciling find it: a CLI command (`train status`, `train queue`, `train queue remove`, `train start`)
or the TUI's periodic step (`queue.advance`). Then: the killed job has ended `interrupted` (a job whose launcher
died before it spawned a supervisor never ran: it goes back to the front of the queue and runs), no trainer
process of it is left, the next queued training has started, and the rest of the queue runs to the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loratui.jobs import repo
from loratui.jobs.procinfo import proc_key
from loratui.store import Store, connect
from loratui.training.run import jobfiles, launch
from loratui.training.run import queue as run_queue
from loratui.training.run.procgroup import group_members
from loratui.training.run.spawn import spawn_supervisor
from trhelpers import alive, enqueue, job_row, make_plan, musubi_plan, wait_for, wait_status, write_config

REPO = Path(__file__).resolve().parents[2]
QUICK = "16_toml_accelerate_combined_unbuffered"
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


# -- ways to start and queue trainings ---------------------------------------------------------------------


def start(ctx, plan) -> int:
    """`launch.start_training` from this process (it spawns the supervisor and returns)."""
    async def go() -> int:
        async with Store.open(ctx.paths.db) as store:
            return await launch.start_training(store, ctx, plan)
    return asyncio.run(go())


def advance(ctx) -> list[int]:
    """What the TUI runs every 5 s."""
    async def go() -> list[int]:
        async with Store.open(ctx.paths.db) as store:
            return await run_queue.advance(store, ctx)
    return asyncio.run(go())


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), 10, what=f"process {pid} to die")


class WriteLock:
    """Holds the database's write lock (as a busy writer in another process would) until released."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(str(db), isolation_level=None, timeout=30)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


# -- the killed job at each state: returns its id, its supervisor dead -------------------------------------


def killed_launcher(ctx, home, tmp_path, fill) -> tuple[int, list[int]]:
    """'preparing', claimed from the queue by a process that died before it spawned the supervisor."""
    job_id = enqueue(ctx, make_plan(tmp_path, QUICK, name="killed"))
    waiting = fill()
    code = ("import os, signal, sys\nfrom loratui.jobs import repo\nfrom loratui.store import connect\n"
            "assert repo.claim_next(connect(sys.argv[1]), 1) == int(sys.argv[2])\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(ctx.paths.db), str(job_id)], timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == -signal.SIGKILL
    row = job_row(home, job_id)
    assert row["status"] == "preparing" and row["supervisor_pid"] is None and not alive(row["pid"])
    return job_id, waiting


def killed_before_claim(ctx, home, tmp_path, fill) -> tuple[int, list[int]]:
    """Spawned and handed the job, killed before it recorded itself (it was waiting for the database)."""
    job_id = enqueue(ctx, make_plan(tmp_path, QUICK, name="killed"))
    conn = connect(ctx.paths.db)
    try:
        assert repo.claim_next(conn, 1) == job_id
        lock = WriteLock(ctx.paths.db)
        try:
            pid = spawn_supervisor(ctx, job_id)  # what queue.start_claimed does, up to the hand-over
            key = proc_key(pid)
            time.sleep(0.5)
            kill(pid)
        finally:
            lock.release()
        repo.hand_to_supervisor(conn, job_id, pid, key)
    finally:
        conn.close()
    assert job_row(home, job_id)["started_at"] is None
    return job_id, fill()


def _kill_when(ctx, home, plan, ready, fill) -> tuple[int, list[int]]:
    job_id = start(ctx, plan)
    wait_for(lambda: ready(job_row(home, job_id)), 60, what=f"job {job_id} to get there")
    kill(job_row(home, job_id)["supervisor_pid"])
    return job_id, fill()


def killed_preparing(ctx, home, tmp_path, fill=list) -> tuple[int, list[int]]:
    """Claimed, its trainer started and still loading (status 'preparing')."""
    plan = make_plan(tmp_path, QUICK, "--start_delay", "60", name="killed")
    return _kill_when(ctx, home, plan, lambda r: r["status"] == "preparing" and r["pgid"], fill)


def killed_caching_latents(ctx, home, tmp_path, fill=list) -> tuple[int, list[int]]:
    plan = musubi_plan(tmp_path, name="killed", latents={"bars": 600, "delay": 0.1})
    return _kill_when(ctx, home, plan, lambda r: r["status"] == "caching_latents" and r["pgid"], fill)


def killed_caching_text(ctx, home, tmp_path, fill=list) -> tuple[int, list[int]]:
    plan = musubi_plan(tmp_path, name="killed", text={"bars": 600, "delay": 0.1})
    return _kill_when(ctx, home, plan, lambda r: r["status"] == "caching_text", fill)


def killed_training(ctx, home, tmp_path, fill=list) -> tuple[int, list[int]]:
    plan = make_plan(tmp_path, "12_sigint_accelerate_group", step_delay=0.2, name="killed")
    return _kill_when(ctx, home, plan, lambda r: (r["step"] or 0) >= 2, fill)


def killed_saving(ctx, home, tmp_path, fill=list) -> tuple[int, list[int]]:
    plan = make_plan(tmp_path, QUICK, "--slow_save", "60", name="killed")
    return _kill_when(ctx, home, plan, lambda r: r["status"] == "saving", fill)


def killed_ending(ctx, home, tmp_path, fill) -> tuple[int, list[int]]:
    """The trainer exited; the supervisor waited for the database to record the end when it was killed."""
    # Slow steps (about 4 s of training; the combined QUICK log has no step delay): the lock below is taken while
    # the trainer still runs, however late the supervisor's first progress write lands.
    job_id = start(ctx, make_plan(tmp_path, "08_save_state", step_delay=1.0, name="killed"))
    wait_for(lambda: job_row(home, job_id)["status"] == "training", 60, what="training")
    row = job_row(home, job_id)
    lock = WriteLock(ctx.paths.db)
    assert row["pgid"] and group_members(row["pgid"]), "the trainer ended before the lock was taken"
    try:
        wait_for(lambda: not group_members(row["pgid"]), 60, what="the trainer to finish")
        kill(row["supervisor_pid"])
    finally:
        lock.release()
    assert job_row(home, job_id)["status"] not in TERMINAL
    return job_id, fill()


def ended_not_advanced(ctx, home, tmp_path, fill) -> tuple[int, list[int]]:
    """The supervisor recorded the end and died before it started the next training (the queue is filled
    afterwards here, which leaves the same rows)."""
    job_id = start(ctx, make_plan(tmp_path, QUICK, name="killed"))
    row = wait_status(home, job_id, TERMINAL, timeout=60)
    assert row["status"] == "completed"
    wait_for(lambda: not alive(row["supervisor_pid"]), 10, what="the supervisor to exit")
    return job_id, fill()


# -- the cases ----------------------------------------------------------------------------------------------

CASES = [
    # state, trainings queued behind it, what finds the dead supervisor
    (killed_launcher, 2, "tui"),
    (killed_before_claim, 1, "status"),
    (killed_preparing, 2, "queue"),
    (killed_caching_latents, 2, "remove"),
    (killed_caching_text, 1, "tui"),
    (killed_training, 1, "start"),
    (killed_saving, 2, "status"),
    (killed_ending, 1, "queue"),
    (ended_not_advanced, 2, "tui"),
]


def _trainer_groups(home: Path, row: dict) -> set[int]:
    groups = {row["pgid"]} if row["pgid"] else set()
    recorded = jobfiles.read_trainer(home / "jobs" / str(row["id"]))
    return groups | ({recorded[0]} if recorded else set())


@pytest.mark.parametrize("state, queued, how", CASES, ids=[f"{c[0].__name__}-{c[1]}-{c[2]}" for c in CASES])
def test_a_killed_supervisor_never_leaves_the_queue_stuck(state, queued, how, ctx, home, tmp_path, train_cli):
    # With "start", a waiting training that finished before `train start` looked at the queue would free the slot
    # (it raced on a loaded machine): those wait a few seconds before their first line.
    hold = ("--start_delay", "5") if how == "start" else ()
    killed, waiting = state(ctx, home, tmp_path,
                            lambda: [enqueue(ctx, make_plan(tmp_path, QUICK, *hold, name=f"waiting{i}"))
                                     for i in range(queued)])
    time.sleep(1.0)
    assert [job_row(home, i)["status"] for i in waiting] == ["queued"] * queued  # nobody moves it on its own

    new = None
    if how == "tui":
        advance(ctx)
    elif how == "status":
        assert train_cli("train", "status", killed).code == 0
    elif how == "queue":
        assert train_cli("train", "queue", "--json").code == 0
    elif how == "remove":
        assert train_cli("train", "queue", "remove", waiting[0]).code == 0
        assert job_row(home, waiting.pop(0))["status"] == "cancelled"
    elif how == "start":
        started = train_cli("train", "start", write_config(tmp_path), "--json")
        assert started.code == 0, started
        new = started.json()["id"]
        # the waiting training took the slot the dead one held; the new one queues behind it, not behind the dead
        assert job_row(home, new)["status"] == "queued" and job_row(home, new)["queue_position"] == queued

    row = job_row(home, killed)
    if state is killed_launcher:
        assert row["status"] != "queued" and row["supervisor_pid"]  # back in the queue, first, and started
        assert wait_status(home, killed, TERMINAL, timeout=60)["status"] == "completed"
    elif state is ended_not_advanced:
        assert row["status"] == "completed"
    else:
        assert row["status"] == "interrupted", row
        assert "supervisor" in row["message"], row["message"]
    assert not alive(row["supervisor_pid"]) or state is killed_launcher
    for pgid in _trainer_groups(home, row):
        wait_for(lambda: not group_members(pgid), 20, what=f"trainer group {pgid} of the killed job to be gone")

    if state is not killed_launcher:  # (there the restarted job holds the slot: the queue follows it)
        first = job_row(home, waiting[0])
        assert first["status"] != "queued" and first["supervisor_pid"], first  # started by that one call
    for job_id in waiting + ([new] if new else []):
        assert wait_status(home, job_id, TERMINAL, timeout=90)["status"] == "completed"


def test_a_new_training_starts_at_once_beside_a_dead_one(ctx, home, tmp_path, train_cli):
    killed, _ = killed_training(ctx, home, tmp_path)
    started = train_cli("train", "start", write_config(tmp_path), "--json")
    assert started.code == 0, started
    assert job_row(home, killed)["status"] == "interrupted"
    row = job_row(home, started.json()["id"])
    assert row["status"] != "queued" and row["queue_position"] is None and row["supervisor_pid"]
    assert wait_status(home, row["id"], TERMINAL, timeout=60)["status"] == "completed"


def test_a_trainer_not_yet_in_the_job_row_is_found_and_stopped(ctx, home, tmp_path):
    # A supervisor killed while its write of the trainer's pid waited for the database: the job row names no
    # trainer (rewound here to what it held then), but trainer.json in the job folder does.
    killed, _ = killed_training(ctx, home, tmp_path)
    row = job_row(home, killed)
    conn = connect(ctx.paths.db)
    try:
        repo.update_job(conn, killed, pid=None, pgid=None, trainer_key=None)
    finally:
        conn.close()
    assert group_members(row["pgid"])
    advance(ctx)
    assert job_row(home, killed)["status"] == "interrupted"
    wait_for(lambda: not group_members(row["pgid"]), 20, what="the unrecorded trainer to be stopped")


def test_a_cancel_before_the_supervisor_claims_ends_the_job_cancelled(ctx, home, tmp_path):
    job_id = enqueue(ctx, make_plan(tmp_path, QUICK, name="cancelled"))
    conn = connect(ctx.paths.db)
    try:
        assert repo.claim_next(conn, 1) == job_id
        repo.update_job(conn, job_id, cancel_requested=True)
        run_queue.start_claimed_sync(conn, ctx, job_id)
    finally:
        conn.close()
    row = wait_status(home, job_id, TERMINAL, timeout=60)
    assert row["status"] == "cancelled" and row["message"] == "cancelled before it started"
    assert row["pgid"] is None  # no trainer ever ran
