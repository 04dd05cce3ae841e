"""The add-dataset prompt: a folder path with completion (Right or Tab accepts the suggestion)."""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Static


def complete_folder(value: str) -> str | None:
    """The first folder completing `value` (with a trailing '/'), or None."""
    if not value:
        return None
    expanded = os.path.expanduser(value)
    folder, _sep, prefix = expanded.rpartition("/")
    base = Path(folder or "/") if expanded.startswith("/") or folder else Path(".")
    try:
        names = sorted(
            entry.name for entry in os.scandir(base)
            if entry.is_dir() and entry.name.startswith(prefix) and not entry.name.startswith(".")
        )
    except OSError:
        return None
    if not names or (names[0] == prefix and len(names) == 1 and value.endswith("/")):
        return None
    completed = (folder + "/" if folder or expanded.startswith("/") else "") + names[0] + "/"
    if value.startswith("~") and not expanded.startswith("~"):
        completed = "~" + completed[len(os.path.expanduser("~")):]
    return completed if completed != value else None


class FolderSuggester(Suggester):
    """Suggests folder names for the path typed so far."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return complete_folder(value)


class PathInput(Input):
    """An Input whose Tab accepts the folder suggestion instead of moving focus."""

    BINDINGS = [Binding("tab", "accept_suggestion", "Complete folder", id="add.complete", show=False)]

    def action_accept_suggestion(self) -> None:
        # The completion the suggester shows, computed again: Input keeps it in a private attribute.
        completed = complete_folder(self.value)
        if completed:
            self.value = completed
            self.cursor_position = len(self.value)


class AddDatasetScreen(ModalScreen[str | None]):
    """Asks for a dataset folder; dismisses with the path or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="add.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("Add a dataset folder", style="bold"), id="dialog-title")
            yield Static(Text("kohya N_concept subfolders or plain images; Tab completes, Enter adds and scans."),
                         id="dialog-question")
            yield PathInput(placeholder="/path/to/dataset", suggester=FolderSuggester(), id="path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(value or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
