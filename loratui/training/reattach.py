"""Reattaching to trainings from any later loratui: dead supervisors, leftover trainers, following logs.

A training job is alive while its supervisor process is (``supervisor_pid`` + ``proc_key`` guard against a
reused pid). When the supervisor is gone (machine reboot, OOM killer, ``kill -9``) the job is marked
``interrupted`` with what is known, and a trainer that outlived it (its process group, checked against
``trainer_key``) is stopped so nothing keeps a GPU busy unseen. Nothing shows "running" forever.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Iterator

from loratui.jobs.model import ACTIVE
from loratui.jobs.procinfo import hostname
from loratui.training.procgroup import group_alive, process_running

_ACTIVE = tuple(s.value for s in ACTIVE)
STARTUP_GRACE_S = 60.0
"""A job handed to a supervisor that has not written its pid yet is left alone this long."""


def reap_training_sync(conn: sqlite3.Connection) -> list[int]:
    """Mark training jobs whose supervisor died as interrupted and stop their leftover trainers."""
    placeholders = ", ".join("?" for _ in _ACTIVE)
    rows = conn.execute(
        f"SELECT * FROM jobs WHERE kind = 'train' AND status IN ({placeholders})", _ACTIVE
    ).fetchall()
    here = hostname()
    reaped = []
    for row in rows:
        if row["host"] and row["host"] != here:
            continue
        if row["supervisor_pid"] is None:
            if time.time() - (row["updated_at"] or 0) < STARTUP_GRACE_S:
                continue
        elif process_running(row["supervisor_pid"], row["proc_key"]):
            continue
        stop_orphan_trainer(row)
        step = row["step"]
        note = "the supervisor of this training is gone (killed, crashed or the machine rebooted)"
        if step:
            note += f"; last seen at step {step}" + (f"/{row['total_steps']}" if row["total_steps"] else "")
        conn.execute(
            "UPDATE jobs SET status = 'interrupted', message = ?, finished_at = ?, updated_at = ?, eta_s = NULL "
            "WHERE id = ? AND status = ?",
            (note, time.time(), time.time(), row["id"], row["status"]),
        )
        reaped.append(row["id"])
    # Jobs another reaper already marked interrupted may still have a trainer running.
    for row in conn.execute(
        "SELECT * FROM jobs WHERE kind = 'train' AND status = 'interrupted' AND pgid IS NOT NULL "
        "AND finished_at > ?", (time.time() - 7 * 86400,)
    ).fetchall():
        if (not row["host"] or row["host"] == here) and not process_running(row["supervisor_pid"], row["proc_key"]):
            stop_orphan_trainer(row)
    return reaped


def stop_orphan_trainer(row: sqlite3.Row) -> bool:
    """Kill the trainer group of a job whose supervisor is gone, if it is still that trainer."""
    keys = row.keys()
    pgid = row["pgid"]
    key = row["trainer_key"] if "trainer_key" in keys else None
    if not pgid or not group_alive(pgid):
        return False
    if key and not process_running(pgid, key):
        return False  # the leader is gone; a reused group id is not ours to kill
    from loratui.training.procgroup import terminate_group

    terminate_group(pgid, sigint_wait_s=5.0, sigterm_wait_s=5.0)
    return True


async def reap_training(store) -> list[int]:
    """Async wrapper of `reap_training_sync` on a Store."""
    return await store.run_sync(reap_training_sync)


def follow_file(path: Path, *, offset: int = 0, poll_s: float = 0.25, stop=None) -> Iterator[bytes]:
    """Yield new bytes of a growing file (b"" after each idle poll, so a caller can look up whether to stop);
    ends when `stop()` is true and everything was read."""
    while not path.exists():
        if stop is not None and stop():
            return
        time.sleep(poll_s)
        yield b""
    with open(path, "rb") as handle:
        handle.seek(offset)
        while True:
            data = handle.read(1 << 16)
            if data:
                yield data
                continue
            if stop is not None and stop():
                rest = handle.read()
                if rest:
                    yield rest
                return
            time.sleep(poll_s)
            yield b""


def supervisor_alive(row) -> bool:
    """True while the job's supervisor process runs (on this host)."""
    return bool(row["supervisor_pid"]) and process_running(row["supervisor_pid"], row["proc_key"])

