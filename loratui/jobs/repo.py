"""Repository of the jobs tables (``jobs``, ``job_items``, ``job_metrics``, ``job_events``, ``job_gpu_samples``):
the one writer of job rows, the training queue and its GPU slots (``loratui.gpu.slots`` applied in the claiming
transaction).

Plain functions on a ``sqlite3.Connection`` (see ``loratui.store.db``): the TUI and CLI run them with ``await
store.run(fn, ...)``; the training supervisor, which has no event loop, calls them on its own connection.
Statuses are ``JobStatus`` values. Reading never writes: marking dead jobs interrupted is the explicit
``mark_interrupted`` step of ``loratui.jobs.reconcile``. Every write logs a change for the job.

Secrets never reach the table: parameters, titles, messages and errors are stored with credentials in URLs
redacted (``loratui.redact``), and ``find_resumable`` compares parameters redacted the same way.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any, Iterable

from loratui.errors import JobError, NotFoundError
from loratui.gpu.inventory import format_ids, parse_ids
from loratui.gpu.slots import GpuRequest, SlotView, choose, impossible
from loratui.jobs.model import ACTIVE, RESUMABLE, SUPERVISED_KINDS, TERMINAL, Job, JobStatus
from loratui.jobs.procinfo import hostname, proc_key
from loratui.redact import redact_text, redact_value
from loratui.store import changes, transaction

_JSON_FIELDS = {"params", "outputs"}
_TEXT_FIELDS = {"title", "message", "error"}
_TERMINAL = {s.value for s in TERMINAL}
GPU_SAMPLE_KEEP_S = 3600.0
"""Telemetry samples older than this (per job) are dropped as new ones arrive."""
_ACTIVE = tuple(s.value for s in ACTIVE)
_COLUMNS = frozenset(Job.__dataclass_fields__) | {"trainer_key"}


# -- reading ---------------------------------------------------------------------------------------------------


def get_job(conn: sqlite3.Connection, job_id: int) -> Job:
    """One job; NotFoundError if there is none with that id."""
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no job with id {job_id}")
    return Job.from_row(row)


def find_job(conn: sqlite3.Connection, job_id: int) -> Job | None:
    """One job, or None."""
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return Job.from_row(row) if row else None


def list_jobs(conn: sqlite3.Connection, *, kind: str | tuple[str, ...] | None = None, limit: int = 200,
              unfinished: bool = False) -> list[Job]:
    """Newest jobs first, of one kind or several (only those not yet ended, with `unfinished`)."""
    where, params = [], []
    if kind:
        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        where.append(f"kind IN ({', '.join('?' for _ in kinds)})")
        params.extend(kinds)
    if unfinished:
        where.append(f"status IN ({', '.join('?' for _ in _ACTIVE)}, 'queued')")
        params.extend(_ACTIVE)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(f"SELECT * FROM jobs {clause} ORDER BY id DESC LIMIT ?", (*params, limit))
    return [Job.from_row(r) for r in rows]


def latest_job(conn: sqlite3.Connection, kind: str) -> Job | None:
    """The newest job of a kind."""
    row = conn.execute("SELECT * FROM jobs WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,)).fetchone()
    return Job.from_row(row) if row else None


def active_jobs(conn: sqlite3.Connection, kind: str | None = None) -> list[Job]:
    """Jobs in a running state (not queued, not ended)."""
    sql = f"SELECT * FROM jobs WHERE status IN ({', '.join('?' for _ in _ACTIVE)})"
    params: tuple = _ACTIVE
    if kind:
        sql += " AND kind = ?"
        params += (kind,)
    return [Job.from_row(r) for r in conn.execute(sql, params)]


def cancel_requested(conn: sqlite3.Connection, job_id: int) -> bool:
    """True when someone asked the job to stop."""
    row = conn.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return bool(row and row[0])


def find_resumable(conn: sqlite3.Connection, kind: str, dataset_id: int | None, params: dict[str, Any]
                   ) -> Job | None:
    """The newest interrupted/failed/cancelled job of the same kind, dataset and parameters."""
    placeholders = ", ".join("?" for _ in RESUMABLE)
    row = conn.execute(
        f"""SELECT * FROM jobs WHERE kind = ? AND dataset_id IS ? AND params = ? AND status IN ({placeholders})
            ORDER BY id DESC LIMIT 1""",
        (kind, dataset_id, _params_json(params), *[s.value for s in RESUMABLE])).fetchone()
    return Job.from_row(row) if row else None


def finished_items(conn: sqlite3.Connection, job_id: int) -> set[str]:
    """Items a job already finished."""
    return {r[0] for r in conn.execute("SELECT item FROM job_items WHERE job_id = ?", (job_id,))}


def job_with_output(conn: sqlite3.Connection, path: str) -> int | None:
    """The newest job whose output or outputs name `path` (None if none)."""
    row = conn.execute(
        "SELECT j.id FROM jobs j WHERE j.output = ? OR EXISTS (SELECT 1 FROM json_each(j.outputs) o "
        "WHERE o.value = ?) ORDER BY j.id DESC LIMIT 1", (path, path)).fetchone()
    return row[0] if row else None


# -- writing ---------------------------------------------------------------------------------------------------


def _params_json(params: dict[str, Any] | None) -> str:
    return json.dumps(redact_value(params or {}), sort_keys=True)


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in fields.items():
        if key not in _COLUMNS:
            raise ValueError(f"jobs has no column {key!r}")
        if key in _JSON_FIELDS and not isinstance(value, str):
            value = json.dumps(redact_value(value), sort_keys=key == "params")
        elif key in _TEXT_FIELDS and isinstance(value, str):
            value = redact_text(value)
        elif key == "status":
            value = JobStatus(value).value
        elif isinstance(value, bool):
            value = int(value)
        out[key] = value
    return out


def _update(conn: sqlite3.Connection, job_id: int, fields: dict[str, Any], where: str = "", params: tuple = ()
            ) -> int:
    values = _encode({**fields, "updated_at": time.time()})
    assignments = ", ".join(f"{key} = ?" for key in values)
    count = conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ? {where}",
                         (*values.values(), job_id, *params)).rowcount
    if count and values.get("status") in _TERMINAL:
        # an ended job lets go of its GPUs (the assignment stays, for the history)
        conn.execute("UPDATE jobs SET gpu_released_at = ? WHERE id = ? AND gpu_ids IS NOT NULL "
                     "AND gpu_released_at IS NULL", (values["updated_at"], job_id))
    if count:
        changes.job_changed(conn, job_id, "status" if "status" in fields else "progress")
    return count


def create_job(conn: sqlite3.Connection, kind: str, *, title: str = "", dataset_id: int | None = None,
               params: dict[str, Any] | None = None, status: JobStatus = JobStatus.QUEUED,
               parent_id: int | None = None) -> Job:
    """Insert a job row and return it."""
    now = time.time()
    with transaction(conn):
        job_id = conn.execute(
            """INSERT INTO jobs (kind, title, dataset_id, status, params, parent_id, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (kind, redact_text(title), dataset_id, JobStatus(status).value, _params_json(params), parent_id,
             now, now)).lastrowid
        changes.job_changed(conn, job_id, "created")
    return get_job(conn, job_id)


def update_job(conn: sqlite3.Connection, job_id: int, **fields: Any) -> None:
    """Set columns of a job row (updated_at is set too)."""
    with transaction(conn):
        _update(conn, job_id, fields)


def delete_job(conn: sqlite3.Connection, job_id: int) -> None:
    """Remove a job that never started (its creation failed half way)."""
    with transaction(conn):
        conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        changes.job_changed(conn, job_id, "removed")


def claim_job(conn: sqlite3.Connection, job_id: int, status: JobStatus = JobStatus.RUNNING,
              message: str | None = None) -> Job:
    """Record that this process now runs the job (in `status`: running, or preparing while it waits for what
    `message` says); the message of an earlier run is replaced."""
    pid = os.getpid()
    now = time.time()
    update_job(conn, job_id, status=status, pid=pid, host=hostname(), proc_key=proc_key(pid), started_at=now,
               heartbeat_at=now, cancel_requested=False, error=None, exit_code=None, finished_at=None,
               message=message)
    return get_job(conn, job_id)


def create_claimed_job(conn: sqlite3.Connection, kind: str, *, title: str = "", dataset_id: int | None = None,
                       params: dict[str, Any] | None = None, status: JobStatus = JobStatus.RUNNING,
                       message: str | None = None) -> Job:
    """Insert a job already claimed by this process, in one transaction: no reader ever sees it queued without
    an owner (another process's reconcile would take it for a dead one)."""
    with transaction(conn):
        job = create_job(conn, kind, title=title, dataset_id=dataset_id, params=params)
        return claim_job(conn, job.id, status, message)


def claim_supervisor(conn: sqlite3.Connection, job_id: int, log_path: str) -> bool:
    """Record this process as the supervisor of a job that waits to start ('preparing', handed to no other
    supervisor); False if it was taken or ended meanwhile. A job cancelled before this ends as cancelled."""
    pid = os.getpid()
    now = time.time()
    with transaction(conn):
        job = find_job(conn, job_id)
        if job is None or job.status != JobStatus.PREPARING or job.supervisor_pid not in (None, pid):
            return False
        if job.cancel_requested:
            _update(conn, job_id, {"status": JobStatus.CANCELLED, "finished_at": now, "queue_position": None,
                                   "message": "cancelled before it started"})
            return False
        return _update(conn, job_id, {
            "supervisor_pid": pid, "pid": None, "host": hostname(), "proc_key": proc_key(pid),
            "status": JobStatus.PREPARING, "started_at": now, "heartbeat_at": now, "exit_code": None,
            "finished_at": None, "log_path": log_path, "error": None, "queue_position": None, "message": None}) == 1


def request_cancel(conn: sqlite3.Connection, job_id: int) -> Job:
    """Ask a running or queued job to stop; a queued job is cancelled at once."""
    with transaction(conn):
        job = get_job(conn, job_id)
        if job.terminal:
            raise JobError(f"job {job_id} already ended ({job.status.value})")
        if job.status == JobStatus.QUEUED:
            _update(conn, job_id, {"status": JobStatus.CANCELLED, "finished_at": time.time(), "queue_position": None,
                                   "message": "cancelled before it started"})
            _renumber(conn, queued_training_ids(conn))
        else:
            _update(conn, job_id, {"cancel_requested": True})
    return get_job(conn, job_id)


def mark_items_done(conn: sqlite3.Connection, job_id: int, items: Iterable[str], status: str = "done") -> None:
    """Remember finished items so a re-run skips them."""
    conn.executemany("INSERT OR REPLACE INTO job_items (job_id, item, status) VALUES (?, ?, ?)",
                     [(job_id, item, status) for item in items])


def record_progress(conn: sqlite3.Connection, job_id: int, fields: dict[str, Any], *,
                    items: Iterable[str] = (), metrics: dict[int, tuple] | None = None,
                    events: list[tuple[str, dict]] = ()) -> None:
    """One progress write of a running job: columns, finished items, loss metrics per step
    ({step: (epoch, loss, t)}) and events (kind, data), in one transaction."""
    with transaction(conn):
        mark_items_done(conn, job_id, items)
        if metrics:
            conn.executemany(
                "INSERT OR REPLACE INTO job_metrics (job_id, step, epoch, avr_loss, loss, t) VALUES (?, ?, ?, ?, ?, ?)",
                [(job_id, step, epoch, loss, loss, t) for step, (epoch, loss, t) in sorted(metrics.items())])
        if events:
            now = time.time()
            conn.executemany("INSERT INTO job_events (job_id, t, kind, data) VALUES (?, ?, ?, ?)",
                             [(job_id, now, kind, json.dumps(data)) for kind, data in events])
        if fields or metrics or events:
            _update(conn, job_id, dict(fields))


def mark_interrupted(conn: sqlite3.Connection, job_id: int, seen_status: JobStatus, note: str,
                     seen_key: str | None = None) -> bool:
    """End a job whose process is gone as interrupted, unless it changed since it was seen in `seen_status`
    owned by the process of `seen_key` (a job another process took over meanwhile is left alone)."""
    with transaction(conn):
        row = conn.execute("SELECT message FROM jobs WHERE id = ?", (job_id,)).fetchone()
        message = f"{row[0]}; {note}" if row and row[0] else note
        return _update(conn, job_id, {"status": JobStatus.INTERRUPTED, "finished_at": time.time(), "eta_s": None,
                                      "message": message}, "AND status = ? AND proc_key IS ?",
                       (JobStatus(seen_status).value, seen_key)) == 1


# -- events and metrics ----------------------------------------------------------------------------------------


def job_events(conn: sqlite3.Connection, job_id: int, kinds: Iterable[str]) -> list[tuple[str, dict]]:
    """(kind, data) of a job's events of some kinds, oldest first."""
    kinds = list(kinds)
    rows = conn.execute(f"SELECT kind, data FROM job_events WHERE job_id = ? AND kind IN "
                        f"({', '.join('?' for _ in kinds)}) ORDER BY id", (job_id, *kinds))
    return [(r[0], json.loads(r[1])) for r in rows]


def loss_points(conn: sqlite3.Connection, job_id: int, after_step: int = -1) -> list[tuple[int, float]]:
    """(step, loss) of a job after `after_step`, by step."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT step, COALESCE(avr_loss, loss) FROM job_metrics WHERE job_id = ? AND step > ? ORDER BY step",
        (job_id, after_step))]


def newest_job_with_metrics(conn: sqlite3.Connection, before: int | None = None) -> int | None:
    """The newest training job (older than job `before`, if given) that recorded loss metrics."""
    row = conn.execute("SELECT job_id FROM job_metrics JOIN jobs ON jobs.id = job_metrics.job_id "
                       "WHERE jobs.kind = 'train' AND job_id < ? ORDER BY job_id DESC LIMIT 1",
                       (before if before is not None else 1 << 62,)).fetchone()
    return row[0] if row else None


def step_spans(conn: sqlite3.Connection, family: str, limit: int = 50) -> list[tuple[int, int, float, float]]:
    """(first step, last step, first t, last t) of the newest trainings of a model family that recorded metrics."""
    rows = conn.execute(
        "SELECT MIN(m.step), MAX(m.step), MIN(m.t), MAX(m.t) FROM jobs j JOIN job_metrics m ON m.job_id = j.id "
        "WHERE j.kind = 'train' AND json_extract(j.params, '$.family') = ? AND m.t IS NOT NULL "
        "GROUP BY j.id ORDER BY j.id DESC LIMIT ?", (family, limit))
    return [tuple(r) for r in rows]


def latest_training_family(conn: sqlite3.Connection, dataset_id: int) -> str | None:
    """The model family of the newest training of a dataset, or None."""
    row = conn.execute(
        "SELECT json_extract(params, '$.family') FROM jobs WHERE kind = 'train' AND dataset_id = ? "
        "AND json_extract(params, '$.family') IS NOT NULL ORDER BY id DESC LIMIT 1", (dataset_id,)).fetchone()
    return row[0] if row else None


# -- the training queue ----------------------------------------------------------------------------------------

_QUEUE_KINDS = "(" + ", ".join(f"'{kind}'" for kind in SUPERVISED_KINDS) + ")"
"""The kinds in the queue, as SQL (trainings and checkpoint sweeps share the slots)."""


def active_training_count(conn: sqlite3.Connection) -> int:
    """How many trainings run now."""
    placeholders = ", ".join("?" for _ in _ACTIVE)
    return conn.execute(f"SELECT COUNT(*) FROM jobs WHERE kind IN {_QUEUE_KINDS} AND status IN ({placeholders})",
                        _ACTIVE).fetchone()[0]


def queued_training_ids(conn: sqlite3.Connection) -> list[int]:
    """Queued training jobs in the order they will run.

    A job being created is 'queued' without a position until ``claim_or_enqueue`` decides: not yet in the queue.
    """
    return [r[0] for r in conn.execute(
        f"SELECT id FROM jobs WHERE kind IN {_QUEUE_KINDS} AND status = 'queued' AND queue_position IS NOT NULL "
        "ORDER BY queue_position, id")]


def _renumber(conn: sqlite3.Connection, ids: list[int]) -> None:
    for position, job_id in enumerate(ids, start=1):
        _update(conn, job_id, {"queue_position": position}, "AND queue_position IS NOT ?", (position,))


def _fit(conn: sqlite3.Connection, job_id: int, slots: SlotView) -> list[int] | None:
    """The GPUs job `job_id` gets now, or None if its request does not fit the free ones."""
    row = conn.execute("SELECT gpu_request FROM jobs WHERE id = ?", (job_id,)).fetchone()
    request = GpuRequest.decode(row[0] if row else None)
    return choose(request, slots.free(held_gpus(conn)), slots.indices)


def _fail_impossible(conn: sqlite3.Connection, ids: list[int], slots: SlotView) -> list[int]:
    """End queued trainings whose request this machine can never meet (more GPUs than it has, a GPU it lacks)
    as failed, saying why; returns the others."""
    left = []
    for job_id in ids:
        row = conn.execute("SELECT gpu_request FROM jobs WHERE id = ?", (job_id,)).fetchone()
        why = impossible(GpuRequest.decode(row[0] if row else None), slots.indices)
        if why is None:
            left.append(job_id)
            continue
        message = f"cannot start: it {why}" if why.startswith("asks") else f"cannot start: {why}"
        _update(conn, job_id, {"status": JobStatus.FAILED, "finished_at": time.time(), "queue_position": None,
                               "message": message, "error": message})
    if len(left) != len(ids):
        _renumber(conn, left)
    return left


def _assignment(gpus: list[int]) -> dict[str, Any]:
    return {"gpu_ids": format_ids(gpus), "gpu_assigned_at": time.time(), "gpu_released_at": None}


def _launcher_fields() -> dict[str, Any]:
    # 'preparing', owned by this process until it hands the job to the supervisor it spawns: if it dies first,
    # the job is not stuck (``requeue_unstarted``)
    pid = os.getpid()
    return {"status": JobStatus.PREPARING, "queue_position": None, "pid": pid, "supervisor_pid": None,
            "host": hostname(), "proc_key": proc_key(pid)}


def claim_or_enqueue(conn: sqlite3.Connection, job_id: int, max_parallel: int, force_queue: bool = False,
                     slots: SlotView | None = None) -> bool:
    """Either mark a new training as starting, owned by this process (True: spawn its supervisor now and
    ``hand_to_supervisor``), or put it at the end of the queue.

    With `slots` (the machine's GPUs; None or empty: no GPUs) the GPUs decide instead of `max_parallel`: the
    training starts when its request fits the free GPUs, which it then holds (``gpu_ids``)."""
    with transaction(conn):
        waiting = [i for i in queued_training_ids(conn) if i != job_id]
        if not force_queue:
            if slots and slots.gpus:
                gpus = _fit(conn, job_id, slots)
                if gpus is not None:
                    _update(conn, job_id, {**_launcher_fields(), **_assignment(gpus)})
                    _renumber(conn, waiting)
                    return True
            elif active_training_count(conn) < max(1, max_parallel) and not waiting:
                _update(conn, job_id, _launcher_fields())
                return True
        _update(conn, job_id, {"status": JobStatus.QUEUED})
        _renumber(conn, waiting + [job_id])
        return False


def claim_next(conn: sqlite3.Connection, max_parallel: int, slots: SlotView | None = None) -> int | None:
    """Take the first queued training if a slot is free; returns its id (now 'preparing', owned by this
    process until ``hand_to_supervisor``). One transaction: two processes never take the same job.

    With `slots` (GPUs present) it takes the first queued training whose GPU request fits the free GPUs (a
    later one that fits goes before an earlier one that does not: no GPU idles while a fitting job waits) and
    records the GPUs it gets."""
    with transaction(conn):
        ids = queued_training_ids(conn)
        if not ids:
            return None
        if slots and slots.gpus:
            ids = _fail_impossible(conn, ids, slots)
            for job_id in ids:
                gpus = _fit(conn, job_id, slots)
                if gpus is not None:
                    _update(conn, job_id, {**_launcher_fields(), **_assignment(gpus)})
                    _renumber(conn, [i for i in ids if i != job_id])
                    return job_id
            return None
        if active_training_count(conn) >= max(1, max_parallel):
            return None
        _update(conn, ids[0], _launcher_fields())
        _renumber(conn, ids[1:])
        return ids[0]


def hand_to_supervisor(conn: sqlite3.Connection, job_id: int, supervisor_pid: int, key: str) -> bool:
    """Record the supervisor this process spawned for a job it claimed (unless the supervisor already claimed
    it, or the job went back to the queue meanwhile); from now on the job lives and dies with that process."""
    with transaction(conn):
        return _update(conn, job_id, {"supervisor_pid": supervisor_pid, "proc_key": key, "pid": None},
                       "AND status = ? AND supervisor_pid IS NULL AND pid = ?",
                       (JobStatus.PREPARING.value, os.getpid())) == 1


def fail_unstarted(conn: sqlite3.Connection, job_id: int, message: str) -> bool:
    """End a training this process claimed but could not hand to a supervisor as failed (unless a supervisor
    took it after all)."""
    with transaction(conn):
        return _update(conn, job_id, {"status": JobStatus.FAILED, "finished_at": time.time(), "message": message,
                                      "error": message},
                       "AND status = ? AND supervisor_pid IS NULL", (JobStatus.PREPARING.value,)) == 1


def requeue_unstarted(conn: sqlite3.Connection, job_id: int, seen_key: str | None, note: str) -> bool:
    """Put a training whose launcher died before spawning its supervisor back at the front of the queue (it
    never ran); False if it was handed on or changed meanwhile."""
    with transaction(conn):
        moved = _update(conn, job_id, {"status": JobStatus.QUEUED, "pid": None, "proc_key": None, "host": None,
                                       "queue_position": 0, "message": note, "gpu_ids": None,
                                       "gpu_assigned_at": None},
                        "AND status = ? AND supervisor_pid IS NULL AND proc_key IS ?",
                        (JobStatus.PREPARING.value, seen_key)) == 1
        if moved:
            _renumber(conn, queued_training_ids(conn))
        return moved


def move_in_queue(conn: sqlite3.Connection, job_id: int, position: int) -> list[int]:
    """Move a queued training to `position` (1 = next to run); returns the new order."""
    with transaction(conn):
        ids = queued_training_ids(conn)
        if job_id not in ids:
            raise NotFoundError(f"job {job_id} is not in the training queue")
        ids.remove(job_id)
        position = max(1, min(position, len(ids) + 1))
        ids.insert(position - 1, job_id)
        _renumber(conn, ids)
        return ids


def remove_from_queue(conn: sqlite3.Connection, job_id: int) -> None:
    """Take a queued training out of the queue (it ends as cancelled)."""
    with transaction(conn):
        job = get_job(conn, job_id)
        if job.status != JobStatus.QUEUED:
            raise JobError(f"job {job_id} is not queued ({job.status.value})")
        _update(conn, job_id, {"status": JobStatus.CANCELLED, "queue_position": None,
                               "message": "removed from the queue", "finished_at": time.time()})
        _renumber(conn, queued_training_ids(conn))


# -- GPUs ------------------------------------------------------------------------------------------------------


def held_gpus(conn: sqlite3.Connection) -> set[int]:
    """GPU indices held by active jobs (any kind)."""
    placeholders = ", ".join("?" for _ in _ACTIVE)
    held: set[int] = set()
    for (ids,) in conn.execute(f"SELECT gpu_ids FROM jobs WHERE gpu_ids IS NOT NULL AND status IN ({placeholders})",
                               _ACTIVE):
        held.update(parse_ids(ids))
    return held


def gpu_holders(conn: sqlite3.Connection) -> dict[int, int]:
    """GPU index -> id of the active job holding it."""
    placeholders = ", ".join("?" for _ in _ACTIVE)
    holders: dict[int, int] = {}
    for job_id, ids in conn.execute(f"SELECT id, gpu_ids FROM jobs WHERE gpu_ids IS NOT NULL AND status IN "
                                    f"({placeholders})", _ACTIVE):
        for index in parse_ids(ids):
            holders[index] = job_id
    return holders


def set_gpu_request(conn: sqlite3.Connection, job_id: int, request: GpuRequest) -> None:
    """Record what a job asks for (before it is claimed)."""
    update_job(conn, job_id, gpu_request=request.encode())


def claim_gpus(conn: sqlite3.Connection, job_id: int, request: GpuRequest, slots: SlotView) -> list[int] | None:
    """Give a running in-process job (tagging) the GPUs of `request` if they are free now; None if they are
    not (it then runs without them, or waits, as its caller decides). One transaction with the check."""
    with transaction(conn):
        gpus = choose(request, slots.free(held_gpus(conn)), slots.indices)
        if gpus is not None:
            _update(conn, job_id, _assignment(gpus))
        return gpus


def gpu_assignments(conn: sqlite3.Connection, job_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """(job id, kind, status, GPUs, assigned at, released at) of jobs that were given GPUs, oldest first."""
    rows = conn.execute("SELECT id, kind, status, gpu_ids, gpu_assigned_at, gpu_released_at FROM jobs "
                        "WHERE gpu_ids IS NOT NULL ORDER BY gpu_assigned_at, id").fetchall()
    wanted = set(job_ids) if job_ids is not None else None
    return [{"job_id": r[0], "kind": r[1], "status": r[2], "gpus": parse_ids(r[3]), "assigned_at": r[4],
             "released_at": r[5]} for r in rows if wanted is None or r[0] in wanted]


def record_gpu_samples(conn: sqlite3.Connection, job_id: int, samples: list[tuple[int, int | None, int | None,
                                                                                  int | None, int | None]],
                       t: float | None = None) -> None:
    """Store one telemetry sample per GPU of a job ((index, utilisation %, memory used, memory total, °C)),
    raise its peak memory, drop its samples older than ``GPU_SAMPLE_KEEP_S``."""
    t = time.time() if t is None else t
    peak = max((s[2] for s in samples if s[2] is not None), default=None)
    with transaction(conn):
        conn.executemany("INSERT INTO job_gpu_samples (job_id, t, gpu_index, utilization, memory_used, memory_total, "
                         "temperature) VALUES (?, ?, ?, ?, ?, ?, ?)", [(job_id, t, *s) for s in samples])
        conn.execute("DELETE FROM job_gpu_samples WHERE job_id = ? AND t < ?", (job_id, t - GPU_SAMPLE_KEEP_S))
        if peak is not None:
            conn.execute("UPDATE jobs SET peak_memory = ? WHERE id = ? AND (peak_memory IS NULL OR peak_memory < ?)",
                         (peak, job_id, peak))
        changes.job_changed(conn, job_id, "progress")


def gpu_samples(conn: sqlite3.Connection, job_id: int, since: float = 0.0) -> list[dict[str, Any]]:
    """A job's telemetry samples after `since`, oldest first: t, gpu, utilization, memory_used, memory_total,
    temperature."""
    rows = conn.execute("SELECT t, gpu_index, utilization, memory_used, memory_total, temperature FROM job_gpu_samples "
                        "WHERE job_id = ? AND t > ? ORDER BY t, gpu_index", (job_id, since))
    return [{"t": r[0], "gpu": r[1], "utilization": r[2], "memory_used": r[3], "memory_total": r[4],
             "temperature": r[5]} for r in rows]


def latest_gpu_samples(conn: sqlite3.Connection, job_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """The newest telemetry sample of each GPU of each job in `job_ids` (job id -> samples by GPU)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for job_id in job_ids:
        rows = conn.execute(
            "SELECT s.t, s.gpu_index, s.utilization, s.memory_used, s.memory_total, s.temperature "
            "FROM job_gpu_samples s WHERE s.job_id = ? AND s.t = (SELECT MAX(t) FROM job_gpu_samples WHERE job_id = ?) "
            "ORDER BY s.gpu_index", (job_id, job_id)).fetchall()
        if rows:
            out[job_id] = [{"t": r[0], "gpu": r[1], "utilization": r[2], "memory_used": r[3], "memory_total": r[4],
                            "temperature": r[5]} for r in rows]
    return out


def peak_memory(conn: sqlite3.Connection, job_id: int) -> int | None:
    """The most memory (bytes) one of a job's GPUs used while it ran; None when it was never sampled."""
    row = conn.execute("SELECT peak_memory FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row[0] if row else None
