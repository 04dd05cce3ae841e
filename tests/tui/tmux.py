"""Driving a real terminal for tests: a detached tmux session, keys sent with send-keys, the screen read back.

Tests using these carry ``TMUX_MARKS`` (the `tmux` marker, skipped when tmux is not installed; .ci/run installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Mapping, Sequence

import pytest

TMUX_MARKS = [pytest.mark.tmux, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]
PASSED_ENV = ("PYTHONPATH", "LORATUI_HOME", "PATH", "HOME")
"""Variables given to the session explicitly: the tmux server may be older than the test and have another env."""


def tmux(*args: str) -> str:
    """Run a tmux command; returns its stdout (raises when it fails)."""
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def start_session(session: str, argv: Sequence[str], env: Mapping[str, str], size: tuple[int, int] = (80, 24),
                  remain_on_exit: bool = False) -> None:
    """Start `argv` in a new detached session of `size` columns x rows.

    With `remain_on_exit` the pane stays after the program ends, so what it left on the screen can be read.
    (Not its exit status: tmux 3.3 sometimes never collects it. Record it with a shell around the program.)
    """
    env_args = [arg for key in PASSED_ENV if key in env for arg in ("-e", f"{key}={env[key]}")]
    tmux("new-session", "-d", "-s", session, "-x", str(size[0]), "-y", str(size[1]), *env_args, *argv)
    if remain_on_exit:
        tmux("set-option", "-w", "-t", session, "remain-on-exit", "on")


def kill_session(session: str) -> None:
    """End the session if it is still there (no error when it is not)."""
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)


def wait_for(session: str, needle: str, timeout: float = 20.0) -> str:
    """Wait until `needle` shows on the session's screen; returns the screen (raises with it on timeout)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if needle in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} did not appear on the tmux screen:\n{screen}")


def quit_with_q(session: str, timeout: float = 10.0) -> None:
    """Press q and wait for the session to end (raises with the screen if loratui is still running)."""
    tmux("send-keys", "-t", session, "q")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode != 0:
            return
        time.sleep(0.2)
    raise AssertionError("loratui did not quit on q:\n" + tmux("capture-pane", "-p", "-t", session))


def pane_value(session: str, name: str) -> str:
    """A pane format variable (pane_pid, pane_dead, alternate_on, ...) as tmux prints it."""
    return tmux("display-message", "-p", "-t", session, f"#{{{name}}}").strip()
