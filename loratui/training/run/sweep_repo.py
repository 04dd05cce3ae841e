"""Repository of training sweeps (``training_sweeps``, ``training_sweep_runs``): a config trained once per
combination of grid values, each run a normal training job. Plain functions on a ``sqlite3.Connection``; every
write logs a job change for each run, so the monitor regroups its rows."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from loratui.errors import NotFoundError
from loratui.store import changes, transaction


@dataclass
class SweepRun:
    """One run of a training sweep: its job, label (``lr1e-4-dim16``) and grid values."""

    job_id: int
    label: str
    values: dict[str, Any]
    position: int = 0


@dataclass
class TrainingSweep:
    """A training sweep and its runs in grid order."""

    id: int
    name: str
    config: str
    grid: list[tuple[str, list[str]]]
    created_at: float
    runs: list[SweepRun] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "name": self.name, "config": self.config,
                "grid": [[key, list(values)] for key, values in self.grid], "created_at": self.created_at,
                "runs": [{"job_id": r.job_id, "label": r.label, "values": r.values} for r in self.runs]}


def create_sweep(conn: sqlite3.Connection, name: str, config: str, grid: list[tuple[str, list[str]]],
                 runs: list[SweepRun]) -> int:
    """Record a training sweep over jobs already created; returns its id."""
    with transaction(conn):
        sweep_id = conn.execute(
            "INSERT INTO training_sweeps (name, config, grid, created_at) VALUES (?, ?, ?, ?)",
            (name, config, json.dumps([[k, list(v)] for k, v in grid]), time.time())).lastrowid
        conn.executemany(
            "INSERT INTO training_sweep_runs (sweep_id, job_id, position, label, vals) VALUES (?, ?, ?, ?, ?)",
            [(sweep_id, run.job_id, index, run.label, json.dumps(run.values)) for index, run in enumerate(runs)])
        for run in runs:
            changes.job_changed(conn, run.job_id, "training sweep")
    return sweep_id


def _runs(conn: sqlite3.Connection, sweep_id: int) -> list[SweepRun]:
    rows = conn.execute("SELECT job_id, label, vals, position FROM training_sweep_runs WHERE sweep_id = ? "
                        "ORDER BY position", (sweep_id,))
    return [SweepRun(r[0], r[1], json.loads(r[2] or "{}"), r[3]) for r in rows]


def get_sweep(conn: sqlite3.Connection, sweep_id: int) -> TrainingSweep:
    """A training sweep with its runs; NotFoundError when there is none with that id."""
    row = conn.execute("SELECT id, name, config, grid, created_at FROM training_sweeps WHERE id = ?",
                       (sweep_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no training sweep with id {sweep_id}", hint="`loratui train sweeps` lists them")
    grid = [(key, list(values)) for key, values in json.loads(row[3] or "[]")]
    return TrainingSweep(row[0], row[1], row[2], grid, row[4], _runs(conn, row[0]))


def list_sweeps(conn: sqlite3.Connection, limit: int = 100) -> list[TrainingSweep]:
    """Newest training sweeps first, with their runs."""
    ids = [r[0] for r in conn.execute("SELECT id FROM training_sweeps ORDER BY id DESC LIMIT ?", (limit,))]
    return [get_sweep(conn, sweep_id) for sweep_id in ids]


def sweeps_of_jobs(conn: sqlite3.Connection, job_ids: list[int]) -> dict[int, tuple[int, str]]:
    """{job id: (sweep id, run label)} for those of `job_ids` that belong to a training sweep."""
    if not job_ids:
        return {}
    marks = ", ".join("?" for _ in job_ids)
    rows = conn.execute(f"SELECT job_id, sweep_id, label FROM training_sweep_runs WHERE job_id IN ({marks})",
                        tuple(job_ids))
    return {r[0]: (r[1], r[2]) for r in rows}
