"""Helpers for training-run tests: stand-in trainer plans, reading job rows, waiting."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "standin_trainer.py"
FIXTURES = HERE.parent / "fixtures"


def standin_argv(out_dir: Path, log: str = "16_toml_accelerate_combined_unbuffered", *extra: str,
                 step_delay: float = 0.02) -> list[str]:
    """argv of the stand-in trainer replaying fixture `log` into `out_dir`."""
    return [sys.executable, str(STANDIN), "--log", log, "--output_dir", str(out_dir), "--output_name", "tinylora",
            "--step_delay", str(step_delay), *extra]


def make_plan(tmp_path: Path, log: str = "16_toml_accelerate_combined_unbuffered", *extra: str,
              step_delay: float = 0.02, name: str = "run", phases=None, total_steps: int | None = None):
    """A kohya TrainPlan whose train phase is the stand-in trainer."""
    from loratui.training.plan import TrainPhase, TrainPlan

    out = tmp_path / name / "out"
    workdir = tmp_path / name / "work"
    if phases is None:
        phases = [TrainPhase("train", standin_argv(out, log, *extra, step_delay=step_delay), str(tmp_path))]
    return TrainPlan(backend="kohya", family="sd15", workdir=workdir, files={"note.txt": "stand-in\n"},
                     phases=phases, output_dir=str(out), output_name="tinylora", total_steps=total_steps, epochs=1)


def job_row(home: Path, job_id: int) -> dict:
    """The job row read with a plain sqlite3 connection."""
    conn = sqlite3.connect(str(home / "loratui.db"), timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row else {}
    finally:
        conn.close()


def job_events(home: Path, job_id: int, kind: str | None = None) -> list[dict]:
    """job_events rows (data decoded)."""
    conn = sqlite3.connect(str(home / "loratui.db"), timeout=30)
    try:
        rows = conn.execute("SELECT kind, data FROM job_events WHERE job_id = ? ORDER BY id", (job_id,)).fetchall()
    finally:
        conn.close()
    return [dict(json.loads(d), kind=k) for k, d in rows if kind is None or k == kind]


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll until predicate() is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def wait_status(home: Path, job_id: int, statuses, timeout: float = 30.0) -> dict:
    """Wait until the job reaches one of `statuses`; returns the row."""
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)
    return wait_for(lambda: (lambda r: r if r.get("status") in statuses else None)(job_row(home, job_id)),
                    timeout, what=f"job {job_id} to reach {statuses} (now {job_row(home, job_id).get('status')})")


def alive(pid: int) -> bool:
    """True if pid runs and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2:][:1] != b"Z"


def kill_job_processes(home: Path) -> None:
    """SIGKILL the supervisors and trainer groups of every job in `home` (cleanup after a failed test)."""
    import os
    import signal
    import sqlite3

    from loratui.jobs.procinfo import is_alive
    from loratui.training.run.procgroup import group_members

    db = home / "loratui.db"
    if not db.exists():
        return
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        rows = conn.execute("SELECT supervisor_pid, proc_key, pgid FROM jobs").fetchall()
    finally:
        conn.close()
    for supervisor_pid, key, pgid in rows:
        if supervisor_pid and is_alive(supervisor_pid, key):
            os.kill(supervisor_pid, signal.SIGKILL)
        if pgid and group_members(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass

