"""A queue of trainings that advances with no loratui open, and musubi's three phases."""

from __future__ import annotations

import pytest

from loratui.errors import JobError, NotFoundError
from loratui.jobs import repo
from loratui.store import Store
from loratui.training.run import launch
from loratui.training.run import queue as run_queue
from trhelpers import job_events, job_row, make_plan, musubi_plan, wait_status

TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


async def _start(ctx, plan, **kw) -> int:
    async with Store.open(ctx.paths.db) as store:
        return await launch.start_training(store, ctx, plan, **kw)


async def test_queue_of_two_runs_one_after_another(ctx, home, tmp_path):
    first = await _start(ctx, make_plan(tmp_path, name="a", step_delay=0.15))
    second = await _start(ctx, make_plan(tmp_path, name="b"))
    assert job_row(home, second)["status"] == "queued" and job_row(home, second)["queue_position"] == 1
    # Nothing of this test process takes part from here: the first supervisor starts the second job.
    a = wait_status(home, first, TERMINAL)
    b = wait_status(home, second, TERMINAL)
    assert a["status"] == b["status"] == "completed"
    assert b["started_at"] >= a["finished_at"]
    assert b["supervisor_pid"] != a["supervisor_pid"]


async def test_queue_reorder_and_remove(ctx, home, tmp_path):
    running = await _start(ctx, make_plan(tmp_path, "12_sigint_accelerate_group", name="r", step_delay=0.05))
    ids = [await _start(ctx, make_plan(tmp_path, name=n)) for n in ("x", "y", "z")]
    async with Store.open(ctx.paths.db) as store:
        assert await run_queue.list_queue(store) == ids
        assert await run_queue.move(store, ctx, ids[2], 1) == [ids[2], ids[0], ids[1]]
        await run_queue.remove(store, ctx, ids[0])
        assert await run_queue.list_queue(store) == [ids[2], ids[1]]
        assert [job_row(home, i)["queue_position"] for i in (ids[2], ids[1])] == [1, 2]
        assert job_row(home, ids[0])["status"] == "cancelled"
        with pytest.raises(NotFoundError):
            await run_queue.move(store, ctx, ids[0], 1)
        with pytest.raises(JobError):
            await run_queue.remove(store, ctx, running)
        # cancelling a queued job through the training cancel takes it out of the queue
        await launch.cancel_training(store, ctx, ids[1])
        assert await run_queue.list_queue(store) == [ids[2]]
        await launch.cancel_training(store, ctx, running)
    done = wait_status(home, ids[2], TERMINAL)
    assert done["status"] == "completed"


async def test_musubi_three_phases(ctx, home, tmp_path):
    job_id = await _start(ctx, musubi_plan(tmp_path))
    row = wait_status(home, job_id, TERMINAL)
    assert row["status"] == "completed" and row["step"] == 4
    started = [e["name"] for e in job_events(home, job_id, "phase_started")]
    assert started == ["cache_latents", "cache_text", "train"]
    assert [e["exit_code"] for e in job_events(home, job_id, "phase_done")] == [0, 0, 0]


async def test_musubi_failed_phase_stops_the_job(ctx, home, tmp_path):
    job_id = await _start(ctx, musubi_plan(tmp_path, text_rc=3))
    row = wait_status(home, job_id, TERMINAL)
    assert row["status"] == "failed" and row["exit_code"] == 3
    assert "exited with code 3" in row["message"]
    assert [e["name"] for e in job_events(home, job_id, "phase_started")] == ["cache_latents", "cache_text"]


async def test_musubi_resume_skips_finished_caching(ctx, home, tmp_path):
    first = await _start(ctx, musubi_plan(tmp_path, train_extra=("--crash_after",)))
    assert wait_status(home, first, TERMINAL)["status"] == "failed"
    async with Store.open(ctx.paths.db) as store:
        second = await launch.resume_training(store, ctx, first)
    row = wait_status(home, second, TERMINAL)
    assert row["status"] == "completed"
    assert [e["name"] for e in job_events(home, second, "phase_skipped")] == ["cache_latents", "cache_text"]
    argv = job_events(home, second, "phase_started")[0]["argv"]
    assert "--resume" in argv and "--skip_until_initial_step" not in argv  # musubi has no such option


async def test_a_job_being_created_is_not_taken_from_the_queue(ctx, home, tmp_path):
    # Between create and claim_or_enqueue a new job is 'queued' without a position: a finishing supervisor
    # looking for the next queued job must not start it behind the creator's back.
    async with Store.open(ctx.paths.db) as store:
        await store.run(repo.create_job, "train", title="being created")
        assert await run_queue.list_queue(store) == []
        assert await store.run(repo.claim_next, 1) is None


async def test_musubi_caching_progress_counts_the_items_it_prints(ctx, home, tmp_path):
    """A caching phase replaying musubi's real per-item output (tests/fixtures/musubi-logs/steps) with the plan's
    item count as its total: the job's progress ends at 11/11 (it starts at 0/11; only the item lines count)."""
    import sys

    from loratui.training.plan import TrainPhase
    from trhelpers import FIXTURES

    logs = FIXTURES / "musubi-logs" / "steps"
    script = (f"import sys\nsys.stderr.buffer.write(open({str(logs / 'cache_lat.err')!r}, 'rb').read())\n"
              f"sys.stdout.buffer.write(open({str(logs / 'cache_lat.out')!r}, 'rb').read())\n")
    plan = musubi_plan(tmp_path)
    plan.phases = [TrainPhase("cache_latents", [sys.executable, "-c", script], "", items=11)]
    job_id = await _start(ctx, plan)
    row = wait_status(home, job_id, TERMINAL)
    assert (row["progress_done"], row["progress_total"]) == (11, 11)
    events = job_events(home, job_id, "phase_done")
    assert [e["exit_code"] for e in events] == [0]
