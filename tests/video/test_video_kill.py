"""kill -9 in the middle of a video edit's moves: the next start finishes or rolls it back, byte for byte."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import pytest

from loratui.datasets import history
from loratui.datasets.service import get_dataset
from loratui.errors import JobError
from loratui.store import Store

from tests.ops.conftest import subprocess_env

CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    from loratui.datasets import video_edit
    from loratui.datasets.service import get_dataset
    from loratui.store import Store

    moves = 0
    real_rename = video_edit.rename_file

    def rename_then_die(*args):
        global moves
        real_rename(*args)
        moves += 1
        if moves == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

    video_edit.rename_file = rename_then_die

    async def main():  # argv: database, moves before the kill
        async with Store.open(sys.argv[1]) as store:
            dataset = await get_dataset(store, "vds")
            plan = await asyncio.to_thread(video_edit.plan_cut, dataset, "10_clips/ramp.mp4", length=16)
            await video_edit.apply_edit(store, dataset, plan)

    asyncio.run(main())
""")


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("finish", [True, False], ids=["finish", "rollback"])
async def test_kill_9_mid_edit_then_recover(vopened, home, finish):
    store, dataset = vopened
    root = dataset.path
    original, caption = sha(root / "10_clips/ramp.mp4"), sha(root / "10_clips/ramp.txt")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(home / "loratui.db"), "2"], env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert (root / "10_clips/ramp_001.mp4").exists() and not (root / "10_clips/ramp_003.mp4").exists()
    with pytest.raises(JobError, match="interrupted"):
        await history.undo(store, dataset)
    dataset = await get_dataset(store, "vds")
    [result] = await history.recover(store, dataset, finish=finish)
    clips = [root / f"10_clips/ramp_{i:03d}.mp4" for i in (1, 2, 3)]
    if finish:
        assert result.state == "applied"
        assert all(p.exists() for p in clips) and not (root / "10_clips/ramp.mp4").exists()
        assert all(sha(p.with_suffix(".txt")) == caption for p in clips)
        await history.undo(store, dataset)
    else:
        assert result.state == "rolled_back"
    assert sha(root / "10_clips/ramp.mp4") == original and sha(root / "10_clips/ramp.txt") == caption
    assert not any(p.exists() or p.with_suffix(".txt").exists() for p in clips)
