"""Trainer output folded into the lines a terminal would show, in bounded memory and time.

A ``\\r`` starts the current line over (a tqdm bar redraws in place), so of a line's redraws only the last one
is kept; escape sequences and other control characters are removed (trainer output cannot move the cursor or
recolour the screen) and a tab becomes four spaces. Whatever the input, at most ``max_lines`` finished lines
wait to be taken, each cut at ``max_width`` characters, and the unfinished line is cut there too: a million
redraws or a 50 MB line without a newline cost a few passes of C-level string work and no memory to speak of.

``feed`` is called from a reading thread (the monitor's tail), ``take`` from the UI: both are thread-safe, and
``feed`` folds big inputs a slice at a time so ``take`` never waits long.
"""

from __future__ import annotations

import codecs
import re
import threading
from collections import deque

from loratui.training.run.logparse import ESCAPE_SEQUENCE, strip_escapes

_CONTROL = {c: None for c in range(32) if c not in (9, 10, 13)}
_CONTROL[9] = "    "
_CONTROL[127] = None
_CONTROL_CHARS = re.compile("[\x00-\x08\x09\x0b\x0c\x0e-\x1f\x7f]")
SLICE = 1 << 20
"""Most input folded under the lock at once."""
ESCAPE_CARRY = 64
"""An escape sequence cut by a chunk boundary is kept for the next chunk if it started this close to the end."""


class LineFolder:
    """Bytes (or text) in, finished lines and the current line out (see the module docstring)."""

    def __init__(self, max_lines: int = 10000, max_width: int = 1000) -> None:
        self.max_lines = max_lines
        self.max_width = max_width
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new log is followed)."""
        with self._lock:
            self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
            self._carry = ""
            self._finished: deque[str] = deque(maxlen=self.max_lines)
            self._count = 0
            self._changed = False
            self.current = ""
            self._cr = False

    def feed(self, data: bytes | str) -> None:
        """Fold more output in."""
        for start in range(0, len(data), SLICE):
            piece = data[start:start + SLICE]
            with self._lock:
                text = self._decoder.decode(piece) if isinstance(piece, bytes) else piece
                self._fold(self._clean(text))

    def take(self) -> tuple[list[str], int, str] | None:
        """(lines finished since the last take, the newest ``max_lines`` of them; how many finished in all;
        the current line), or None when nothing changed."""
        with self._lock:
            if not self._changed:
                return None
            lines, count = list(self._finished), self._count
            self._finished.clear()
            self._count, self._changed = 0, False
            return lines, count, self.current

    def _clean(self, text: str) -> str:
        if self._carry:
            text, self._carry = self._carry + text, ""
        cut = text.rfind("\x1b", max(0, len(text) - ESCAPE_CARRY))
        if cut >= 0 and ESCAPE_SEQUENCE.match(text, cut) is None:
            text, self._carry = text[:cut], text[cut:]
        if "\x1b" in text:
            text = strip_escapes(text)
        if _CONTROL_CHARS.search(text):
            text = text.translate(_CONTROL)
        return text

    def _fold(self, text: str) -> None:
        if not text:
            return
        self._changed = True
        pieces = text.split("\n")
        self._extend(pieces[0])
        if len(pieces) == 1:
            return
        width = self.max_width
        middle = pieces[1:-1]
        done = [self.current]
        if len(middle) >= self.max_lines:
            done, middle = [], middle[-self.max_lines:]  # only the newest lines can still be shown
        for line in middle:
            if "\r" in line:
                line = line.rstrip("\r")
                line = line[line.rfind("\r") + 1:]
            done.append(line[:width])
        self._finished.extend(done)
        self._count += len(pieces) - 1
        self.current, self._cr = "", False
        self._extend(pieces[-1])

    def _extend(self, text: str) -> None:
        """Add text without a newline to the current line; after a \\r the next text replaces it."""
        if "\r" in text:
            stripped = text.rstrip("\r")
            cut = stripped.rfind("\r")
            if cut >= 0:
                self.current, self._cr = stripped[cut + 1:][:self.max_width], False
            else:
                self._extend(stripped)
            if len(stripped) < len(text):
                self._cr = True
            return
        if not text:
            return
        if self._cr:
            self.current, self._cr = text[:self.max_width], False
        elif len(self.current) < self.max_width:
            self.current = (self.current + text[:self.max_width])[:self.max_width]
