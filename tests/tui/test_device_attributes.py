"""Reading the terminal's device attributes before the app starts: a real pseudo-terminal answers (or not)."""

from __future__ import annotations

import os
import threading

from loratui.tui.terminal import read_device_attributes


def _terminal(answer: bytes | None):
    """A pty whose other end answers the device-attributes query with `answer` (None: stays silent)."""
    master, slave = os.openpty()
    asked = []

    def respond() -> None:
        data = os.read(master, 16)
        asked.append(data)
        if answer is not None:
            os.write(master, answer)

    thread = threading.Thread(target=respond, daemon=True)
    thread.start()
    return master, slave, asked, thread


def test_a_sixel_terminal_answers():
    master, slave, asked, thread = _terminal(b"\x1b[?62;4;22c")
    try:
        assert read_device_attributes(slave, slave, timeout=2) == "\x1b[?62;4;22c"
        thread.join(2)
        assert asked == [b"\x1b[c"]
    finally:
        os.close(master)
        os.close(slave)


def test_a_silent_terminal_gives_none_and_keeps_its_modes():
    import termios

    master, slave, _asked, _thread = _terminal(None)
    try:
        before = termios.tcgetattr(slave)
        assert read_device_attributes(slave, slave, timeout=0.2) is None
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_no_terminal_no_question(tmp_path):
    with open(tmp_path / "f", "w+b") as handle:
        assert read_device_attributes(handle.fileno(), handle.fileno()) is None
        assert handle.read() == b""
