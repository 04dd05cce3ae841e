"""The `?` help screen: every binding with its id, keys (after remapping) and description."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def bindings_table(entries: list[tuple[str, str, str, str]]) -> Table:
    """A table of (section, binding id, keys, description) rows, grouped under section headings."""
    table = Table(expand=True, box=None, header_style="bold", pad_edge=False, show_edge=False)
    table.add_column("Keys", style="bold", no_wrap=True, ratio=2)
    table.add_column("Action", ratio=3)
    table.add_column(Text("Id for [ui.keys]"), style="dim", no_wrap=True, ratio=3)
    section_shown = None
    for section, binding_id, keys, description in entries:
        if section != section_shown:
            table.add_row(Text(section, style="bold cyan"), "", "")
            section_shown = section
        table.add_row(Text(keys), Text(description), Text(binding_id))
    return table


class HelpScreen(ModalScreen[None]):
    """Lists every binding; Escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close help", id="help.close"),
        Binding("down,j", "scroll(1)", "Scroll down", id="help.down", show=False),
        Binding("up,k", "scroll(-1)", "Scroll up", id="help.up", show=False),
    ]

    def __init__(self, entries: list[tuple[str, str, str, str]]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(Text("Keys · remap in config.toml: [ui.keys] id = \"keys\"", style="bold"))
            yield Static(bindings_table(self.entries), id="help-table")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, delta: int) -> None:
        self.query_one("#help-body").scroll_relative(y=delta, animate=False)
