"""Reads for comparing training runs: a run's whole loss history, and the extra facts other features record
about a run (the checkpoint chosen in the LoRA library, the peak GPU memory)."""

from __future__ import annotations

import sqlite3
from typing import Any

def loss_history(conn: sqlite3.Connection, job_id: int) -> list[tuple[int, int | None, float]]:
    """(step, epoch, loss) of every step the job recorded, by step (the supervisor stores one per step)."""
    rows = conn.execute("SELECT step, epoch, COALESCE(avr_loss, loss) FROM job_metrics WHERE job_id = ? "
                        "ORDER BY step", (job_id,))
    return [(r[0], r[1], r[2]) for r in rows if r[2] is not None]


def run_extras(conn: sqlite3.Connection, job_id: int) -> dict[str, Any]:
    """{"chosen_checkpoint": path or None, "peak_gpu_bytes": bytes or None} for a training job: the checkpoint
    the user kept in a sweep grid (``loras.chosen_at``) and the most memory one of its GPUs used
    (``jobs.peak_memory``, GPU telemetry)."""
    row = conn.execute("SELECT path FROM loras WHERE job_id = ? AND chosen_at IS NOT NULL "
                       "ORDER BY chosen_at DESC LIMIT 1", (job_id,)).fetchone()
    peak = conn.execute("SELECT peak_memory FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return {"chosen_checkpoint": row[0] if row else None, "peak_gpu_bytes": peak[0] if peak else None}
