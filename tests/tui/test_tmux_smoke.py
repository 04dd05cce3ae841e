"""Smoke test in a real terminal: `python -m loratui` in a detached tmux session at 80x24.

Types keys with `tmux send-keys`, reads the screen with `capture-pane`, edits a caption and checks the file.
Skipped when tmux is not installed (.ci/run installs it).
"""

from __future__ import annotations

import sqlite3
import sys
import time
import uuid

from tests.conftest import python_subprocess_env

from .conftest import make_demo_home
from .tmux import TMUX_MARKS, kill_session, quit_with_q, start_session, tmux, wait_for

pytestmark = TMUX_MARKS


def test_tmux_edit_caption(tmp_path):
    home = tmp_path / "home"
    ctx = make_demo_home(home, count=8)
    with sqlite3.connect(ctx.paths.db) as conn:
        second = conn.execute("SELECT rel_path FROM images ORDER BY rel_path LIMIT 1 OFFSET 1").fetchone()[0]
    caption = (ctx.paths.demo / second).with_suffix(".txt")
    original = caption.read_text(encoding="utf-8")

    session = f"loratui-smoke-{uuid.uuid4().hex[:8]}"
    env = python_subprocess_env({"LORATUI_HOME": str(home), "TERM": "xterm-256color"})
    env.pop("COLORTERM", None)
    start_session(session, [sys.executable, "-m", "loratui"], env)
    try:
        screen = wait_for(session, "Images demo")
        assert "photo_[red]x.png" in screen or "[red]" in screen  # names shown literally
        tmux("send-keys", "-t", session, "j")
        wait_for(session, second.rsplit("/", 1)[-1][:12])
        tmux("send-keys", "-t", session, "e")
        # The editor takes the focus once the screen has handled the "e"; text typed before that would go to
        # the list as commands (this raced on a loaded machine). Its footer shows when it has the focus.
        wait_for(session, "Back to list")
        tmux("send-keys", "-t", session, "-l", ", smoke test")
        tmux("send-keys", "-t", session, "C-s")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and caption.read_text(encoding="utf-8") == original:
            time.sleep(0.1)
        assert caption.read_text(encoding="utf-8") == original + ", smoke test"
        wait_for(session, "saved")
        tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.3)
        tmux("send-keys", "-t", session, "?")
        wait_for(session, "list.down")
        tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.3)
        quit_with_q(session)
    finally:
        kill_session(session)
    with sqlite3.connect(ctx.paths.db) as conn:
        assert conn.execute("SELECT caption FROM images WHERE rel_path = ?", (second,)).fetchone()[0] \
            == original + ", smoke test"
    # Native stderr went to the log file, not over the screen.
    assert (home / "tui-stderr.log").exists()
