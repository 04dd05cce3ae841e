"""Repository of the ``sweeps`` and ``prompt_sets`` tables (migration 0094).

Plain functions on a ``sqlite3.Connection``; run them with ``await store.run(fn, ...)`` or, in the render
process, on its own connection. Writers log a change of the sweep's job so job lists and monitors refresh.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from typing import Any

from loratui.errors import NotFoundError
from loratui.store import changes, transaction


@dataclass
class SweepRecord:
    """One recorded sweep; ``job_status`` is the status of its render job while that job row exists."""

    id: str
    folder: str
    job_id: int | None
    source_job_id: int | None
    family: str | None
    status: str
    cells: int
    created: float
    job_status: str | None = None

    @property
    def current_status(self) -> str:
        """The job's status while the job row exists (it knows about cancels and crashes), else the sweep's."""
        return self.job_status or self.status

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return dict(asdict(self), status=self.current_status)


def record_sweep(conn: sqlite3.Connection, sweep_id: str, folder: str, *, job_id: int | None,
                 source_job_id: int | None, family: str, cells: int) -> None:
    """Remember a new sweep (status ``queued``)."""
    with transaction(conn):
        conn.execute("INSERT INTO sweeps (id, folder, job_id, source_job_id, family, status, cells, created) "
                     "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                     (sweep_id, folder, job_id, source_job_id, family, cells, time.time()))
        if job_id is not None:
            changes.job_changed(conn, job_id, "sweep")


def set_status(conn: sqlite3.Connection, sweep_id: str, status: str) -> None:
    """Record how the sweep's rendering ended (or that it runs)."""
    with transaction(conn):
        row = conn.execute("SELECT job_id FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no sweep {sweep_id!r}")
        conn.execute("UPDATE sweeps SET status = ? WHERE id = ?", (status, sweep_id))
        if row[0] is not None:
            changes.job_changed(conn, row[0], "sweep")


def attach_job(conn: sqlite3.Connection, sweep_id: str, job_id: int) -> None:
    """Hand a sweep to a new render job (resuming it); it is queued again."""
    with transaction(conn):
        if conn.execute("UPDATE sweeps SET job_id = ?, status = 'queued' WHERE id = ?", (job_id, sweep_id)).rowcount != 1:
            raise NotFoundError(f"no sweep {sweep_id!r}")
        changes.job_changed(conn, job_id, "sweep")


_SELECT = ("SELECT s.*, j.status AS job_status FROM sweeps s LEFT JOIN jobs j ON j.id = s.job_id")


def list_sweeps(conn: sqlite3.Connection, *, source_job_id: int | None = None, limit: int = 200) -> list[SweepRecord]:
    """Sweeps, newest first (those of one training when ``source_job_id`` is given)."""
    if source_job_id is None:
        rows = conn.execute(f"{_SELECT} ORDER BY s.created DESC, s.rowid DESC LIMIT ?", (limit,))
    else:
        rows = conn.execute(f"{_SELECT} WHERE s.source_job_id = ? ORDER BY s.created DESC, s.rowid DESC LIMIT ?",
                            (source_job_id, limit))
    return [SweepRecord(**dict(r)) for r in rows]


def get_sweep(conn: sqlite3.Connection, sweep_id: str) -> SweepRecord:
    """One sweep by id (NotFoundError when unknown)."""
    row = conn.execute(f"{_SELECT} WHERE s.id = ?", (sweep_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no sweep {sweep_id!r}", hint="`loratui lora sweeps` lists them")
    return SweepRecord(**dict(row))


def sweep_of_job(conn: sqlite3.Connection, job_id: int) -> SweepRecord | None:
    """The sweep a render job renders, or None."""
    row = conn.execute(f"{_SELECT} WHERE s.job_id = ?", (job_id,)).fetchone()
    return SweepRecord(**dict(row)) if row else None


def save_prompt_set(conn: sqlite3.Connection, dataset_id: int, name: str, prompts: list[str]) -> None:
    """Save (or replace) a named prompt set of a dataset: prompt lines as a prompts file holds them."""
    with transaction(conn):
        conn.execute("INSERT INTO prompt_sets (dataset_id, name, prompts, updated) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT(dataset_id, name) DO UPDATE SET prompts = excluded.prompts, "
                     "updated = excluded.updated", (dataset_id, name, json.dumps(prompts), time.time()))
        changes.datasets_changed(conn, dataset_id, "prompt set")


def get_prompt_set(conn: sqlite3.Connection, dataset_id: int, name: str) -> list[str]:
    """The prompt lines of a saved set (NotFoundError when the dataset has none of that name)."""
    row = conn.execute("SELECT prompts FROM prompt_sets WHERE dataset_id = ? AND name = ?",
                       (dataset_id, name)).fetchone()
    if row is None:
        raise NotFoundError(f"the dataset has no prompt set {name!r}",
                            hint="save one with `loratui lora sweep ... --prompts FILE --save-prompts NAME`")
    return list(json.loads(row[0]))


def list_prompt_sets(conn: sqlite3.Connection, dataset_id: int) -> list[tuple[str, int]]:
    """(name, number of prompts) of a dataset's saved prompt sets, by name."""
    return [(r[0], len(json.loads(r[1]))) for r in conn.execute(
        "SELECT name, prompts FROM prompt_sets WHERE dataset_id = ? ORDER BY name", (dataset_id,))]
