"""Pair problems: the edit-model image pairs of the open dataset that musubi-tuner would stop on or crop.

Opened with `p` on the main screen. The top line sums up each control folder (pairs and problems, how controls
are resized); the table lists every problem, target images and control files alike: a missing control, an extra
control no image takes, a control whose aspect ratio differs from its image's (cropped to the image's bucket),
unreadable files, names musubi-tuner refuses (``STEM_<not a number>``) and controls that tie for one place. Enter
shows the image a row is about in the main list. The screen follows changes (``apply_changes``): a rescan, a
`loratui dataset control` in another terminal or a fixed file updates it.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from loratui.datasets import pair_service
from loratui.errors import LoratuiError
from loratui.store.changes import ChangeSet
from loratui.text import literal
from loratui.tui.widgets.key_footer import KeyFooter
from loratui.tui.widgets.pair_preview import PROBLEM_STYLE
from loratui.tui.workers import report_error, work

LABELS = {"missing": "missing", "extra": "extra", "mismatch": "mismatch", "broken": "broken",
          "bad_name": "bad name", "ambiguous": "ambiguous"}


def folder_summary(folder: dict) -> str:
    """'3_edit: 5/6 paired, 1 missing, 1 extra (resized to the target's bucket)'."""
    counts = [(folder[key], label) for key, label in (
        ("missing", "missing"), ("mismatch", "mismatched"), ("broken", "broken"), ("bad_name", "bad name"),
        ("ambiguous", "ambiguous"), ("extra", "extra"))]
    problems = ", ".join(f"{n} {label}" for n, label in counts if n)
    resize = []
    if folder["no_resize_control"]:
        resize.append("no_resize_control")
    if folder["control_resolution"]:
        resize.append("control_resolution {}x{}".format(*folder["control_resolution"]))
    where = folder["control_folder"] or "none"
    return (f"{folder['subset'] or '.'} ← {where}: {folder['paired']}/{folder['targets']} paired"
            + (f", {problems}" if problems else "") + f" ({', '.join(resize) or 'resized to the image'})")


class PairProblemsScreen(Screen[str | None]):
    """The table of pair problems of one dataset; dismissed with the image to show (or None)."""

    CSS_PATH = str(Path(__file__).with_name("pairs.tcss"))
    BINDINGS = [
        Binding("escape", "back", "Back", id="pairs.back"),
        Binding("enter", "show_image", "Show image", id="pairs.show_image"),
    ]

    def __init__(self, dataset) -> None:
        super().__init__()
        self.dataset = dataset
        self.problems: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Static(id="pairs-folders")
        table = DataTable(id="pairs-table", cursor_type="row", zebra_stripes=True)
        table.add_column("problem", key="problem")
        table.add_column("file", key="path")
        table.add_column("detail", key="detail")
        yield table
        yield KeyFooter()

    @property
    def table(self) -> DataTable:
        return self.query_one("#pairs-table", DataTable)

    async def on_mount(self) -> None:
        self.sub_title = self.dataset.name
        self.table.focus()
        await self.reload()

    async def reload(self) -> None:
        """Read the control folders and every problem again, and redraw (keeping the highlighted row)."""
        try:
            overview = await pair_service.pair_overview(self.app.store, self.dataset.name, limit=None)
        except LoratuiError as exc:  # the dataset was removed or renamed meanwhile
            report_error(self, exc)
            return
        table = self.table
        current = self.problems[table.cursor_row]["path"] if self.problems and table.cursor_row < len(
            self.problems) else None
        self.problems = overview["problems"]
        folders = overview["folders"]
        summary = Text(f"Pair problems of {self.dataset.name}: {len(self.problems)}\n", style="bold")
        if not folders:
            summary.append("No control folders: put a subset's control images in its `control` folder (or a sibling "
                           "`<subset>_control`), or set one with `loratui dataset control`.")
        for index, folder in enumerate(folders):
            summary.append(("\n" if index else "") + literal(folder_summary(folder)), style="not bold")
        self.query_one("#pairs-folders", Static).update(summary)
        table.clear()
        for problem in self.problems:
            label = LABELS.get(problem["problem"], problem["problem"])
            table.add_row(Text(label, style=PROBLEM_STYLE.get(problem["problem"], "red")),
                          Text(literal(problem["path"])), Text(literal(problem["detail"] or ""), style="dim"))
        paths = [p["path"] for p in self.problems]
        if current in paths:
            table.move_cursor(row=paths.index(current))

    def apply_changes(self, changes: ChangeSet) -> None:
        """Pairs or control folders of this dataset changed (a scan here or elsewhere): read them again."""
        if changes.touches_images(self.dataset.id) or self.dataset.id in changes.datasets:
            self._reload_worker()

    @work(exclusive=True, group="pairs-reload")
    async def _reload_worker(self) -> None:
        await self.reload()

    def action_back(self) -> None:
        self.dismiss(None)

    def action_show_image(self) -> None:
        """Close, showing the image the highlighted row is about (a control's image; nothing for an extra)."""
        row = self.table.cursor_row
        if not self.problems or not 0 <= row < len(self.problems):
            return
        target = self.problems[row]["target"]
        if target is None:
            self.notify("No image takes this control file (musubi-tuner ignores it)", timeout=3)
            return
        self.dismiss(target)

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_show_image()
