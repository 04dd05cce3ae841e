"""`loratui lora grid FOLDER --open` in a real terminal (tmux, 80x24): auto graphics falls back to half-blocks
inside tmux, the full view steps through checkpoints, and keeping a row with "trash" moves the other files.
Skipped when tmux is not installed (.ci/run installs it)."""

from __future__ import annotations

import sys
import time
import uuid

from tests.conftest import python_subprocess_env
from tests.sweepfolder import make_sweep

from .tmux import TMUX_MARKS, kill_session, quit_with_q, start_session, tmux, wait_for

pytestmark = TMUX_MARKS


def test_grid_from_the_cli_in_tmux(tmp_path):
    folder = tmp_path / "sweep"
    make_sweep(folder)
    run = tmp_path / "run"
    session = f"loratui-grid-{uuid.uuid4().hex[:8]}"
    env = python_subprocess_env({"LORATUI_HOME": str(tmp_path / "home"), "TERM": "xterm-256color"})
    start_session(session, [sys.executable, "-m", "loratui", "lora", "grid", str(folder), "--open"], env)
    try:
        wait_for(session, "Sweep sweep-test")
        wait_for(session, "16/16 rendered")
        tmux("send-keys", "-t", session, "Enter")
        wait_for(session, "row 1/4")
        tmux("send-keys", "-t", session, "Down")
        screen = wait_for(session, "row 2/4")
        assert "epoch 2" in screen and "▀" in screen  # half-blocks: inside tmux without passthrough
        tmux("send-keys", "-t", session, "Escape")
        wait_for(session, "Keep row")
        tmux("send-keys", "-t", session, "c")
        wait_for(session, "move them to the trash")
        tmux("send-keys", "-t", session, "t")
        wait_for(session, "kept: epoch 2")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(list(run.glob("*.safetensors"))) != 1:
            time.sleep(0.1)
        assert [p.name for p in run.glob("*.safetensors")] == ["mychar-000002.safetensors"]
        quit_with_q(session)
    finally:
        kill_session(session)
