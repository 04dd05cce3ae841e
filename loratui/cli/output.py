"""Shared CLI output helpers: JSON, tables and progress bars (quiet when stderr is not a terminal)."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

stdout = Console(soft_wrap=True, highlight=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Print JSON to stdout (UTF-8, indented)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """Print a table; cell text is shown literally (no markup)."""
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*["" if cell is None else _literal(str(cell)) for cell in row])
    stdout.print(table)


def _literal(text: str) -> Text:
    return Text(text)


def info(message: str) -> None:
    """A status line on stderr (keeps stdout clean for JSON and pipes)."""
    stderr.print(message, markup=False)


@contextlib.contextmanager
def progress_bar(description: str, enabled: bool | None = None) -> Iterator[Callable[[int, int], None]]:
    """Yields ``update(done, total)``; draws a rich bar only when stderr is a terminal."""
    if enabled is None:
        enabled = stderr.is_terminal
    if not enabled:
        yield lambda done, total: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=False) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
