"""Terminal fitness: colour depth and keeping native stderr off the screen while the app owns it."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator, MutableMapping


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
