"""Reads for comparing training runs: a run's whole loss history, and the extra facts other features record
about a run when their tables exist (the checkpoint chosen in the LoRA library, the peak GPU memory)."""

from __future__ import annotations

import sqlite3
from typing import Any

CHOSEN_COLUMN = "chosen_at"
"""``loras.chosen_at``: set on the checkpoint the user kept in a checkpoint-sweep grid (migration 0095)."""
PEAK_COLUMN = "peak_memory"
"""``jobs.peak_memory``: the most memory in bytes any one of the job's GPUs used (GPU telemetry, migration 0097)."""


def loss_history(conn: sqlite3.Connection, job_id: int) -> list[tuple[int, int | None, float]]:
    """(step, epoch, loss) of every step the job recorded, by step (the supervisor stores one per step)."""
    rows = conn.execute("SELECT step, epoch, COALESCE(avr_loss, loss) FROM job_metrics WHERE job_id = ? "
                        "ORDER BY step", (job_id,))
    return [(r[0], r[1], r[2]) for r in rows if r[2] is not None]


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def run_extras(conn: sqlite3.Connection, job_id: int) -> dict[str, Any] | None:
    """{"chosen_checkpoint": path or None, "peak_gpu_bytes": bytes or None} for a training job, or None when
    neither ``loras.chosen_at`` nor ``jobs.peak_memory`` exists in this database. The one place that knows
    where those facts live."""
    has_chosen = CHOSEN_COLUMN in _columns(conn, "loras")
    has_peak = PEAK_COLUMN in _columns(conn, "jobs")
    if not (has_chosen or has_peak):
        return None
    extras: dict[str, Any] = {"chosen_checkpoint": None, "peak_gpu_bytes": None}
    if has_chosen:
        row = conn.execute(f"SELECT path FROM loras WHERE job_id = ? AND {CHOSEN_COLUMN} IS NOT NULL "
                           f"ORDER BY {CHOSEN_COLUMN} DESC LIMIT 1", (job_id,)).fetchone()
        extras["chosen_checkpoint"] = row[0] if row else None
    if has_peak:
        row = conn.execute(f"SELECT {PEAK_COLUMN} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        extras["peak_gpu_bytes"] = row[0] if row else None
    return extras
