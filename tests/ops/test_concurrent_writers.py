"""Two writers of one dataset at once (issue 13, case 1): real `loratui` processes, real files, one database.

Before the writer lock, `tags big add AAA & tags big add BBB` both reported every caption written, no file had
both tags, the database said BBB everywhere and undo refused ("changed outside loratui").
"""

import asyncio
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from loratui.datasets import writelock
from loratui.datasets.service import get_dataset
from loratui.store import Store

from .conftest import subprocess_env

COUNT = 3000
CLI = [sys.executable, "-m", "loratui"]


@pytest.fixture
def big(tmp_path, image_factory, home):
    """A registered dataset of COUNT captioned images (one tiny PNG copied), and the CLI's environment."""
    root = tmp_path / "big"
    (root / "1_x").mkdir(parents=True)
    png = image_factory(tmp_path / "one.png").read_bytes()
    captions = {}
    for i in range(COUNT):
        (root / f"1_x/img{i:04d}.png").write_bytes(png)
        captions[f"1_x/img{i:04d}.txt"] = f"tag{i}, common, words here"
        (root / f"1_x/img{i:04d}.txt").write_text(captions[f"1_x/img{i:04d}.txt"], encoding="utf-8")
    env = subprocess_env({"LORATUI_HOME": str(home)})
    added = subprocess.run([*CLI, "dataset", "add", str(root), "--name", "big", "--workers", "2"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert added.returncode == 0, added.stderr
    return root, captions, env


def _db_captions(home) -> dict[str, str]:
    db = sqlite3.connect(home / "loratui.db")
    try:
        return {rel.replace(".png", ".txt"): caption for rel, caption in
                db.execute("SELECT rel_path, caption FROM images")}
    finally:
        db.close()


def test_two_processes_adding_tags_at_once_lose_nothing(big, home):
    root, captions, env = big
    first = subprocess.Popen([*CLI, "tags", "big", "add", "AAA"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen([*CLI, "tags", "big", "add", "BBB"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    outs = [proc.communicate(timeout=300) for proc in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    assert all(f"{COUNT} captions written, 0 skipped" in err for _, err in outs), outs

    on_disk = {rel: (root / rel).read_text(encoding="utf-8") for rel in captions}
    for rel, before in captions.items():  # both tags, in the order the writers ran
        assert on_disk[rel] in (f"{before}, AAA, BBB", f"{before}, BBB, AAA"), rel
    assert _db_captions(home) == on_disk  # the database agrees with every file
    # exactly one of them waited for the other, and said so
    waited = [err for _, err in outs if "waiting for tags add (pid" in err]
    assert len(waited) == 1, outs

    for _ in range(2):  # undo of each works: nothing "changed outside loratui"
        undone = subprocess.run([*CLI, "tags", "big", "undo"], env=env, capture_output=True, text=True, timeout=300)
        assert undone.returncode == 0 and f": {COUNT} files" in undone.stderr, undone.stderr
    for rel, before in captions.items():
        assert (root / rel).read_text(encoding="utf-8") == before
    assert _db_captions(home) == captions


async def test_a_waiter_says_who_it_waits_for_and_no_wait_fails(big, home):
    root, captions, env = big
    async with Store.open(home / "loratui.db") as store:
        dataset = await get_dataset(store, "big")
        async with writelock.writer(store, dataset, "held by the test"):
            refused = await asyncio.to_thread(
                subprocess.run, [*CLI, "tags", "big", "add", "CCC", "--no-wait"], env=env, capture_output=True,
                text=True, timeout=120)
            assert refused.returncode == 2
            assert f"Dataset busy: held by the test (pid {os.getpid()}) is writing dataset 'big'" in refused.stderr
            undo_refused = await asyncio.to_thread(
                subprocess.run, [*CLI, "tags", "big", "undo", "--no-wait"], env=env, capture_output=True, text=True,
                timeout=120)
            assert undo_refused.returncode == 2 and "Dataset busy" in undo_refused.stderr

            waiter = subprocess.Popen([*CLI, "tags", "big", "add", "CCC"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            line = await asyncio.to_thread(waiter.stderr.readline)
            while "waiting" not in line and line:
                line = await asyncio.to_thread(waiter.stderr.readline)
            assert f"waiting for held by the test (pid {os.getpid()}) to finish writing dataset 'big'" in line
            time.sleep(0.5)
            assert waiter.poll() is None  # still waiting
            assert (root / "1_x/img0000.txt").read_text(encoding="utf-8") == captions["1_x/img0000.txt"]
        _, err = await asyncio.to_thread(waiter.communicate, timeout=300)
        assert waiter.returncode == 0, err
        assert f"{COUNT} captions written" in err
    assert (root / "1_x/img0000.txt").read_text(encoding="utf-8") == captions["1_x/img0000.txt"] + ", CCC"
