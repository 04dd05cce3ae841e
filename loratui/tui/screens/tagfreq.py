"""Tag frequency: every tag of the open dataset with its image count; rename or delete one as a batch operation.

Opened with `F` (ScreenAction ``tagfreq.open``). The table sorts by count or name (`s`, or click a header) and
filters as you type in the box (`/`). Enter on a tag shows its images in the main image list (the query
``tag:"..."``). `r` renames and `x` (or Delete) removes the highlighted tag from every caption: both show a
preview (how many captions change, a sample diff) and apply only when confirmed; `u` undoes the newest
operation. Every change goes through the journal, so `loratui tags NAME undo` works on them too. The table
follows changes to the dataset's captions made anywhere (``apply_changes``).
"""

from __future__ import annotations

import inspect
from typing import Any, Awaitable, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from loratui.datasets import batch, dataset_repo, history
from loratui.store.changes import ChangeSet
from loratui.text import literal
from loratui.tui.extensions import ScreenAction
from loratui.tui.screens.tagops_dialogs import TCSS, OperationPreviewDialog, TagPromptDialog, offer_recovery
from loratui.tui.widgets.key_footer import KeyFooter
from loratui.tui.workers import work

PickFn = Callable[[str], Awaitable[Any] | Any]


def tag_query(tag: str) -> str:
    """The query language term selecting images with `tag`."""
    return 'tag:"' + tag.replace("\\", "\\\\").replace('"', '\\"') + '"'


class TagFrequencyScreen(Screen):
    """A sortable, filterable table of tags with counts; rename/delete are previewed batch operations."""

    CSS_PATH = TCSS
    BINDINGS = [
        Binding("escape", "back", "Back", id="tagfreq.back"),
        Binding("slash", "focus_filter", "Filter", id="tagfreq.filter"),
        Binding("s", "toggle_sort", "Sort", id="tagfreq.sort"),
        Binding("r", "rename", "Rename tag", id="tagfreq.rename"),
        Binding("x,delete", "delete", "Delete tag", id="tagfreq.delete"),
        Binding("u", "undo", "Undo", id="tagfreq.undo"),
    ]

    def __init__(self, store, dataset, on_pick: PickFn | None = None, caption_set: str | None = None) -> None:
        super().__init__()
        self.store, self.dataset, self.on_pick = store, dataset, on_pick
        self.caption_set = caption_set
        """The caption set counted and changed (``caption_sets.set_key``: None is the dataset's own)."""
        self.counts: dict[str, int] = {}
        self.images = 0
        self.sort_by = "count"
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter tags", id="tagfreq-filter")
        table = DataTable(id="tagfreq-table", cursor_type="row", zebra_stripes=True)
        table.add_column("tag", key="tag")
        table.add_column("images", key="count")
        table.add_column("%", key="share")
        yield table
        yield Static(id="tagfreq-status")
        yield KeyFooter()

    @property
    def table(self) -> DataTable:
        return self.query_one("#tagfreq-table", DataTable)

    async def on_mount(self) -> None:
        self.sub_title = self.dataset.name + (f" · {self.caption_set}" if self.caption_set else "")
        self.table.focus()
        await self.reload()
        self.check_interrupted()

    @work(exclusive=True, group="tagfreq-op")
    async def check_interrupted(self) -> None:
        """Offer to finish or roll back operations a crash interrupted."""
        if await offer_recovery(self.app, self.store, self.dataset):
            await self.reload()

    async def reload(self) -> None:
        """Read the counts again and redraw."""
        self.counts = dict(await batch.tag_frequency(self.store, self.dataset, caption_set=self.caption_set))
        self.images = (await self.store.read(dataset_repo.image_counts)).get(self.dataset.id, 0)
        self.refresh_rows()

    def apply_changes(self, changes: ChangeSet) -> None:
        """Captions of this dataset changed (here or elsewhere): count again."""
        if changes.touches_images(self.dataset.id):
            self._reload_worker()

    @work(exclusive=True, group="tagfreq-reload")
    async def _reload_worker(self) -> None:
        await self.reload()

    def visible_tags(self) -> list[tuple[str, int]]:
        """Tags passing the filter, in the current order."""
        needle = self.filter_text.casefold()
        rows = [(t, n) for t, n in self.counts.items() if needle in t.casefold()]
        if self.sort_by == "count":
            rows.sort(key=lambda r: (-r[1], r[0]))
        else:
            rows.sort(key=lambda r: (r[0].casefold(), r[0]))
        return rows

    def refresh_rows(self) -> None:
        table = self.table
        current = self.highlighted_tag()
        table.clear()
        rows = self.visible_tags()
        for tag, count in rows:
            share = f"{100 * count / self.images:.1f}" if self.images else ""
            table.add_row(Text(literal(tag)), count, share, key=tag)
        if current in self.counts and any(t == current for t, _ in rows):
            table.move_cursor(row=table.get_row_index(current))
        self.query_one("#tagfreq-status", Static).update(Text(
            f"{len(rows)} of {len(self.counts)} tags, {self.images} images, sorted by {self.sort_by}"
            + (f", filter {self.filter_text!r}" if self.filter_text else "")))

    def highlighted_tag(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - no row under the cursor
            return None

    # -- events and actions --------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refresh_rows()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.table.focus()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by = "alpha" if event.column_key.value == "tag" else "count"
        self.refresh_rows()

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        tag = event.row_key.value
        if self.on_pick is not None:
            result = self.on_pick(tag_query(tag))
            if inspect.isawaitable(result):
                await result
        self.app.pop_screen()

    def action_back(self) -> None:
        if self.focused is self.query_one("#tagfreq-filter", Input):
            self.table.focus()
            return
        self.app.pop_screen()

    def action_focus_filter(self) -> None:
        self.query_one("#tagfreq-filter", Input).focus()

    def action_toggle_sort(self) -> None:
        self.sort_by = "alpha" if self.sort_by == "count" else "count"
        self.refresh_rows()

    def action_rename(self) -> None:
        tag = self.highlighted_tag()
        if tag is not None:
            self.rename_tag(tag)

    def action_delete(self) -> None:
        tag = self.highlighted_tag()
        if tag is not None:
            self.run_operation(f"Remove {tag!r} from every caption", {"op": "remove", "tags": [tag]})

    @work(exclusive=True, group="tagfreq-op")
    async def rename_tag(self, tag: str) -> None:
        new = await self.app.push_screen_wait(TagPromptDialog(f"Rename {tag!r} to:", tag))
        if new and new != tag:
            self.run_operation(f"Rename {tag!r} to {new!r}", {"op": "replace", "old": tag, "new": new})

    @work(exclusive=True, group="tagfreq-op")
    async def run_operation(self, title: str, spec: dict) -> None:
        """Preview `spec` over the dataset, ask, then apply it (journaled)."""
        preview = await batch.preview_operation(self.store, self.dataset, spec, caption_set=self.caption_set)
        if not preview.changes:
            self.notify("Nothing would change.")
            return
        if not await self.app.push_screen_wait(OperationPreviewDialog(title, preview)):
            return
        result = await batch.apply_preview(self.store, self.dataset, preview)
        message = f"{result.changed} captions changed"
        if result.skipped:
            message += f", {len(result.skipped)} skipped: " + "; ".join(f"{p}: {r}" for p, r in result.skipped[:3])
        self.notify(message + " (u undoes)", severity="warning" if result.skipped else "information", markup=False)

    @work(exclusive=True, group="tagfreq-op")
    async def action_undo(self) -> None:
        result = await history.undo(self.store, self.dataset)
        self.notify(f"Undid {result.description}: {result.changed} files", markup=False)


def _pick_into_main_list(app) -> PickFn | None:
    """Filter the host app's image list when it offers ``main_screen.apply_filter`` (loratui's app does)."""
    main = getattr(app, "main_screen", None)
    apply_filter = getattr(main, "apply_filter", None)
    return apply_filter if callable(apply_filter) else None


def open_tag_frequency(app) -> Screen | None:
    """ScreenAction factory: the tag table of the open dataset."""
    dataset = getattr(app, "current_dataset", None)
    if dataset is None or getattr(app, "store", None) is None:
        app.notify("Open a dataset first.", severity="warning")
        return None
    main = getattr(app, "main_screen", None)
    return TagFrequencyScreen(app.store, dataset, on_pick=_pick_into_main_list(app),
                              caption_set=getattr(main, "caption_set", None))


ACTIONS = [ScreenAction(id="tagfreq.open", key="F", description="Tag frequency", factory=open_tag_frequency)]
