"""Reads for comparing training runs: a run's whole loss history, and the extra facts other features record
about a run when their tables exist (the checkpoint chosen in the LoRA library, the peak GPU memory)."""

from __future__ import annotations

import sqlite3
from typing import Any

CHOSEN_COLUMNS = ("chosen",)
"""A ``loras`` column marking the checkpoint picked for a training job (set by the checkpoint grid)."""
PEAK_COLUMNS = ("peak_gpu_mib", "gpu_peak_mib", "peak_vram_mib", "peak_gpu_memory_mib")
"""A ``jobs`` column holding a job's peak GPU memory in MiB (set by the GPU scheduler's telemetry)."""


def loss_history(conn: sqlite3.Connection, job_id: int) -> list[tuple[int, int | None, float]]:
    """(step, epoch, loss) of every step the job recorded, by step (the supervisor stores one per step)."""
    rows = conn.execute("SELECT step, epoch, COALESCE(avr_loss, loss) FROM job_metrics WHERE job_id = ? "
                        "ORDER BY step", (job_id,))
    return [(r[0], r[1], r[2]) for r in rows if r[2] is not None]


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def run_extras(conn: sqlite3.Connection, job_id: int) -> dict[str, Any] | None:
    """{"chosen_checkpoint": path or None, "peak_gpu_mib": number or None} for a job, or None when neither the
    chosen-checkpoint column nor a peak-memory column exists in this database. The one place that knows where
    those facts live."""
    chosen_col = next((c for c in CHOSEN_COLUMNS if c in _columns(conn, "loras")), None)
    peak_col = next((c for c in PEAK_COLUMNS if c in _columns(conn, "jobs")), None)
    if chosen_col is None and peak_col is None:
        return None
    extras: dict[str, Any] = {"chosen_checkpoint": None, "peak_gpu_mib": None}
    if chosen_col is not None:
        row = conn.execute(f"SELECT path FROM loras WHERE job_id = ? AND {chosen_col} ORDER BY id DESC LIMIT 1",
                           (job_id,)).fetchone()
        extras["chosen_checkpoint"] = row[0] if row else None
    if peak_col is not None:
        row = conn.execute(f"SELECT {peak_col} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        extras["peak_gpu_mib"] = row[0] if row else None
    return extras
