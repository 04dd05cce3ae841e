"""Jobs (progress, cancel, resume, stale detection) and the caption journal."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from loratui.datasets import service
from loratui.datasets.journal import CaptionChange, apply_caption_changes, save_caption
from loratui.errors import ConflictError, InputError
from loratui.jobs import Cancelled, JobRunner, JobStatus
from loratui.jobs import repo
from loratui.jobs.reconcile import reconcile
from loratui.store import Store
from tests.conftest import make_image
from tests.dbutil import row as db_row, rows as db_rows


async def test_runner_resumes_and_skips_finished_items(tmp_path):
    async with Store.open(tmp_path / "db") as store:
        items = [f"item{i}" for i in range(10)]
        runner = await JobRunner.start(store, "demo", params={"x": 1}, title="demo")
        with pytest.raises(Cancelled):
            async with runner:
                await runner.set_total(len(items))
                for n, item in enumerate(items):
                    if n == 4:
                        await store.run(repo.request_cancel, runner.id)  # as another process would
                        runner._last_poll = 0
                    await runner.check_cancelled()
                    await runner.item_done(item)
                    await runner.progress()
        job = await store.run(repo.get_job, runner.id)
        assert job.status == JobStatus.CANCELLED and job.progress_done == 4

        again = await JobRunner.start(store, "demo", params={"x": 1})
        assert again.id == runner.id and again.done == set(items[:4])
        async with again:
            for item in items:
                if item not in again.done:
                    await again.item_done(item)
                    await again.progress()
        job = await store.run(repo.get_job, runner.id)
        assert job.status == JobStatus.COMPLETED and job.progress_done == 10
        assert await store.run(repo.finished_items, job.id) == set(items)

        other = await JobRunner.start(store, "demo", params={"x": 2})
        assert other.id != runner.id and not other.done


async def test_failed_job_records_error(tmp_path):
    async with Store.open(tmp_path / "db") as store:
        runner = await JobRunner.start(store, "demo")
        with pytest.raises(InputError):
            async with runner:
                raise InputError("bad value")
        job = await store.run(repo.get_job, runner.id)
        assert job.status == JobStatus.FAILED and "bad value" in job.error


async def test_dead_worker_is_marked_interrupted(tmp_path):
    async with Store.open(tmp_path / "db") as store:
        job = await store.run(repo.create_job, "demo")
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        from loratui.jobs.procinfo import hostname, proc_key

        await store.run(repo.update_job, job.id, status=JobStatus.RUNNING, pid=proc.pid, host=hostname(),
                        proc_key=proc_key(proc.pid))
        assert await reconcile(store) == []
        proc.kill()
        proc.wait()
        # Reading never writes: the dead job stays 'running' until the reconcile step.
        assert [j.id for j in await store.run(repo.list_jobs, unfinished=True)] == [job.id]
        assert (await store.run(repo.get_job, job.id)).status == JobStatus.RUNNING
        assert [j.id for j in await reconcile(store)] == [job.id]
        job = await store.run(repo.get_job, job.id)
        assert job.status == JobStatus.INTERRUPTED and "gone" in job.message
        # A pid reused by another process does not count as alive.
        await store.run(repo.update_job, job.id, status=JobStatus.RUNNING, pid=os.getpid(), proc_key="other:1")
        assert [j.id for j in await reconcile(store)] == [job.id]


def test_jobs_cli(cli):
    assert cli("jobs").code == 0
    assert cli("jobs", "--json").json() == []
    result = cli("jobs", "cancel", "99")
    assert result.code == 2 and "no job with id 99" in result.err


async def _journal_dataset(tmp_path, store):
    root = tmp_path / "ds"
    for i in range(3):
        make_image(root / f"{i}.png", color=(i * 60, 0, 0))
        (root / f"{i}.txt").write_text(f"a, b{i}")
    dataset, _ = await service.add_dataset(store, root, name="j")
    rows = await db_rows(store, "SELECT id, rel_path, caption_mtime_ns, caption_sha256 FROM images ORDER BY rel_path")
    return dataset, root, rows


async def test_apply_journals_and_updates_store(tmp_path):
    async with Store.open(tmp_path / "db") as store:
        dataset, root, rows = await _journal_dataset(tmp_path, store)
        result = await apply_caption_changes(
            store, dataset, [CaptionChange(r["id"], f"x, y{n}") for n, r in enumerate(rows)], kind="test")
        assert result.changed == 3 and not result.skipped
        assert (root / "1.txt").read_text() == "x, y1"
        tags = await db_rows(store, "SELECT tag FROM image_tags WHERE image_id = ? ORDER BY position", (rows[1]["id"],))
        assert [t[0] for t in tags] == ["x", "y1"]
        op = await db_row(store, "SELECT * FROM operations WHERE id = ?", (result.operation_id,))
        assert op["state"] == "applied" and op["kind"] == "test"
        changes = await db_rows(store, "SELECT * FROM changes WHERE operation_id = ? ORDER BY id", (op["id"],))
        assert [(c["text_before"], c["text_after"], c["state"]) for c in changes][0] == ("a, b0", "x, y0", "done")
        # Writing the same text again is a no-op, journals nothing.
        again = await apply_caption_changes(store, dataset, [CaptionChange(rows[0]["id"], "x, y0")], kind="test")
        assert again.operation_id is None


async def test_external_edit_is_never_clobbered(tmp_path):
    async with Store.open(tmp_path / "db") as store:
        dataset, root, rows = await _journal_dataset(tmp_path, store)
        (root / "0.txt").write_text("edited in vim")
        os.utime(root / "0.txt", ns=(1, 1))
        with pytest.raises(ConflictError, match="changed on disk"):
            await save_caption(store, dataset, rows[0]["id"], "mine", expected_sha256=rows[0]["caption_sha256"])
        assert (root / "0.txt").read_text() == "edited in vim"
        await save_caption(store, dataset, rows[0]["id"], "mine", expected_sha256=rows[0]["caption_sha256"],
                           force=True)
        assert (root / "0.txt").read_text() == "mine"

        (root / "1.txt").unlink()
        os.chmod(root / "2.txt", 0o444)
        result = await apply_caption_changes(
            store, dataset, [CaptionChange(r["id"], "batch") for r in rows], kind="test")
        reasons = dict(result.skipped)
        assert result.changed == 1  # 0.txt
        assert "deleted" in reasons["1.png"] and "read-only" in reasons["2.png"]
        assert not (root / "1.txt").exists() and (root / "2.txt").read_text() == "a, b2"


def test_zombie_counts_as_dead():
    from loratui.jobs.procinfo import is_alive, proc_key

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    key = proc_key(proc.pid)
    import time

    for _ in range(100):  # not reaped yet: a zombie
        with open(f"/proc/{proc.pid}/stat", "rb") as handle:
            if b") Z" in handle.read():
                break
        time.sleep(0.05)
    assert not is_alive(proc.pid, key)
    assert not is_alive(proc.pid)
    proc.wait()


async def test_preparing_job_waits_cancellably_and_a_dead_one_is_interrupted_not_queued(tmp_path):
    """A tag/caption job starts as 'preparing' (issue 14); `until_cancelled` ends its wait on a cancel from
    another process, and a preparing job whose process died is interrupted (it is no training to requeue)."""
    import asyncio
    import time

    from loratui.jobs.procinfo import hostname, proc_key

    async with Store.open(tmp_path / "db") as store:
        runner = await JobRunner.start(store, "tag", status=JobStatus.PREPARING, message="fetching model m")
        job = await store.run(repo.get_job, runner.id)
        assert job.status == JobStatus.PREPARING and job.message == "fetching model m"
        notes = iter(["downloading m: 1 MB"])
        assert await runner.until_cancelled(asyncio.sleep(0.7, "files"), status=lambda: next(notes, None)) \
            == "files"
        assert (await store.run(repo.get_job, runner.id)).message == "downloading m: 1 MB"
        await runner.set_state(JobStatus.RUNNING, "tagging")
        assert (await store.run(repo.get_job, runner.id)).status == JobStatus.RUNNING

        waited = asyncio.Event()
        with pytest.raises(Cancelled):
            async with runner:
                async def stuck():
                    waited.set()
                    await asyncio.sleep(60)

                async def cancel_later():
                    await waited.wait()
                    await store.run(repo.request_cancel, runner.id)  # as another process would

                asked = time.monotonic()
                asyncio.ensure_future(cancel_later())
                await runner.until_cancelled(stuck())
        assert time.monotonic() - asked < 2.0
        assert (await store.run(repo.get_job, runner.id)).status == JobStatus.CANCELLED

        job = await store.run(repo.create_job, "caption")
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        await store.run(repo.update_job, job.id, status=JobStatus.PREPARING, pid=proc.pid, host=hostname(),
                        proc_key=proc_key(proc.pid))
        assert [j.id for j in await reconcile(store)] == [job.id]
        job = await store.run(repo.get_job, job.id)
        assert job.status == JobStatus.INTERRUPTED and "the process running this job is gone" in job.message
