"""A real `loratui` in tmux with a caption edit pending is ended from outside: the edit must not be lost.

SIGHUP (an SSH drop outside tmux), SIGTERM, `tmux kill-session` (a closed terminal) and a terminal that hangs up
without any signal reaching loratui each end the process with the edit saved through the journal (undo restores
the original). When the caption changed on disk in between, the file keeps the outside change and the edit is kept
in HOME/recovered, which the next start announces.

loratui runs under `sh -c '...; echo $? > STATUS'`: tmux 3.3 sometimes never collects a pane's exit status.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import make_image, python_subprocess_env

from .tmux import TMUX_MARKS, kill_session, pane_value, start_session, tmux, wait_for

pytestmark = TMUX_MARKS

ORIGINAL = "red square, plain background"
TYPED = ", unsaved words"
EXIT_WITHIN_S = 15.0
"""How long the process may take to save and exit (the app bounds it at 10 s; CI is a loaded machine)."""
# A session of its own: tmux's SIGHUP to the pane's processes and the kernel's to the session leader miss it, so
# only failing reads and writes on the terminal tell it that the terminal is gone.
OWN_SESSION = "import os, sys; os.setsid(); os.execv(sys.argv[1], sys.argv[1:])"


def _loratui() -> list[str]:
    script = Path(sys.executable).with_name("loratui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "loratui"]


@pytest.fixture
def setup(tmp_path):
    """(home, caption file of the first image, env): a dataset `sig` of three images added through the CLI."""
    home, folder = tmp_path / "home", tmp_path / "sig"
    for index, color in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        make_image(folder / f"img{index}.png", color=color)
        (folder / f"img{index}.txt").write_text(ORIGINAL if index == 0 else f"other {index}", encoding="utf-8")
    env = python_subprocess_env({"LORATUI_HOME": str(home)})
    subprocess.run([*_loratui(), "dataset", "add", str(folder), "--name", "sig", "--workers", "1"],
                   env=env, check=True, capture_output=True, timeout=120)
    return home, folder / "img0.txt", env


def _cli(env, *args: str) -> str:
    return subprocess.run([*_loratui(), *args], env=env, check=True, capture_output=True, text=True,
                          timeout=60).stdout


def _start_with_pending_edit(session: str, env, status: Path, own_session: bool = False) -> int:
    """Open loratui, type into the first image's caption without saving; returns the loratui pid."""
    argv = [*([sys.executable, "-c", OWN_SESSION] if own_session else []), *_loratui()]
    shell = f'"$@"; echo $? > {shlex.quote(str(status))}'
    start_session(session, ["sh", "-c", shell, "sh", *argv], env, size=(100, 30), remain_on_exit=True)
    wait_for(session, "Images sig", timeout=30)
    tmux("send-keys", "-t", session, "e")
    wait_for(session, "Save caption")  # the footer shows the editor's keys once it has the focus
    tmux("send-keys", "-t", session, "-l", TYPED)
    wait_for(session, "Caption *")
    wait_for(session, TYPED.strip(", "))
    shell_pid = pane_value(session, "pane_pid")
    return int(Path(f"/proc/{shell_pid}/task/{shell_pid}/children").read_text().split()[0])


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie nobody reaped yet has ended too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _end(session: str, pid: int, how: str) -> None:
    if how == "sighup":
        os.kill(pid, signal.SIGHUP)
    elif how == "sigterm":
        os.kill(pid, signal.SIGTERM)
    else:
        tmux("kill-session", "-t", session)
    deadline = time.monotonic() + EXIT_WITHIN_S
    while not _gone(pid):
        assert time.monotonic() < deadline, f"loratui still runs {EXIT_WITHIN_S} s after {how}"
        time.sleep(0.05)


def _cleanup(session: str, pid: int | None) -> None:
    kill_session(session)
    if pid is not None and not _gone(pid):  # a failed test must not leave loratui running
        os.kill(pid, signal.SIGKILL)


def _exit_status(status: Path) -> int:
    deadline = time.monotonic() + 5
    while not status.exists() or not status.read_text().strip():
        assert time.monotonic() < deadline, "the shell around loratui did not record its exit status"
        time.sleep(0.05)
    return int(status.read_text())


@pytest.mark.parametrize("how", ["sighup", "sigterm", "kill-session", "hangup-without-signal"])
def test_pending_edit_is_saved_and_journaled(setup, tmp_path, how):
    home, caption, env = setup
    session = f"loratui-signal-{uuid.uuid4().hex[:8]}"
    status = tmp_path / "status"
    pid = None
    try:
        pid = _start_with_pending_edit(session, env, status, own_session=how == "hangup-without-signal")
        assert caption.read_text(encoding="utf-8") == ORIGINAL
        _end(session, pid, how)
        if how in ("sighup", "sigterm"):  # the terminal is still there: exit status, screen restored
            assert _exit_status(status) == 128 + (signal.SIGHUP if how == "sighup" else signal.SIGTERM)
            assert pane_value(session, "alternate_on") == "0"
    finally:
        _cleanup(session, pid)
    assert caption.read_text(encoding="utf-8") == ORIGINAL + TYPED
    history = json.loads(_cli(env, "tags", "sig", "history", "--json"))
    assert [(op["kind"], op["state"], op["files"]) for op in history] == [("edit", "applied", 1)]
    _cli(env, "tags", "sig", "undo")
    assert caption.read_text(encoding="utf-8") == ORIGINAL
    assert not (home / "recovered").exists()
    log = (home / "tui-stderr.log").read_text(encoding="utf-8")
    assert "saved the caption edit of sig: img0.txt" in log and "Traceback" not in log
    if how == "hangup-without-signal":
        assert "the terminal hung up" in log


@pytest.mark.parametrize("how", ["sighup", "kill-session"])
def test_edit_is_kept_aside_when_the_caption_changed_on_disk(setup, tmp_path, how):
    home, caption, env = setup
    session = f"loratui-signal-{uuid.uuid4().hex[:8]}"
    pid = None
    try:
        pid = _start_with_pending_edit(session, env, tmp_path / "status")
        caption.write_text("changed outside", encoding="utf-8")
        st = caption.stat()  # a later mtime, as a real edit some time after loading would have
        os.utime(caption, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000))
        _end(session, pid, how)
    finally:
        _cleanup(session, pid)
    assert caption.read_text(encoding="utf-8") == "changed outside"
    kept = home / "recovered" / "sig" / "img0.txt"
    assert kept.read_text(encoding="utf-8") == ORIGINAL + TYPED
    assert "changed on disk" in (home / "recovered" / "recovered.log").read_text(encoding="utf-8")
    assert json.loads(_cli(env, "tags", "sig", "history", "--json")) == []
    # The next start says where the edit is.
    session = f"loratui-signal-{uuid.uuid4().hex[:8]}"
    try:
        start_session(session, _loratui(), env, size=(100, 30))
        wait_for(session, "Unsaved edits kept", timeout=30)
    finally:
        kill_session(session)
