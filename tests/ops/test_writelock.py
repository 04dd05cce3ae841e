"""The per-dataset writer lock: waiting and saying for whom, --no-wait, timeouts, re-entry, and a holder killed."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from loratui.datasets import batch, history, writelock
from loratui.datasets.journal import move_images, save_caption
from loratui.datasets.writelock import DatasetBusyError

from .conftest import CAPTIONS, caption, subprocess_env
from tests.dbutil import scalar as db_scalar

HOLDER = textwrap.dedent("""
    import asyncio, sys
    from loratui.datasets import writelock
    from loratui.datasets.service import get_dataset
    from loratui.store import Store

    async def main():
        async with Store.open(sys.argv[1]) as store:
            dataset = await get_dataset(store, "ds")
            async with writelock.writer(store, dataset, "child holder"):
                print("held", flush=True)
                await asyncio.sleep(3600)

    asyncio.run(main())
""")


async def test_second_writer_waits_and_is_told_who_holds_it(opened, dataset_dir):
    store, dataset = opened
    lines: list[str] = []
    async with writelock.writer(store, dataset, "first writer"):
        record = json.loads(writelock.lock_path(store.path, dataset.path).read_text())
        assert record["pid"] == os.getpid() and record["operation"] == "first writer" and record["dataset"] == "ds"

        async def second():
            with writelock.wait_policy(on_wait=lines.append):
                return await batch.apply_operation(store, dataset, {"op": "add", "tag": "second"})

        task = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert not task.done()  # separate opens conflict within one process too
        assert lines == [f"waiting for first writer (pid {os.getpid()}) to finish writing dataset 'ds'"]
        assert caption(dataset_dir, "10_char/a.png") == CAPTIONS["10_char/a.png"]
    _, result = await asyncio.wait_for(task, 30)
    assert result.changed == 4 and caption(dataset_dir, "10_char/a.png").endswith(", second")
    assert writelock.lock_path(store.path, dataset.path).read_text() == ""  # released: no holder recorded


def elsewhere(coroutine):
    """Run `coroutine` as another task: the task holding a lock re-enters it, any other task waits."""
    return asyncio.create_task(coroutine)


async def test_no_wait_and_timeout_fail_clearly(opened):
    store, dataset = opened
    async with writelock.writer(store, dataset, "tags add"):
        with writelock.wait_policy(no_wait=True):
            with pytest.raises(DatasetBusyError, match=rf"tags add \(pid {os.getpid()}\) is writing dataset 'ds'") \
                    as info:
                await elsewhere(history.undo(store, dataset))
            assert "--no-wait" in info.value.hint
        with writelock.wait_policy(timeout_s=0.3):
            started = time.monotonic()
            with pytest.raises(DatasetBusyError, match="gave up after waiting"):
                await elsewhere(move_images(store, dataset, [1]))
            assert time.monotonic() - started < 5
            with pytest.raises(DatasetBusyError):
                await elsewhere(save_caption(store, dataset, 1, "x"))


async def test_reentrant_within_a_task(opened, dataset_dir):
    store, dataset = opened
    with writelock.wait_policy(no_wait=True):
        async with writelock.writer(store, dataset, "outer"):
            await batch.apply_operation(store, dataset, {"op": "add", "tag": "inner"})  # takes it again
            await history.undo(store, dataset)
    assert caption(dataset_dir, "10_char/a.png") == CAPTIONS["10_char/a.png"]
    assert await db_scalar(store, "SELECT COUNT(*) FROM operations WHERE state = 'undone'") == 1


async def test_a_killed_holder_releases_the_lock(opened, db_path):
    store, dataset = opened
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path)], env=subprocess_env(),
                             stdout=subprocess.PIPE, text=True)
    try:
        assert await asyncio.to_thread(child.stdout.readline) == "held\n"
        with writelock.wait_policy(no_wait=True):
            with pytest.raises(DatasetBusyError, match=rf"child holder \(pid {child.pid}\)"):
                await save_caption(store, dataset, 1, "x")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        with writelock.wait_policy(no_wait=True):  # the kernel released it: nothing stale to clean up
            await save_caption(store, dataset, 1, "after the kill")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()


async def test_two_names_for_one_folder_share_a_lock(opened, dataset_dir, tmp_path):
    store, dataset = opened
    alias = tmp_path / "alias"
    alias.symlink_to(dataset_dir)
    assert writelock.lock_path(store.path, alias) == writelock.lock_path(store.path, dataset_dir)
    assert writelock.lock_path(store.path, alias).parent == store.path.parent / "locks"


def test_a_holder_is_described_without_control_characters():
    assert writelock.Holder(7, "add tag '\x1b[31mred'", 0.0).describe() == "add tag '\\x1b[31mred' (pid 7)"
