"""A log view for trainer output: line API, ``\\r`` redraws collapsed, escape codes dropped, batched, bounded.

``feed(bytes_or_text)`` only queues the data (cheap, callable from a thread); a timer folds the queue into
lines a few dozen times a second, so a trainer printing tens of thousands of lines a second never floods the
event loop. A ``\\r`` starts the current line over (a tqdm bar redraws in place); escape sequences and other
control characters are removed so trainer output cannot move the cursor or recolour the screen. Only the
newest ``max_lines`` lines are kept. ``find()`` searches (case-insensitive) and highlights the matches.
"""

from __future__ import annotations

import codecs
import re
import time
from collections import deque

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from loratui.training.run.logparse import strip_escapes

# Control characters other than \n and \r are dropped; a tab becomes spaces.
_CONTROL = {c: None for c in range(32) if c not in (9, 10, 13)}
_CONTROL[9] = "    "
_CONTROL[127] = None
_CONTROL_CHARS = re.compile("[\x00-\x08\x09\x0b\x0c\x0e-\x1f\x7f]")
MAX_WIDTH = 1000
"""Lines are cut here for display (the log file keeps everything)."""
PIECE = 8192
"""feed() queues big chunks in pieces of this many bytes so one flush step stays short."""
BATCH = 4
"""Pieces folded together per step."""
FLUSH_BUDGET_S = 0.008
"""Most time one flush spends folding output before it lets the app handle input."""


class LogView(ScrollView, can_focus=True):
    """Trainer output as lines (see the module docstring)."""

    BINDINGS = [
        Binding("end", "follow", "Follow", id="logview.follow"),
        Binding("home", "scroll_home", "Top", id="logview.top", show=False),
        Binding("n", "find_next", "Next match", id="logview.next_match", show=False),
        Binding("N", "find_previous", "Previous match", id="logview.previous_match", show=False),
    ]
    DEFAULT_CSS = """
    LogView { background: $surface; color: $text; }
    """

    class Searched(Message):
        """A search ran: the matched line index, or None when nothing matched."""

        def __init__(self, query: str, line: int | None) -> None:
            super().__init__()
            self.query = query
            self.line = line

    def __init__(self, *, max_lines: int = 10000, flush_interval: float = 0.02, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.current = ""
        self._cr = False
        self._pending: list = []
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._width = 0
        self.follow = True
        self.query = ""
        self.match: int | None = None
        self.flush_interval = flush_interval
        self.lines_in = 0
        """Lines folded in so far (for the benchmark)."""
        self._highlight = Style(reverse=True)
        self._match_style = Style(bold=True, reverse=True, color="yellow")

    def on_mount(self) -> None:
        self.set_interval(self.flush_interval, self.flush)

    # -- input
    def feed(self, data: bytes | str) -> None:
        """Queue output (bytes as the trainer wrote them, or text); shown at the next flush. Thread-safe."""
        if len(data) <= PIECE:
            self._pending.append(data)
        else:
            self._pending.extend(data[i:i + PIECE] for i in range(0, len(data), PIECE))

    def clear(self) -> None:
        """Forget every line."""
        self._pending.clear()
        self.lines.clear()
        self.current, self._cr, self._width, self.match = "", False, 0, None
        self._update_size()

    @property
    def line_count(self) -> int:
        """Lines shown, the unfinished current one included."""
        return len(self.lines) + (1 if self.current else 0)

    def flush(self) -> None:
        """Fold queued output into lines and repaint (called by the timer).

        At most FLUSH_BUDGET_S of work per call: under a flood of output the rest waits for the next tick, so
        key presses are never stuck behind it.
        """
        if not self._pending:
            return
        started = time.perf_counter()
        while self._pending and time.perf_counter() - started < FLUSH_BUDGET_S:
            batch = self._pending[:BATCH]
            del self._pending[:len(batch)]  # feed() only appends, so this never drops new data
            self._fold(batch)
        self._update_size()
        if self.follow:
            # max_scroll_y accounts for a horizontal scrollbar; size.height would stop one line short of it
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        self.refresh()

    def _fold(self, pending: list) -> None:
        text = "".join(self._decoder.decode(p) if isinstance(p, bytes) else p for p in pending)
        if "\x1b" in text:
            text = strip_escapes(text)
        if _CONTROL_CHARS.search(text):
            text = text.translate(_CONTROL)
        pieces = text.split("\n")
        self._take(pieces[0])
        if len(pieces) > 1:
            lines, width = self.lines, self._width
            lines.append(self.current[:MAX_WIDTH])
            width = max(width, len(self.current))
            for piece in pieces[1:-1]:
                if "\r" in piece:
                    self.current, self._cr = "", False
                    self._take(piece)
                    piece = self.current
                lines.append(piece[:MAX_WIDTH])
                if len(piece) > width:
                    width = len(piece)
            self.lines_in += len(pieces) - 1
            self._width = min(width, MAX_WIDTH)
            self.current, self._cr = "", False
            self._take(pieces[-1])

    def _take(self, piece: str) -> None:
        """Add text without a newline to the current line; a \\r makes the next text replace it."""
        if "\r" not in piece:
            if piece:
                if self._cr:
                    self.current, self._cr = piece, False
                else:
                    self.current += piece
            return
        parts = piece.split("\r")
        self._take(parts[0])
        for part in parts[1:]:
            self._cr = True
            if part:
                self.current, self._cr = part, False

    def _update_size(self) -> None:
        self.virtual_size = Size(max(self._width, len(self.current)), self.line_count)

    # -- display
    def line_text(self, index: int) -> str:
        """The text of line `index` (the current, unfinished line last)."""
        if 0 <= index < len(self.lines):
            return self.lines[index]
        return self.current if index == len(self.lines) else ""

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        if index >= self.line_count:
            return Strip.blank(width, self.rich_style)
        text = self.line_text(index)[scroll_x:scroll_x + width]
        style = self.rich_style
        if self.query and self.query in text.casefold():
            segments = self._highlighted(text, style, self._match_style if index == self.match else self._highlight)
        else:
            segments = [Segment(text, style)]
        return Strip(segments, len(text)).extend_cell_length(width, style)

    def _highlighted(self, text: str, style: Style, mark: Style) -> list[Segment]:
        folded, query = text.casefold(), self.query
        out, start = [], 0
        while True:
            hit = folded.find(query, start)
            if hit < 0 or len(folded) != len(text):
                out.append(Segment(text[start:], style))
                return out
            out.append(Segment(text[start:hit], style))
            out.append(Segment(text[hit:hit + len(query)], style + mark))
            start = hit + len(query)

    # -- follow and search
    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.follow = new >= self.max_scroll_y

    def action_follow(self) -> None:
        """Jump to the end and keep following new output."""
        self.follow = True
        self.scroll_end(animate=False)

    def find(self, query: str, backwards: bool = False) -> int | None:
        """Select the next (or previous) line containing `query`; returns its index or None."""
        self.query = query.casefold()
        found = None
        if self.query:
            count = self.line_count
            start = self.match if self.match is not None else (count - 1 if backwards else int(self.scroll_y) - 1)
            order = range(start - 1, -1, -1) if backwards else range(start + 1, count)
            for index in order:
                if self.query in self.line_text(index).casefold():
                    found = index
                    break
        self.match = found
        if found is not None:
            self.follow = False
            self.scroll_to(y=max(0, found - self.size.height // 2), animate=False)
        self.refresh()
        self.post_message(self.Searched(query, found))
        return found

    def action_find_next(self) -> None:
        """Next match of the last search."""
        if self.query:
            self.find(self.query)

    def action_find_previous(self) -> None:
        """Previous match of the last search."""
        if self.query:
            self.find(self.query, backwards=True)
