"""kill -9 in the middle of an apply: no half-written caption, and the next start finishes or rolls back."""

import subprocess
import sys
import textwrap

import pytest

from loratui.datasets import history
from loratui.datasets.batch import apply_operation
from loratui.errors import JobError
from loratui.store import Store

from .conftest import build_dataset, reopen, subprocess_env

COUNT = 40
CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    from loratui.datasets.batch import apply_operation
    from loratui.datasets.service import get_dataset
    from loratui.store import Store

    renames = 0
    real_replace = os.replace

    def replace_then_die(src, dst):
        global renames
        real_replace(src, dst)
        renames += 1
        if renames == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)  # a real kill -9 with temp files and renames half done

    os.replace = replace_then_die

    async def main():
        async with Store.open(sys.argv[1]) as store:
            dataset = await get_dataset(store, "big")
            await apply_operation(store, dataset, {"op": "add", "tag": "ohwx", "position": "start"})

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

        edited = await store.fetchone("SELECT id, caption_mtime_ns FROM images WHERE rel_path = ?", (untouched[0],))
        await save_caption(store, dataset, edited["id"], "hand edit", expected_mtime_ns=edited["caption_mtime_ns"])
        captions = {k: v for k, v in captions.items() if k != untouched[0]}
        results = await history.recover(store, dataset, finish=finish)
        assert results[0].state == ("applied" if finish else "rolled_back")
        for rel, before in captions.items():
            text = (root / rel).with_suffix(".txt").read_text(encoding="utf-8")
            assert text == ("ohwx, " + before if finish else before)
            row = await store.fetchone("SELECT caption FROM images WHERE rel_path = ?", (rel,))
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
