"""Processes advancing the training queue at the same moment never start one training twice.

``repo.claim_next`` takes the first queued training in one ``BEGIN IMMEDIATE`` transaction; these tests race
real processes against each other (released together at one instant) and count who got what.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from loratui.config import Context
from loratui.jobs import repo
from loratui.store import connect
from trhelpers import enqueue, job_events, job_row, make_plan, wait_status

REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}

CLAIMER = """
import json, sys, time
from loratui.config import Context
from loratui.jobs import repo
from loratui.store import connect
conn = connect(sys.argv[1])
max_parallel, start_at = int(sys.argv[2]), float(sys.argv[3])
while time.time() < start_at:
    pass
claimed = []
while (job_id := repo.claim_next(conn, max_parallel)) is not None:
    claimed.append(job_id)
    time.sleep(0.15)  # longer than SQLite's longest busy wait: the others get their turns
print(json.dumps(claimed))
"""

ADVANCER = """
import json, sys, time
from loratui.config import Context
from loratui.store import connect
from loratui.training.run.queue import advance_sync
ctx = Context.load(sys.argv[1])
conn = connect(ctx.paths.db)
start_at = float(sys.argv[2])
while time.time() < start_at:
    pass
print(json.dumps(advance_sync(conn, ctx)))
"""


def _race(code: str, args: list[str], processes: int) -> list[list[int]]:
    start_at = str(time.time() + 3.0)  # every process is up and connected by then
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", code, *args, start_at], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env) for _ in range(processes)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        results.append(json.loads(out))
    return results


def _queued_rows(db: Path, count: int) -> list[int]:
    conn = connect(db)
    try:
        ids = []
        for _ in range(count):
            job = repo.create_job(conn, "train", title="raced")
            repo.claim_or_enqueue(conn, job.id, 1, force_queue=True)
            ids.append(job.id)
        return ids
    finally:
        conn.close()


def test_claim_next_in_racing_processes_hands_each_job_out_once(ctx):
    ids = _queued_rows(ctx.paths.db, 16)
    results = _race(CLAIMER, [str(ctx.paths.db), "1000"], 4)
    claimed = [job_id for result in results for job_id in result]
    assert sorted(claimed) == ids  # every job once, none twice
    assert sum(1 for result in results if result) >= 2  # they really raced


def test_claim_next_in_racing_processes_respects_the_slots(ctx):
    ids = _queued_rows(ctx.paths.db, 10)
    results = _race(CLAIMER, [str(ctx.paths.db), "3"], 4)
    claimed = sorted(job_id for result in results for job_id in result)
    assert claimed == ids[:3]


def test_two_processes_advancing_at_once_start_each_training_once(ctx, home, tmp_path):
    (home / "config.toml").write_text((home / "config.toml").read_text() + "\n[trainers]\nmax_parallel = 2\n")
    ctx = Context.load(home)
    ids = [enqueue(ctx, make_plan(tmp_path, name=name, step_delay=0.3)) for name in ("a", "b", "c")]
    results = _race(ADVANCER, [str(home)], 2)
    started = sorted(job_id for result in results for job_id in result)
    assert started == ids[:2]  # two slots: two trainings, each started by one process
    assert job_row(home, ids[2])["status"] == "queued"
    rows = [wait_status(home, job_id, TERMINAL, timeout=90) for job_id in ids]
    assert [r["status"] for r in rows] == ["completed"] * 3
    assert len({r["supervisor_pid"] for r in rows}) == 3
    assert [len(job_events(home, job_id, "phase_started")) for job_id in ids] == [1, 1, 1]
