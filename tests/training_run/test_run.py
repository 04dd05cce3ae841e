"""Real detached supervisors running the stand-in trainer: complete, detach, reattach, cancel, crash, kill, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from loratui.store import Store
from loratui.jobs.reconcile import reconcile
from loratui.training.run import launch
from loratui.training.run import queue as run_queue
from loratui.training.run.procgroup import group_members
from trhelpers import alive, job_events, job_row, make_plan, wait_for, wait_status
from tests.dbutil import execute as db_execute, rows as db_rows

REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


async def _start(ctx, plan, **kw) -> int:
    async with Store.open(ctx.paths.db) as store:
        return await launch.start_training(store, ctx, plan, **kw)


async def test_completed_run_records_everything(ctx, home, tmp_path):
    plan = make_plan(tmp_path, "08_save_state", "--samples_at", "2,4")
    job_id = await _start(ctx, plan, title="tiny")
    row = wait_status(home, job_id, TERMINAL)
    assert row["status"] == "completed", row
    assert (row["step"], row["total_steps"], row["epoch"], row["epochs"]) == (4, 4, 1, 1)
    assert row["loss"] == pytest.approx(1.07) and row["exit_code"] == 0 and row["message"] is None
    assert row["output"] == str(tmp_path / "run" / "out" / "tinylora.safetensors")
    assert Path(row["output"]).is_file() and json.loads(row["outputs"]) == [row["output"]]
    assert row["supervisor_pid"] and row["pid"] and row["pgid"] == row["pid"]
    log = Path(row["log_path"]).read_bytes()
    assert b"\rsteps:" in log and b"saving checkpoint" in log  # raw bytes, both streams
    async with Store.open(ctx.paths.db) as store:
        metrics = await db_rows(store, "SELECT step, avr_loss FROM job_metrics WHERE job_id = ? ORDER BY step",
                                       (job_id,))
    assert [(m[0], m[1]) for m in metrics] == [(1, 0.963), (2, 1.06), (3, 1.07), (4, 1.07)]
    kinds = [e["kind"] for e in job_events(home, job_id)]
    assert {"phase_started", "summary", "checkpoint", "state_saved", "phase_done"} <= set(kinds)
    samples = job_events(home, job_id, "sample")
    assert [s["step"] for s in samples] == [2, 4] and all(Path(s["path"]).is_file() for s in samples)
    wait_for(lambda: not alive(row["supervisor_pid"]), 10, what="the supervisor to exit")
    assert not group_members(row["pgid"])


def test_detach_starting_process_exits_job_goes_on(ctx, home, tmp_path):
    plan = make_plan(tmp_path, "16_toml_accelerate_combined_unbuffered", step_delay=0.5)
    code = (
        "import asyncio, pickle, sys\n"
        "from loratui.config import Context\nfrom loratui.store import Store\n"
        "from loratui.training.run.launch import start_training\n"
        "plan = pickle.loads(sys.stdin.buffer.read())\n"
        "async def go():\n"
        "    async with Store.open(Context.load(sys.argv[1]).paths.db) as store:\n"
        "        print(await start_training(store, Context.load(sys.argv[1]), plan))\n"
        "asyncio.run(go())\n"
    )
    import pickle

    env = dict(os.environ, PYTHONPATH=str(REPO))
    starter = subprocess.run([sys.executable, "-c", code, str(home)], input=pickle.dumps(plan), env=env,
                             capture_output=True, timeout=60)
    assert starter.returncode == 0, starter.stderr
    job_id = int(starter.stdout.decode().strip())
    row = job_row(home, job_id)
    assert row["status"] not in TERMINAL  # the starter is gone, the training is not
    assert wait_status(home, job_id, TERMINAL, timeout=60)["status"] == "completed"


def test_reattach_from_a_new_process(ctx, home, tmp_path):
    plan = make_plan(tmp_path, "12_sigint_accelerate_group", step_delay=0.2)
    import asyncio

    job_id = asyncio.run(_start(ctx, plan))
    wait_for(lambda: (job_row(home, job_id).get("step") or 0) >= 3, 30, what="step 3")
    # A brand-new process (a later SSH session) sees the running job from the database and its log file.
    code = ("import asyncio, json, sys\nfrom loratui.config import Context\nfrom loratui.store import Store\n"
            "from loratui.jobs import repo\nfrom loratui.jobs.reconcile import reconcile\n"
            "async def go():\n    async with Store.open(Context.load(sys.argv[1]).paths.db) as s:\n"
            "        await reconcile(s)\n        j = await s.run(repo.get_job, int(sys.argv[2]))\n"
            "        print(json.dumps([j.status.value, j.step, j.total_steps, open(j.log_path,'rb').read().count(b'steps:')]))\n"
            "asyncio.run(go())\n")
    out = subprocess.run([sys.executable, "-c", code, str(home), str(job_id)], capture_output=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    status, step, total, bars = json.loads(out.stdout)
    assert status == "training" and step == 3 and total == 40 and bars >= 3
    async def cancel():
        async with Store.open(ctx.paths.db) as store:
            return await launch.cancel_training(store, ctx, job_id)
    assert asyncio.run(cancel()).status.value == "cancelled"


async def test_cancel_leaves_no_process(ctx, home, tmp_path):
    plan = make_plan(tmp_path, "12_sigint_accelerate_group", "--child", step_delay=0.2)
    job_id = await _start(ctx, plan)
    wait_for(lambda: (job_row(home, job_id).get("step") or 0) >= 3, 30, what="step 3")
    pgid = job_row(home, job_id)["pgid"]
    members = group_members(pgid)
    assert len(members) >= 2  # the trainer and its SIGINT-ignoring child
    async with Store.open(ctx.paths.db) as store:
        job = await launch.cancel_training(store, ctx, job_id)
    assert job.status.value == "cancelled" and job.message == "cancelled at step 3"
    assert not group_members(pgid) and not any(alive(pid) for pid in members)
    assert not alive(job.supervisor_pid)
    stopped = job_events(home, job_id, "stopped")
    assert stopped and stopped[0]["by"] == "SIGTERM"  # SIGINT was not enough for the child
    assert job.exit_code is not None and job.exit_code < 0


async def test_crash_is_failed_with_the_traceback(ctx, home, tmp_path):
    job_id = await _start(ctx, make_plan(tmp_path, "21_fail_missing_model"))
    row = wait_status(home, job_id, TERMINAL)
    assert row["status"] == "failed" and row["exit_code"] == 1
    assert row["message"].startswith("ValueError: The provided pretrained_model_name_or_path")
    assert row["error"].startswith("Traceback (most recent call last):") and "load_target_model" in row["error"]


async def test_killed_supervisor_is_interrupted_and_trainer_stopped(ctx, home, tmp_path):
    job_id = await _start(ctx, make_plan(tmp_path, "12_sigint_accelerate_group", step_delay=0.1))
    wait_for(lambda: (job_row(home, job_id).get("step") or 0) >= 3, 30, what="step 3")
    row = job_row(home, job_id)
    os.kill(row["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: not alive(row["supervisor_pid"]), 10, what="supervisor gone")
    async with Store.open(ctx.paths.db) as store:
        assert [job.id for job in await reconcile(store)] == [job_id]  # the job row, by any process
        await run_queue.advance(store, ctx)  # and the trainer it left behind
    after = job_row(home, job_id)
    assert after["status"] == "interrupted" and "last seen at step 3/40" in after["message"]
    wait_for(lambda: not group_members(row["pgid"]), 15, what="the orphaned trainer to stop")


async def test_supervisor_sigterm_ends_as_interrupted(ctx, home, tmp_path):
    job_id = await _start(ctx, make_plan(tmp_path, "12_sigint_accelerate_group", step_delay=0.1))
    wait_for(lambda: (job_row(home, job_id).get("step") or 0) >= 3, 30, what="step 3")
    row = job_row(home, job_id)
    os.kill(row["supervisor_pid"], signal.SIGTERM)
    after = wait_status(home, job_id, TERMINAL)
    assert after["status"] == "interrupted" and not group_members(row["pgid"])


async def test_resume_continues_from_the_saved_step(ctx, home, tmp_path):
    # the config asks for 6 steps; the recording of the first run stops after saving its state at step 4
    first = await _start(ctx, make_plan(tmp_path, "08_save_state", "--crash_after", total_steps=6))
    row = wait_status(home, first, TERMINAL)
    assert row["status"] == "failed" and "stand-in crash" in row["message"]
    async with Store.open(ctx.paths.db) as store:
        second = await launch.resume_training(store, ctx, first)
    row = wait_status(home, second, TERMINAL)
    assert row["status"] == "completed", row
    assert row["parent_id"] == first and (row["step"], row["total_steps"]) == (6, 6)
    started = job_events(home, second, "phase_started")[0]
    assert started["argv"][-3:] == ["--resume", str(tmp_path / "run" / "out" / "tinylora-state"),
                                    "--skip_until_initial_step"]
    assert job_events(home, second, "resumed")[0]["step"] == 4
    async with Store.open(ctx.paths.db) as store:
        steps = [r[0] for r in await db_rows(store, "SELECT step FROM job_metrics WHERE job_id = ?", (second,))]
    assert steps == [5, 6]


async def test_resume_without_state_is_refused(ctx, home, tmp_path):
    from loratui.errors import JobError

    first = await _start(ctx, make_plan(tmp_path, "21_fail_missing_model"))
    wait_status(home, first, TERMINAL)
    async with Store.open(ctx.paths.db) as store:
        with pytest.raises(JobError, match="saved no state"):
            await launch.resume_training(store, ctx, first)


async def test_cancel_is_a_gentle_sigint_even_when_the_starter_ignored_sigint(ctx, home, tmp_path):
    # `nohup ... &` and background jobs of scripts start with SIGINT ignored, and an ignored signal is
    # inherited through fork and exec: the trainer must still get a working SIGINT.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        job_id = await _start(ctx, make_plan(tmp_path, "12_sigint_accelerate_group", step_delay=0.05))
    finally:
        signal.signal(signal.SIGINT, previous)
    wait_for(lambda: (job_row(home, job_id).get("step") or 0) >= 3, 30, what="step 3")
    async with Store.open(ctx.paths.db) as store:
        job = await launch.cancel_training(store, ctx, job_id)
    assert job.status.value == "cancelled" and job.exit_code == -2  # died of the SIGINT, like sd-scripts
    assert job_events(home, job_id, "stopped")[0]["by"] == "SIGINT"
    assert b"KeyboardInterrupt" in Path(job.log_path).read_bytes()


async def test_resume_of_a_finished_state_is_refused(ctx, home, tmp_path):
    from loratui.errors import JobError

    first = await _start(ctx, make_plan(tmp_path, "08_save_state"))
    wait_status(home, first, TERMINAL)
    async with Store.open(ctx.paths.db) as store:
        await db_execute(store, "UPDATE jobs SET status = 'interrupted' WHERE id = ?", (first,))
        with pytest.raises(JobError, match="nothing is left to train"):
            await launch.resume_training(store, ctx, first)


async def test_completed_loras_go_to_the_library(ctx, home, tmp_path):
    job_id = await _start(ctx, make_plan(tmp_path, "12_sigint_accelerate_group", "--exit", "0", step_delay=0.0,
                                         name="lib"))
    # 12_* waits for a signal after step 3: stop it the gentle way; it is then cancelled, not indexed
    wait_for(lambda: (job_row(home, job_id).get("step") or 0) >= 3, 30, what="step 3")
    async with Store.open(ctx.paths.db) as store:
        await launch.cancel_training(store, ctx, job_id)
        assert await db_rows(store, "SELECT * FROM loras WHERE job_id = ?", (job_id,)) == []
    done = await _start(ctx, make_plan(tmp_path, "16_toml_accelerate_combined_unbuffered", name="lib2"))
    row = wait_status(home, done, TERMINAL)
    assert row["status"] == "completed"
    async with Store.open(ctx.paths.db) as store:
        rows = await db_rows(store, "SELECT path FROM loras WHERE job_id = ?", (done,))
    assert [r[0] for r in rows] == [row["output"]]


async def test_a_trainer_that_cannot_start_fails_clearly(ctx, home, tmp_path):
    from loratui.training.plan import TrainPhase

    plan = make_plan(tmp_path, phases=[TrainPhase("train", [str(tmp_path / "no-such-python"), "x.py"], "")])
    job_id = await _start(ctx, plan)
    row = wait_status(home, job_id, TERMINAL)
    assert row["status"] == "failed" and row["exit_code"] == 127
    assert row["message"].startswith("could not start the train phase:") and "no-such-python" in row["message"]


async def test_processes_left_behind_by_the_trainer_are_stopped(ctx, home, tmp_path):
    # The trainer exits normally but leaves a child in its process group (an orphaned worker).
    job_id = await _start(ctx, make_plan(tmp_path, "16_toml_accelerate_combined_unbuffered", "--child"))
    row = wait_status(home, job_id, TERMINAL)
    assert row["status"] == "completed"
    left = job_events(home, job_id, "leftovers_stopped")
    assert left and left[0]["by"] == "SIGTERM"  # the child ignores SIGINT
    assert not group_members(row["pgid"])
