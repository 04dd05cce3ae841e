"""GPU slots with the FAKE inventory of 8 GPUs: queued trainings needing 1, 2 or 4 GPUs share none, leave none
idle while one that fits waits, are pinned to what they got, and a fresh process respects what is held."""

from __future__ import annotations

import json
import os
import signal
import sys

from loratui.gpu.slots import GpuRequest
from loratui.jobs import repo
from loratui.store import connect
from loratui.training.plan import TrainPhase
from loratui.training.run.queue import advance_sync
from trhelpers import enqueue, job_row, make_plan, wait_for, wait_status

TERMINAL = {"completed", "failed", "cancelled", "interrupted"}
TRAINER = (
    "import json, os, sys, time\n"
    "open(sys.argv[1], 'w').write(json.dumps({'visible': os.environ.get('CUDA_VISIBLE_DEVICES'),\n"
    "    'order': os.environ.get('CUDA_DEVICE_ORDER')}))\n"
    "time.sleep(float(sys.argv[2]))\n"
)


def _gpu_job(ctx, tmp_path, name: str, request: GpuRequest, seconds: float) -> int:
    seen = tmp_path / f"{name}.json"
    phase = TrainPhase("train", [sys.executable, "-c", TRAINER, str(seen), str(seconds)], str(tmp_path))
    job_id = enqueue(ctx, make_plan(tmp_path, name=name, phases=[phase]))
    conn = connect(ctx.paths.db)
    try:
        repo.set_gpu_request(conn, job_id, request)
    finally:
        conn.close()
    return job_id


def _overlaps(intervals):
    """Pairs of assignments that held one GPU at the same moment."""
    bad = []
    for i, a in enumerate(intervals):
        for b in intervals[i + 1:]:
            shared = set(a["gpus"]) & set(b["gpus"])
            if shared and a["assigned_at"] < b["released_at"] and b["assigned_at"] < a["released_at"]:
                bad.append((a["job_id"], b["job_id"], sorted(shared)))
    return bad


def _idle_while_fitting(intervals, needs: dict[int, int], gpu_count: int, tolerance: float):
    """Moments (between two assignment/release events) longer than `tolerance` in which a waiting job would
    have fitted the free GPUs."""
    times = sorted({t for a in intervals for t in (a["assigned_at"], a["released_at"])})
    found = []
    for start, end in zip(times, times[1:]):
        held = {g for a in intervals if a["assigned_at"] <= start < a["released_at"] for g in a["gpus"]}
        free = gpu_count - len(held)
        waiting = [a["job_id"] for a in intervals if a["assigned_at"] > start]
        if any(needs[j] <= free for j in waiting) and end - start > tolerance:
            found.append((start, end, free, waiting))
    return found


def test_ten_jobs_on_eight_fake_gpus_share_nothing_and_leave_nothing_idle(ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("LORATUI_FAKE_GPUS", "8")
    needs_list = [4, 2, 1, 4, 1, 2, 1, 2, 4, 1]
    seconds = [2.0, 1.0, 1.5, 1.0, 2.5, 1.5, 1.0, 2.0, 1.0, 0.5]
    ids = [_gpu_job(ctx, tmp_path, f"j{i}", GpuRequest(n), s) for i, (n, s) in enumerate(zip(needs_list, seconds))]
    conn = connect(ctx.paths.db)
    try:
        advance_sync(conn, ctx)
        rows = [wait_status(ctx.paths.home, job_id, TERMINAL, timeout=180) for job_id in ids]
        intervals = repo.gpu_assignments(conn, ids)
    finally:
        conn.close()
    assert [r["status"] for r in rows] == ["completed"] * 10
    assert len(intervals) == 10
    needs = dict(zip(ids, needs_list))
    for a in intervals:
        assert len(a["gpus"]) == needs[a["job_id"]] and set(a["gpus"]) <= set(range(8))
        assert a["released_at"] is not None and a["released_at"] >= a["assigned_at"]
    assert _overlaps(intervals) == []
    assert _idle_while_fitting(intervals, needs, 8, tolerance=5.0) == []
    # several ran at once, on different GPUs
    first = min(a["released_at"] for a in intervals)
    assert sum(1 for a in intervals if a["assigned_at"] < first) >= 3
    # each trainer saw exactly its GPUs, numbered as NVML numbers them
    for i, job_id in enumerate(ids):
        seen = json.loads((tmp_path / f"j{i}.json").read_text())
        gpus = next(a["gpus"] for a in intervals if a["job_id"] == job_id)
        assert seen == {"visible": ",".join(map(str, gpus)), "order": "PCI_BUS_ID"}


def test_the_checker_sees_sharing_and_idling():
    """The two checks above can fail: a shared GPU and a fitting job left waiting are reported."""
    a = {"job_id": 1, "gpus": [0, 1], "assigned_at": 0.0, "released_at": 10.0}
    b = {"job_id": 2, "gpus": [1], "assigned_at": 5.0, "released_at": 12.0}
    assert _overlaps([a, b]) == [(1, 2, [1])]
    c = {"job_id": 3, "gpus": [0], "assigned_at": 30.0, "released_at": 31.0}
    assert _idle_while_fitting([a, c], {1: 2, 3: 1}, 2, tolerance=5.0)


def test_a_fresh_process_respects_held_gpus_and_a_killed_supervisor_frees_them(ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("LORATUI_FAKE_GPUS", "8")
    a = _gpu_job(ctx, tmp_path, "a", GpuRequest(4), 60.0)
    b = _gpu_job(ctx, tmp_path, "b", GpuRequest(0, (4, 5, 6, 7)), 60.0)
    conn = connect(ctx.paths.db)
    try:
        assert advance_sync(conn, ctx) == [a, b]
        home = ctx.paths.home
        wait_for(lambda: (tmp_path / "a.json").exists() and (tmp_path / "b.json").exists(), 60, what="trainers")
        c = _gpu_job(ctx, tmp_path, "c", GpuRequest(2), 0.2)
        # another process (a restarted TUI, a CLI) advancing the queue sees every GPU held
        assert advance_sync(conn, ctx) == []
        assert job_row(home, c)["status"] == "queued"
        assert repo.held_gpus(conn) == set(range(8))
        # the supervisor of `a` is killed: reconciling marks it interrupted, stops its trainer, frees GPUs 0-3
        os.kill(job_row(home, a)["supervisor_pid"], signal.SIGKILL)
        wait_for(lambda: advance_sync(conn, ctx) == [c], 30, what="c to start on a's GPUs")
        assert job_row(home, a)["status"] == "interrupted"
        assert job_row(home, a)["gpu_released_at"] is not None
        assert job_row(home, c)["gpu_ids"] == "0,1"
        assert job_row(home, b)["gpu_ids"] == "4,5,6,7" and job_row(home, b)["gpu_released_at"] is None
        wait_status(home, c, TERMINAL, timeout=60)
    finally:
        conn.close()


def test_without_gpus_max_parallel_decides_as_before(ctx, tmp_path):
    ids = [_gpu_job(ctx, tmp_path, f"n{i}", GpuRequest(1), 0.2) for i in range(2)]
    conn = connect(ctx.paths.db)
    try:
        assert advance_sync(conn, ctx) == ids[:1]  # max_parallel = 1
        rows = [wait_status(ctx.paths.home, job_id, TERMINAL, timeout=60) for job_id in ids]
    finally:
        conn.close()
    assert [r["status"] for r in rows] == ["completed", "completed"]
    assert [r["gpu_ids"] for r in rows] == [None, None]
    assert json.loads((tmp_path / "n0.json").read_text())["visible"] is None


def test_a_request_this_machine_can_never_meet_fails_with_the_reason(ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("LORATUI_FAKE_GPUS", "2")
    big = _gpu_job(ctx, tmp_path, "big", GpuRequest(4), 0.1)
    missing = _gpu_job(ctx, tmp_path, "missing", GpuRequest(0, (5,)), 0.1)
    fits = _gpu_job(ctx, tmp_path, "fits", GpuRequest(2), 0.1)
    conn = connect(ctx.paths.db)
    try:
        assert advance_sync(conn, ctx) == [fits]
        wait_status(ctx.paths.home, fits, TERMINAL, timeout=60)
    finally:
        conn.close()
    assert job_row(ctx.paths.home, big)["status"] == "failed"
    assert job_row(ctx.paths.home, big)["message"] == "cannot start: it asks for 4 GPUs; this machine has 2"
    assert job_row(ctx.paths.home, missing)["message"] == "cannot start: GPU 5 does not exist here (GPUs: 0,1)"
