"""The open dataset's target (what its buckets follow) and its caption files without an image, as a modal.

Opened with `i` on the main screen. The list is what the last scan found; the title of the image list shows
their count, so orphan captions are never ignored silently.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.target import describe
from loratui.text import literal


class DatasetInfoScreen(ModalScreen[None]):
    """Shows a dataset's target and its orphan caption files; Esc (or i, q) closes."""

    BINDINGS = [Binding("escape,i,q", "close", "Close", id="dataset_info.close")]

    def __init__(self, dataset: Dataset, orphans: list[dict]) -> None:
        super().__init__()
        self.dataset = dataset
        self.orphans = orphans

    def compose(self) -> ComposeResult:
        dataset = self.dataset
        with Vertical(id="dialog"):
            yield Static(Text(literal(dataset.name), style="bold"), id="dialog-title")
            target = Text(f"Buckets: {describe(dataset.target)}\n")
            target.append("Set it from the training form (C, then Ctrl+G) or with "
                          "`loratui dataset target NAME FAMILY[:RES]`.", style="dim")
            yield Static(target, id="info-target")
            count = len(self.orphans)
            heading = (f"{count} caption file(s) without an image (trainers ignore them):" if count
                       else "No caption file without an image (as of the last scan).")
            yield Static(Text(heading, style="yellow" if count else ""), id="info-orphans-title")
            with VerticalScroll(id="info-orphans"):
                lines = Text(no_wrap=True, overflow="ellipsis")
                for index, orphan in enumerate(self.orphans):
                    lines.append(("\n" if index else "") + literal(orphan["path"]))
                    lines.append(f"  {orphan['size']} bytes", style="dim")
                yield Static(lines, id="info-orphans-list")

    def action_close(self) -> None:
        self.dismiss(None)
