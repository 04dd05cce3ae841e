"""Terminal fitness: colour depth, keeping native stderr off the screen, and noticing when the terminal is gone."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, MutableMapping, TextIO

try:
    import termios
except ImportError:  # Windows: no terminal modes, and no hangups to notice
    termios = None

TERMINAL_GONE = {errno.EIO, errno.ENXIO, errno.EBADF, errno.EPIPE}
"""errno values of reads and writes on a terminal that hung up (closed window, dropped SSH, killed tmux pane)."""


def ensure_truecolor(environ: MutableMapping[str, str] | None = None) -> bool:
    """Set COLORTERM=truecolor when neither TERM nor COLORTERM says anything about colour depth.

    tmux without COLORTERM makes Rich fall back to 256 colours, which posterises previews; virtually every
    terminal people use over SSH today does 24-bit colour. Returns True when the variable was set.
    An explicit COLORTERM, a TERM ending in -direct/-truecolor/-24bit, or NO_COLOR are respected.
    """
    env = os.environ if environ is None else environ
    if env.get("COLORTERM") or env.get("NO_COLOR"):
        return False
    term = env.get("TERM", "")
    if term in ("dumb", "linux"):
        return False
    if any(term.endswith(suffix) for suffix in ("-direct", "-truecolor", "-24bit")):
        return False
    env["COLORTERM"] = "truecolor"
    return True


@contextlib.contextmanager
def stderr_to_file(log_path: Path) -> Iterator[Path]:
    """Point file descriptor 2 at `log_path` (appending) and restore it afterwards.

    Native libraries (onnxruntime's C++ logger, CUDA) write straight to fd 2, which would scribble over the
    screen the TUI draws. Python's sys.stderr follows, since it writes to fd 2 too.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    target = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 2)
    finally:
        os.close(target)
    try:
        yield log_path
    finally:
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)


def terminal_modes(fd: int) -> list | None:
    """The terminal modes of `fd` (termios attributes), or None when it is not a live terminal."""
    if termios is None:
        return None
    try:
        return termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError):
        return None


def terminal_alive(fd: int) -> bool:
    """True while `fd` is a terminal that has not hung up (its modes can still be read)."""
    return terminal_modes(fd) is not None


def restore_modes(fd: int, modes: list) -> None:
    """Set the terminal modes of `fd` back to `modes` (from terminal_modes); errors are ignored."""
    try:
        termios.tcsetattr(fd, termios.TCSANOW, modes)
    except (termios.error, OSError, ValueError, AttributeError):
        pass


class GuardedStream:
    """A text stream for drawing that turns a hung-up terminal into one `on_lost()` call and drops output after it.

    Textual's writer thread dies on the first failed write; the next 30 writes fill its queue and the 31st blocks
    the event loop for good. Dropping output instead keeps the app able to save and exit without a terminal.
    Other write errors are raised as before.
    """

    def __init__(self, stream: TextIO, on_lost: Callable[[], object]) -> None:
        self._stream = stream
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self.lost = False
        """True once a write or flush found the terminal hung up: nothing is written any more."""

    def write(self, text: str) -> int:
        """Write `text` (dropped once the terminal is lost)."""
        if not self.lost:
            try:
                self._stream.write(text)
            except OSError as exc:
                self._lose(exc)
        return len(text)

    def flush(self) -> None:
        """Flush the underlying stream (a no-op once the terminal is lost)."""
        if not self.lost:
            try:
                self._stream.flush()
            except OSError as exc:
                self._lose(exc)

    def fileno(self) -> int:
        """The underlying file descriptor."""
        return self._stream.fileno()

    def isatty(self) -> bool:
        """Whether the underlying stream is a terminal."""
        return not self.lost and self._stream.isatty()

    def close(self) -> None:
        """Close the underlying stream; output that can no longer be flushed is dropped."""
        with contextlib.suppress(OSError):
            self._stream.close()

    def _lose(self, error: OSError) -> None:
        if error.errno not in TERMINAL_GONE:
            raise error
        with self._lock:
            if self.lost:
                return
            self.lost = True
        self._on_lost()


def terminal_driver(stream: TextIO, on_lost: Callable[[], bool]):
    """A Linux driver class that draws on `stream` (not sys.__stderr__, which points at the log).

    When reading the terminal fails because it hung up, `on_lost()` is called; if it returns True (someone saves
    and exits) the input thread just ends, otherwise Textual's handling follows (the app exits with the error).
    """
    from textual.drivers.linux_driver import LinuxDriver

    class TerminalDriver(LinuxDriver):
        def __init__(self, app, **kwargs) -> None:
            super().__init__(app, **kwargs)
            self._file = stream

        def run_input_thread(self) -> None:
            try:
                super().run_input_thread()
            except OSError as exc:
                if exc.errno in TERMINAL_GONE and on_lost():
                    return
                raise

    return TerminalDriver


def read_device_attributes(in_fd: int, out_fd: int, timeout: float = 0.3) -> str | None:
    """Ask the terminal for its primary device attributes (``ESC [ c``) and return its reply, or None.

    Used before the app owns the terminal (``loratui lora grid --open`` in auto graphics mode), when the
    environment names no terminal with a graphics protocol: a reply listing 4 means sixel. The terminal is put in
    raw mode for the exchange only; a terminal that does not answer within `timeout` seconds gets None.
    """
    import select
    import tty

    if termios is None or not (os.isatty(in_fd) and os.isatty(out_fd)):
        return None
    modes = termios.tcgetattr(in_fd)
    reply = b""
    try:
        tty.setraw(in_fd, termios.TCSANOW)
        os.write(out_fd, b"\x1b[c")
        deadline = time.monotonic() + timeout
        while not reply.endswith(b"c") and len(reply) < 128:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([in_fd], [], [], left)[0]:
                break
            chunk = os.read(in_fd, 64)
            if not chunk:
                break
            reply += chunk
    except OSError:
        return None
    finally:
        termios.tcsetattr(in_fd, termios.TCSADRAIN, modes)
    text = reply.decode("ascii", errors="replace")
    return text if text.endswith("c") and "\x1b[?" in text else None
