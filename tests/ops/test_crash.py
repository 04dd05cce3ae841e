"""kill -9 in the middle of an apply: no half-written caption, and the next start finishes or rolls back."""

import json
import subprocess
import sys
import textwrap

import pytest

from loratui.datasets import history
from loratui.datasets.batch import apply_operation
from loratui.errors import JobError
from loratui.store import Store

from .conftest import build_dataset, reopen, subprocess_env
from tests.dbutil import row as db_row

COUNT = 40
CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    from loratui.datasets import bulkwrite
    from loratui.datasets.batch import apply_operation
    from loratui.datasets.service import get_dataset
    from loratui.store import Store

    renames = 0
    real_rename = bulkwrite._rename

    def rename_then_die(*args):
        global renames
        outcome = real_rename(*args)
        renames += 1
        if renames == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)  # a real kill -9 with temp files and swaps half done
        return outcome

    bulkwrite._rename = rename_then_die

    async def main():  # argv: database, renames before the kill, [dataset name, tag position]
        async with Store.open(sys.argv[1]) as store:
            dataset = await get_dataset(store, sys.argv[3] if len(sys.argv) > 3 else "big")
            position = sys.argv[4] if len(sys.argv) > 4 else "start"
            await apply_operation(store, dataset, {"op": "add", "tag": "ohwx", "position": position})

    asyncio.run(main())
""")


@pytest.fixture
async def big(tmp_path, image_factory, db_path):
    from loratui.datasets.service import add_dataset

    captions = {f"1_x/img{i:03d}.png": f"tag{i}, common, words here" for i in range(COUNT)}
    root = build_dataset(tmp_path / "big", image_factory, captions)
    async with Store.open(db_path) as store:
        await add_dataset(store, root, name="big", workers=1)
    return root, captions


@pytest.mark.parametrize("finish", [True, False], ids=["finish", "rollback"])
async def test_kill_9_mid_apply_then_recover(big, db_path, finish):
    root, captions = big

    proc = subprocess.run([sys.executable, "-c", CHILD, str(db_path), "17"], env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr

    written, untouched = 0, []
    for rel, before in captions.items():
        text = (root / rel).with_suffix(".txt").read_text(encoding="utf-8")
        assert text in (before, "ohwx, " + before)  # whole old or whole new text, never a mix
        written += text != before
        if text == before:
            untouched.append(rel)
    assert 17 <= written < COUNT  # killed mid-apply (renames run on a few threads)

    cm, store, dataset = await reopen(db_path, "big")
    try:
        interrupted = await history.interrupted_operations(store, dataset)
        assert len(interrupted) == 1 and interrupted[0]["action"] == "apply"
        with pytest.raises(JobError, match="interrupted"):
            await apply_operation(store, dataset, {"op": "remove", "tags": ["common"]})
        with pytest.raises(JobError, match="interrupted") as info:
            await history.undo(store, dataset)
        assert "recover --finish" in info.value.one_line()
        # a single caption edit (the TUI's save) is not blocked: recovery leaves files others changed alone
        from loratui.datasets.journal import save_caption

        edited = await db_row(store, "SELECT id, caption_sha256 FROM images WHERE rel_path = ?", (untouched[0],))
        await save_caption(store, dataset, edited["id"], "hand edit", expected_sha256=edited["caption_sha256"])
        captions = {k: v for k, v in captions.items() if k != untouched[0]}
        results = await history.recover(store, dataset, finish=finish)
        assert results[0].state == ("applied" if finish else "rolled_back")
        for rel, before in captions.items():
            text = (root / rel).with_suffix(".txt").read_text(encoding="utf-8")
            assert text == ("ohwx, " + before if finish else before)
            row = await db_row(store, "SELECT caption FROM images WHERE rel_path = ?", (rel,))
            assert row["caption"] == text
        assert not list(root.rglob(".*.tmp"))  # stray temp files of the killed write are gone
        assert (root / untouched[0]).with_suffix(".txt").read_text() == "hand edit"
        assert results[0].conflicts == [(untouched[0].replace(".png", ".txt"), "caption changed outside loratui since")]
        assert not await history.interrupted_operations(store, dataset)
        if finish:  # a finished operation undoes like any other (after the newer edit)
            assert "edited" in (await history.undo(store, dataset)).description
            assert "add" in (await history.undo(store, dataset)).description
            assert (root / "1_x/img000.txt").read_text() == captions["1_x/img000.png"]
    finally:
        await cm.__aexit__(None, None, None)


def test_cli_killed_at_a_random_moment_then_recovered_through_the_cli(tmp_path, image_factory, home):
    """No patching: `loratui tags ... add` is SIGKILLed as soon as its operation is journaled as pending."""
    import signal
    import sqlite3
    import time

    root = tmp_path / "rand"
    png = image_factory(tmp_path / "one.png").read_bytes()
    captions = {}
    for i in range(600):
        rel = f"1_x/img{i:03d}"
        (root / "1_x").mkdir(parents=True, exist_ok=True)
        (root / f"{rel}.png").write_bytes(png)
        captions[rel] = ", ".join([f"tag{i}"] + [f"word{j}" for j in range(i % 20)])
        (root / f"{rel}.txt").write_text(captions[rel], encoding="utf-8")
    env = subprocess_env({"LORATUI_HOME": str(home)})
    cmd = [sys.executable, "-m", "loratui"]
    assert subprocess.run([*cmd, "dataset", "add", str(root), "--name", "rand", "--workers", "1"], env=env,
                          capture_output=True, timeout=120).returncode == 0
    proc = subprocess.Popen([*cmd, "tags", "rand", "add", "ohwx", "--position", "start"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = sqlite3.connect(home / "loratui.db", timeout=30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if db.execute("SELECT 1 FROM operations WHERE state = 'pending'").fetchone():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait(timeout=60)
    db.close()
    killed = proc.returncode == -signal.SIGKILL
    for rel, before in captions.items():
        assert (root / f"{rel}.txt").read_text(encoding="utf-8") in (before, "ohwx, " + before)
    listed = subprocess.run([*cmd, "tags", "rand", "history", "--json"], env=env, capture_output=True, text=True)
    state = json.loads(listed.stdout)[0]["state"]
    assert state == ("interrupted" if killed else "applied")
    if killed:
        blocked = subprocess.run([*cmd, "tags", "rand", "undo"], env=env, capture_output=True, text=True)
        assert blocked.returncode == 2 and "recover" in blocked.stderr
    done = subprocess.run([*cmd, "tags", "rand", "recover", "--finish"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for rel, before in captions.items():
        assert (root / f"{rel}.txt").read_text(encoding="utf-8") == "ohwx, " + before
    assert not list(root.rglob(".*.tmp"))
