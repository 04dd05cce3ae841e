"""Smoke test in a real terminal: `python -m loratui` in a detached tmux session at 80x24.

Types keys with `tmux send-keys`, reads the screen with `capture-pane`, edits a caption and checks the file.
Skipped when tmux is not installed (.ci/run installs it).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import python_subprocess_env

from .conftest import make_demo_home

pytestmark = [pytest.mark.tmux, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def _wait_for(session: str, needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if needle in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} did not appear on the tmux screen:\n{screen}")


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
    env_args = [arg for key in ("PYTHONPATH", "LORATUI_HOME", "PATH", "HOME") if key in env
                for arg in ("-e", f"{key}={env[key]}")]
    _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", *env_args,
          sys.executable, "-m", "loratui")
    try:
        screen = _wait_for(session, "Images demo")
        assert "photo_[red]x.png" in screen or "[red]" in screen  # names shown literally
        _tmux("send-keys", "-t", session, "j")
        _wait_for(session, second.rsplit("/", 1)[-1][:12])
        _tmux("send-keys", "-t", session, "e")
        time.sleep(0.3)
        _tmux("send-keys", "-t", session, "-l", ", smoke test")
        _tmux("send-keys", "-t", session, "C-s")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and caption.read_text(encoding="utf-8") == original:
            time.sleep(0.1)
        assert caption.read_text(encoding="utf-8") == original + ", smoke test"
        _wait_for(session, "saved")
        _tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.3)
        _tmux("send-keys", "-t", session, "?")
        _wait_for(session, "list.down")
        _tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.3)
        _tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode != 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("loratui did not quit on q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    with sqlite3.connect(ctx.paths.db) as conn:
        assert conn.execute("SELECT caption FROM images WHERE rel_path = ?", (second,)).fetchone()[0] \
            == original + ", smoke test"
    # Native stderr went to the log file, not over the screen.
    assert (home / "tui-stderr.log").exists()
