"""Shared CLI output helpers: JSON, tables, lines and progress bars (quiet when stderr is not a terminal).

Everything printed here is shown literally: no Rich markup, no emoji codes, and control characters escaped by
``loratui.text.literal`` (file names, captions, tags and names may hold ESC sequences). Commands print through
these helpers only; JSON needs no escaping (the encoder escapes control characters).
"""

from __future__ import annotations

import codecs
import contextlib
import json
import sys
from typing import Any, Callable, Iterator, Mapping, Sequence

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from loratui.text import literal, literal_stream

stdout = Console(soft_wrap=True, highlight=False, emoji=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def print_json(data: Any) -> None:
    """Print JSON to stdout (UTF-8, indented)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None, *,
                compact: bool = False, widths: Mapping[str, int] | None = None) -> None:
    """Print a table; cell text is shown literally (no markup).

    Cells that do not fit are folded onto more lines. `compact` is for narrow terminals: no vertical rules (2
    cells per column instead of 3) and one line per row, each column as wide as its widest cell except those in
    `widths` (name -> most cells), which are cut with an ellipsis.
    """
    table = Table(title=Text(literal(title)) if title is not None else None, show_lines=False,
                  header_style="bold", box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD)
    widths = widths or {}
    for column in columns:
        table.add_column(Text(literal(column)), overflow="ellipsis" if compact else "fold", no_wrap=compact,
                         max_width=widths.get(column))
    for row in rows:
        table.add_row(*["" if cell is None else Text(literal(cell)) for cell in row])
    stdout.print(table)


def out(text: object, style: str | None = None) -> None:
    """A line (or lines) of text on stdout, shown literally; `style` is a Rich style for the whole text."""
    stdout.print(Text(literal(text, newlines=True), style=style or ""))


class StreamPrinter:
    """Bytes of a process's output (a trainer's log) to stdout as they come, decoded as UTF-8 across chunk
    boundaries; control characters are escaped except newlines, tabs and the carriage returns that redraw
    progress bars."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, data: bytes, *, final: bool = False) -> None:
        """Print one chunk (``final=True`` for the last, to flush a partial character)."""
        sys.stdout.write(literal_stream(self._decoder.decode(data, final)))
        sys.stdout.flush()


def info(message: str) -> None:
    """A status line on stderr (keeps stdout clean for JSON and pipes)."""
    stderr.print(Text(literal(message, newlines=True)))


@contextlib.contextmanager
def progress_bar(description: str, enabled: bool | None = None) -> Iterator[Callable[[int, int], None]]:
    """Yields ``update(done, total)``; draws a rich bar only when stderr is a terminal."""
    if enabled is None:
        enabled = stderr.is_terminal
    if not enabled:
        yield lambda done, total: None
        return
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=False) as progress:
        task = progress.add_task(literal(description), total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
