"""A log view for trainer output: line API, ``\\r`` redraws collapsed, escape codes dropped, batched, bounded.

``feed(bytes_or_text)`` folds the data into lines at once in the caller's thread (the monitor's tail thread),
through ``training.run.logfold.LineFolder``: of a line's ``\\r`` redraws only the last is kept, escape
sequences and control characters are removed, lines are cut at ``MAX_WIDTH`` and only the newest ``max_lines``
wait. A timer takes what was folded a few dozen times a second and repaints, so a trainer printing a million
redraws or tens of thousands of lines a second costs the event loop one bounded step per tick, and the view's
memory stays bounded. ``find()`` searches (case-insensitive) and highlights the matches.
"""

from __future__ import annotations

from collections import deque

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from loratui.training.run.logfold import LineFolder

MAX_WIDTH = 1000
"""Lines are cut here for display (the log file keeps everything)."""


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
        self._folder = LineFolder(max_lines=max_lines, max_width=MAX_WIDTH)
        self._width = 0
        self.follow = True
        self.query = ""
        self.match: int | None = None
        self.flush_interval = flush_interval
        self.lines_in = 0
        """Lines finished so far (for the benchmark)."""
        self._highlight = Style(reverse=True)
        self._match_style = Style(bold=True, reverse=True, color="yellow")

    def on_mount(self) -> None:
        self.set_interval(self.flush_interval, self.flush)

    # -- input
    def feed(self, data: bytes | str) -> None:
        """Fold output in (bytes as the trainer wrote them, or text); shown at the next flush. Thread-safe."""
        self._folder.feed(data)

    def clear(self) -> None:
        """Forget every line."""
        self._folder.reset()
        self.lines.clear()
        self.current, self._width, self.match = "", 0, None
        self._update_size()

    @property
    def line_count(self) -> int:
        """Lines shown, the unfinished current one included."""
        return len(self.lines) + (1 if self.current else 0)

    def flush(self) -> None:
        """Show what was folded since the last flush and repaint (called by the timer)."""
        taken = self._folder.take()
        if taken is None:
            return
        lines, count, self.current = taken
        if lines:
            self.lines.extend(lines)
            self._width = max(self._width, max(map(len, lines)))
        self.lines_in += count
        self._update_size()
        if self.follow:
            # max_scroll_y accounts for a horizontal scrollbar; size.height would stop one line short of it
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        self.refresh()

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
