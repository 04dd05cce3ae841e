"""The `?` help screen: the keys of the screen it was opened from and the global ones, with ids and descriptions.

The entries come from ``loratui.tui.keys`` (``LoratuiApp.keys_for``): the focused widget's keys, the screen's
own, its other widgets', keys documented by ``HELP_KEYS`` and notes from ``HELP_NOTES``, then the keys that work
everywhere and the keys that open the feature screens. The table scrolls (j/k, arrows, PgUp/PgDn) and fits 80x24.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from loratui.tui.keys import KeyEntry


def bindings_table(entries: list[KeyEntry]) -> Group:
    """The entries grouped under their section headings; a section's notes read across the full width above
    its keys."""
    parts: list = []
    table = None
    section_shown = None
    for entry in entries:
        if entry.section != section_shown:
            parts.append(Text(entry.section, style="bold cyan"))
            section_shown = entry.section
            table = None
        if not entry.id and not entry.keys:
            parts.append(Text(entry.description, style="italic"))
            continue
        if table is None:
            table = _keys_table(header=not any(isinstance(part, Table) for part in parts))
            parts.append(table)
        table.add_row(Text(entry.keys), Text(entry.description), Text(entry.id or "—"))
    return Group(*parts)


def _keys_table(header: bool) -> Table:
    """One section's keys: the same column ratios in every section, so the columns line up."""
    table = Table(expand=True, box=None, header_style="bold", pad_edge=False, show_edge=False, show_header=header)
    table.add_column("Keys", style="bold", ratio=2)
    table.add_column("Action", ratio=4)
    table.add_column(Text("Id for [ui.keys]"), style="dim", no_wrap=True, ratio=3)
    return table


def remap_hint(entries: list[KeyEntry]) -> Text:
    """The header line: how to remap, with a real id of this screen as the example."""
    example = next((e for e in entries if e.id and e.node is not None and "." in e.id), None)
    text = Text("Remap a key in config.toml under [ui.keys]: ")
    if example is not None:
        text.append(f'"{example.id}" = "{example.raw_keys}"', style="bold")
    else:
        text.append('"<id>" = "<keys>"', style="bold")
    text.append(" · Esc closes")
    return text


class HelpScreen(ModalScreen[None]):
    """Lists the keys of one screen and the global ones; Escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close help", id="help.close"),
        Binding("down,j", "scroll(1)", "Scroll down", id="help.down", show=False),
        Binding("up,k", "scroll(-1)", "Scroll up", id="help.up", show=False),
    ]

    def __init__(self, entries: list[KeyEntry], title: str = "") -> None:
        super().__init__()
        self.entries = entries
        self.title_text = title

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            heading = f"Keys of the {self.title_text} screen" if self.title_text else "Keys"
            yield Static(Text(heading, style="bold"), id="help-title")
            yield Static(remap_hint(self.entries), id="help-hint")
            yield Static(bindings_table(self.entries), id="help-table")

    def on_mount(self) -> None:
        self.query_one("#help-body").border_title = "Help"

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, delta: int) -> None:
        self.query_one("#help-body").scroll_relative(y=delta, animate=False)
