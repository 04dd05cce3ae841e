"""The main screen: dataset tree | image list | preview + caption editor + tags, a jobs strip and the footer.

The screen owns the state that crosses widgets (the open dataset, the loaded caption) and is the only place that
writes captions: through ``loratui.datasets.journal.save_caption``, the same journaled, atomic path the CLI uses.
The editor works on one caption set at a time (``caption_set``: `.txt`, `.caption`, ...; Ctrl+O switches): the
caption, the save, the filter, the completion vocabulary and the tag frequency screen follow it; the image list's
tag count and flags stay those of the dataset's own set. Widgets post messages up; the screen sets attributes and
calls methods down. What changes in the database — here,
in another screen, or in another process — reaches it through ``apply_changes`` (see ``loratui.tui.refresh``):
the list rows, the open caption, the tag panel, the vocabulary, the tree and the jobs strip follow from there.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from loratui.datasets import caption_set_repo, caption_sets, dataset_repo, image_repo, journal, pair_repo, writelock
from loratui.datasets.captions import caption_path_for, parse_tags, read_caption
from loratui.datasets.image_repo import FLAG_BROKEN, FLAG_EDITED, FLAG_UNCAPTIONED, ThumbnailReader
from loratui.datasets.kept_edits import UnsavedEdit
from loratui.datasets.query import QueryError
from loratui.datasets.service import add_dataset, rescan_dataset
from loratui.errors import ConflictError, LoratuiError
from loratui.jobs import repo as jobs_repo
from loratui.jobs.model import Job, JobStatus
from loratui.store.changes import ChangeSet
from loratui.text import literal
from loratui.tui.screens.add_dataset import AddDatasetScreen
from loratui.tui.screens.confirm import ConfirmScreen
from loratui.tui.screens.dataset_info import DatasetInfoScreen
from loratui.tui.screens.pairs import PairProblemsScreen
from loratui.tui.widgets.caption_editor import CaptionEditor
from loratui.tui.widgets.dataset_tree import DatasetTree, TreeTarget
from loratui.tui.widgets.image_list import ImageList
from loratui.tui.widgets.jobs_strip import JobsStrip
from loratui.tui.widgets.pair_preview import PairPreview
from loratui.tui.widgets.key_footer import KeyFooter
from loratui.tui.widgets.preview import ImagePreview
from loratui.tui.widgets.tag_panel import TagPanel
from loratui.tui.workers import report_error, work

FILTER_DEBOUNCE_S = 0.15
VOCABULARY_DEBOUNCE_S = 0.3
"""Reading the whole tag vocabulary again after a change waits this long for more changes to come."""
PARTIAL_REFRESH_MAX = 500
"""Changes of up to this many images update their rows in place; more reload the whole list."""
FIRST_PAGE = 200
_NOTHING = object()
LOAD_SETTLE_S = 0.045
"""Highlights closer together than this (a held key) defer loading the caption until the cursor rests."""


def _same_view(a: TreeTarget | None, b: TreeTarget | None) -> bool:
    """True when `a` and `b` open the same dataset and subset (a dataset row re-read after a change, with a
    new target or orphan count, is still the same view)."""
    return a is not None and b is not None and (a.dataset.id, a.subset_id) == (b.dataset.id, b.subset_id)


@dataclass
class LoadedCaption:
    """The caption in the editor as it was read from disk: what 'unchanged' and 'changed on disk' compare to."""

    image_id: int
    rel_path: str
    path: Path
    text: str
    mtime_ns: int | None
    """mtime of the caption file when read; None when there was no caption file."""
    editable: bool = True
    sha256: str | None = None
    """Of the caption file's bytes when read (None: no file): a save goes ahead only while the file holds them."""
    caption_set: str | None = None
    """The caption set it belongs to (``caption_sets.set_key``: None is the dataset's own)."""


class FilterInput(Input):
    """The `/` filter box; Escape clears and closes it."""

    BINDINGS = [Binding("escape", "clear", "Clear filter", id="filter.clear")]

    class Cleared(Message):
        """The user cleared and closed the filter."""

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(self.Cleared())


class MainScreen(Screen):
    """The workspace: browse datasets, go through images, fix captions."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="main.filter"),
        Binding("d", "toggle_tree", "Datasets", id="main.toggle_tree"),
        Binding("a", "add_dataset", "Add dataset", id="main.add_dataset"),
        Binding("r", "rescan", "Rescan", id="main.rescan"),
        Binding("i", "dataset_info", "Dataset info", id="main.dataset_info", show=False),
        Binding("p", "pair_problems", "Pair problems", id="main.pair_problems", show=False),
        Binding("c", "next_control", "Next control image", id="main.next_control", show=False),
        Binding("x", "cancel_job", "Cancel job", id="main.cancel_job", show=False),
        Binding("ctrl+o", "next_caption_set", "Next caption set", id="main.caption_set", show=False),
        Binding("tab", "app.focus_next", "Next panel", id="main.next_panel", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous panel", id="main.previous_panel", show=False),
    ]

    def __init__(self, initial_dataset: str | None = None, preview_enabled: bool = True) -> None:
        super().__init__()
        self.initial_dataset = initial_dataset
        self.preview_enabled = preview_enabled
        self.target: TreeTarget | None = None
        self.loaded: LoadedCaption | None = None
        self.vocabulary: dict[str, int] = {}
        self.filter_text = ""
        self._filter_timer: Timer | None = None
        self._load_timer: Timer | None = None
        self._last_highlight = 0.0
        self.tree_visible: bool | None = None
        """None: shown on wide terminals, hidden on narrow ones; True/False after the user toggles it."""
        self._vocabulary_timer: Timer | None = None
        self._own_saves: set[int] = set()
        """Images whose last change was a save from this screen (the vocabulary was updated in place then)."""
        self.opened = asyncio.Event()
        """Set once the rows of the first dataset are in the list (the benchmark waits on it)."""
        self._pending_refresh: set[int] | None | object = _NOTHING
        self._refreshing = False
        self._asked_about: tuple[int, int | None] | None = None
        self._asking: UnsavedEdit | None = None
        self.edit_pairs = False
        """The open dataset has control folders (edit-model pairs): its captions are instructions."""
        """The edit the "changed on disk, overwrite?" dialog is about, while it is open."""
        self.orphans: list[dict] = []
        """The open dataset's caption files without an image (as its last scan found them)."""
        self.caption_set: str | None = None
        """The caption set the editor, filter, vocabulary and tag frequency work on (None: the dataset's own)."""
        self.caption_set_exts: list[str] = []
        """The open dataset's caption sets, its own extension first."""

    # -- layout -------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="panels"):
            yield DatasetTree(id="tree")
            yield ImageList(id="images")
            with Vertical(id="detail"):
                yield Static("", id="preview-info")
                yield PairPreview(id="pair", enabled=self.preview_enabled)
                yield CaptionEditor(id="editor")
                yield Static("", id="suggestions")
                yield TagPanel(id="tags")
        yield FilterInput(placeholder="filter: name, caption text or tag", id="filter")
        yield JobsStrip(id="jobs")
        yield KeyFooter()

    @property
    def image_list(self) -> ImageList:
        return self.query_one(ImageList)

    @property
    def editor(self) -> CaptionEditor:
        return self.query_one(CaptionEditor)

    @property
    def store(self):
        return self.app.store

    @property
    def dataset(self):
        """The open dataset, or None."""
        return self.target.dataset if self.target else None

    def on_mount(self) -> None:
        self.query_one("#tree").border_title = "Datasets"
        self.image_list.border_title = "Images"
        self.query_one("#tags").border_title = "Tags"
        self.editor.border_title = "Caption"
        self.image_list.on_cursor_moved = self._request_preview
        self.query_one(ImagePreview).thumbnails = ThumbnailReader(self.app.ctx.paths.db)
        self.query_one(PairPreview).open(self.app.ctx.paths.db)
        self.image_list.focus()
        self._initial_load()

    @work(exclusive=True, group="dataset")
    async def _initial_load(self) -> None:
        # The image list first (what the user looks at), the tree's counts right after.
        datasets = await self.store.run(dataset_repo.list_datasets)
        if not datasets:
            await self.reload_tree()
            self._show_no_datasets()
            self.opened.set()
            return
        chosen = next((d for d in datasets if d.name == self.initial_dataset), datasets[0])
        if self.initial_dataset and chosen.name != self.initial_dataset:
            self.notify(f"No dataset named {self.initial_dataset!r}; opened {chosen.name!r}", severity="warning")
        target = TreeTarget(chosen, None, chosen.name)
        await self.open_target(target)
        await self.reload_tree()
        self.query_one(DatasetTree).move_to_target(target)

    def _show_no_datasets(self) -> None:
        self.image_list.set_rows(image_repo.ImageRows())
        self.image_list.empty_message = "No datasets yet: press a to add a folder (or run `loratui demo`)"
        self.image_list.refresh()
        self._update_list_title()

    async def reload_tree(self) -> list[dataset_repo.Dataset]:
        """Re-read datasets, subsets and counts into the tree; returns the datasets."""
        datasets = await self.store.run(dataset_repo.list_datasets)
        counts = await self.store.read(dataset_repo.image_counts)
        subsets = await self.store.read(dataset_repo.list_subsets)
        self.query_one(DatasetTree).populate(datasets, counts, subsets, select=self.target)
        return datasets

    # -- opening datasets ---------------------------------------------------------------------------------

    async def open_target(self, target: TreeTarget, select_id: int | None = None) -> None:
        """Show a dataset (or subset) in the image list; its first image (or `select_id`) is highlighted."""
        await self.save_current()
        dataset_changed = self.target is None or self.target.dataset.id != target.dataset.id
        self.target = target
        if dataset_changed:
            self.caption_set = None
        await self._read_caption_sets()
        self.query_one(PairPreview).set_root(target.dataset.path)
        self.edit_pairs = await self.store.read(pair_repo.has_control_folders, target.dataset.id)
        self.loaded = None
        center = True
        if not self.filter_text and select_id is None:
            # Paint the first page at once; the rest of a big dataset follows a moment later.
            head = await self.store.run(image_repo.list_rows, target.dataset.id, target.subset_id, FIRST_PAGE)
            if len(head) == FIRST_PAGE:
                self.image_list.set_rows(head)
                self._update_list_title(loading=True)
                center = False
                await self._list_drawn(head)
        rows = await self.store.read(image_repo.list_rows, target.dataset.id, target.subset_id)
        keep = await self._filter_ids(target.dataset.id, self.filter_text) if self.filter_text else None
        self.orphans = await self.store.read(dataset_repo.orphan_captions, target.dataset.id)
        if not center:
            select_id = self.image_list.highlighted_id  # the user may have moved already
        self.image_list.empty_message = "No images" if not keep and self.filter_text == "" else "No matches"
        self.image_list.set_rows(rows, keep, select_id, center=center)
        self._update_list_title()
        if not self.image_list.count:
            self._show_nothing()
        self.opened.set()
        if dataset_changed or not self.vocabulary:
            self.vocabulary = await self.store.read(caption_set_repo.images_per_tag, target.dataset.id, None,
                                                    self.caption_set)
            self._vocabulary_changed()
        if dataset_changed:
            # The rows live until the next switch: keep them out of the garbage collector's passes from now on
            # (and let the pacer run those between key presses: loratui.tui.gc_pacer).
            pacer = getattr(self.app, "gc_pacer", None)
            if pacer is not None:
                pacer.settled()

    async def _list_drawn(self, rows, timeout: float = 0.3) -> None:
        """Wait until the list has drawn `rows` (so a first page shows before a long query starts)."""
        deadline = time.monotonic() + timeout
        while self.image_list.drawn_rows is not rows and time.monotonic() < deadline:
            drawn = asyncio.Event()
            self.call_after_refresh(drawn.set)
            try:
                await asyncio.wait_for(drawn.wait(), max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break

    def _vocabulary_changed(self) -> None:
        self.editor.vocabulary = sorted(self.vocabulary.items(), key=lambda item: (-item[1], item[0]))
        if self.loaded is not None:
            self._show_tags(self.editor.text)

    def _update_list_title(self, loading: bool = False) -> None:
        image_list = self.image_list
        title = Text("Images ")
        if self.target is not None:
            title.append(literal(self.target.label))
            title.append(" loading…" if loading else f" {len(image_list.rows)}", style="dim")
            target = self.target.dataset.target
            if target is not None:
                title.append(f" · {target.label}", style="dim")
            if self.orphans:
                title.append(f" · {len(self.orphans)} orphan {self.target.dataset.caption_ext} (i)", style="yellow")
            if self.filter_text:
                title.append(f"  /{literal(self.filter_text)} → {image_list.count}", style="bold")
        image_list.border_title = title

    def on_dataset_tree_dataset_selected(self, event: DatasetTree.DatasetSelected) -> None:
        self._open_worker(event.target)
        self.image_list.focus()

    @work(exclusive=True, group="dataset")
    async def _open_worker(self, target: TreeTarget) -> None:
        await self.open_target(target)

    # -- changes (see loratui.tui.refresh) ----------------------------------------------------------------

    def apply_changes(self, changes: ChangeSet) -> None:
        """Refresh what changed: the jobs strip, the tree, the list rows, the open caption, tags and vocabulary."""
        if changes.full or changes.jobs:
            self.query_one(JobsStrip).reload()
        if changes.touches_datasets():
            self._tree_worker()
        dataset = self.dataset
        if dataset is not None and changes.touches_images(dataset.id):
            self._queue_refresh(changes.image_ids(dataset.id))

    @work(exclusive=True, group="tree")
    async def _tree_worker(self) -> None:
        datasets = await self.reload_tree()
        if self.target is not None:
            await self._dataset_changed(next((d for d in datasets if d.id == self.target.dataset.id), None))
        if self.target is not None:  # a control folder found, set or dropped: captions are instructions or not
            edit_pairs = await self.store.read(pair_repo.has_control_folders, self.target.dataset.id)
            if edit_pairs != self.edit_pairs:
                self.edit_pairs = edit_pairs
                self._title_editor()
        if self.target is not None and all(d.id != self.target.dataset.id for d in datasets):
            self.notify(f"Dataset {self.target.dataset.name!r} was removed", severity="warning", markup=False)
            self.target, self.loaded = None, None
            if not datasets:
                self._show_no_datasets()
                self._show_nothing()
        if self.target is None and datasets:
            await self.open_target(TreeTarget(datasets[0], None, datasets[0].name))
            self.query_one(DatasetTree).move_to_target(self.target)

    async def _dataset_changed(self, fresh: dataset_repo.Dataset | None) -> None:
        """The open dataset's row may have changed (its target, a rescan's orphan captions): take the new one,
        and redraw the title and the open image's bucket line."""
        target = self.target
        if fresh is None or target is None:
            return
        retargeted = fresh.target != target.dataset.target
        self.target = TreeTarget(fresh, target.subset_id, target.label)
        self.orphans = await self.store.read(dataset_repo.orphan_captions, fresh.id)
        await self._read_caption_sets()
        self._title_editor()
        self._update_list_title()
        if retargeted and self.loaded is not None:
            row = await self.store.run(image_repo.image_detail, self.loaded.image_id)
            if row is not None:
                self._show_info(row)

    def _queue_refresh(self, ids: set[int] | None) -> None:
        pending = self._pending_refresh
        if pending is _NOTHING:
            self._pending_refresh = None if ids is None else set(ids)
        elif pending is not None:
            self._pending_refresh = None if ids is None else pending | ids
        if not self._refreshing:
            self._refresh_worker()

    @work(group="refresh-images")
    async def _refresh_worker(self) -> None:
        self._refreshing = True
        try:
            while self._pending_refresh is not _NOTHING:
                ids, self._pending_refresh = self._pending_refresh, _NOTHING
                await self._refresh_images(ids)
        finally:
            self._refreshing = False

    async def _refresh_images(self, ids: set[int] | None) -> None:
        """Bring the list rows, the open caption and the vocabulary up to date after images `ids` (None: any)
        of the open dataset changed."""
        target = self.target
        if target is None:
            return
        image_list = self.image_list
        partial = ids is not None and len(ids) <= PARTIAL_REFRESH_MAX and ids <= set(image_list.rows.ids)
        if partial:
            fresh = await self.store.run(image_repo.list_rows, target.dataset.id, target.subset_id, None, ids)
            partial = len(fresh) == len(ids)
            if partial:
                for index, image_id in enumerate(fresh.ids):
                    image_list.update_row(image_id, tag_count=fresh.tag_counts[index], flags=fresh.flags[index],
                                          bucket=fresh.buckets[index])
                if self.filter_text:
                    image_list.set_filter(await self._filter_ids(target.dataset.id, self.filter_text))
        if not partial:
            rows = await self.store.read(image_repo.list_rows, target.dataset.id, target.subset_id)
            keep = await self._filter_ids(target.dataset.id, self.filter_text) if self.filter_text else None
            if not _same_view(self.target, target):
                return  # another dataset or subset was opened meanwhile (it loaded its own rows)
            image_list.set_rows(rows, keep, image_list.highlighted_id, center=False)
            if not image_list.count:
                self._show_nothing()
        self._update_list_title()
        loaded = self.loaded
        if loaded is not None and (ids is None or loaded.image_id in ids):
            await self._show_pair(loaded.image_id, same_image=True)  # its control images may have changed
            await self._caption_changed(loaded)
        if ids is None or not ids <= self._own_saves:
            self._schedule_vocabulary()
        self._own_saves -= ids if ids is not None else set(self._own_saves)

    async def _caption_changed(self, loaded: LoadedCaption) -> None:
        """The open caption's image changed: reload it when the file changed, or ask while it is being edited."""
        caption = await asyncio.to_thread(read_caption, loaded.path)
        mtime = caption.mtime_ns if caption is not None else None
        if mtime == loaded.mtime_ns or self.loaded is not loaded:
            return  # the editor shows what is on disk (a save from this screen, or another image's change)
        if not self.dirty:
            await self.load_image(loaded.image_id)
            self.editor.border_subtitle = Text("reloaded: changed on disk", style="italic")
            return
        if self._asked_about == (loaded.image_id, mtime):
            return
        self._asked_about = (loaded.image_id, mtime)
        disk_text = caption.text if caption is not None and caption.text is not None else ""
        question = (f"The caption of {loaded.rel_path} changed on disk while you were editing it (a batch "
                    "operation, a tagger or another program wrote it).\nKeep your edit (saving replaces the new "
                    "text) or load the new text (your edit is dropped)?")

        async def answered(keep: bool | None) -> None:
            if self.loaded is not loaded:
                return
            if keep:
                loaded.text, loaded.mtime_ns = disk_text, mtime
                loaded.sha256 = caption.sha256 if caption is not None else None
                self._title_editor()
            else:
                await self.load_image(loaded.image_id)

        self.app.push_screen(ConfirmScreen("Caption changed on disk", question, yes="Keep my edit",
                                           no="Load new text"), answered)

    def _schedule_vocabulary(self) -> None:
        if self._vocabulary_timer is not None:
            self._vocabulary_timer.stop()
        self._vocabulary_timer = self.set_timer(VOCABULARY_DEBOUNCE_S, self._vocabulary_worker)

    @work(exclusive=True, group="vocabulary")
    async def _vocabulary_worker(self) -> None:
        self._vocabulary_timer = None
        dataset = self.dataset
        if dataset is None:
            return
        caption_set = self.caption_set
        vocabulary = await self.store.read(caption_set_repo.images_per_tag, dataset.id, None, caption_set)
        if self.dataset is dataset and self.caption_set == caption_set:
            self.vocabulary = vocabulary
            self._vocabulary_changed()

    # -- the highlighted image ----------------------------------------------------------------------------

    async def on_image_list_highlighted(self, event: ImageList.Highlighted) -> None:
        if event.image_id != self.image_list.highlighted_id:
            return  # the cursor has moved on already; only the newest position matters
        if self.loaded is not None and self.loaded.image_id == event.image_id and not self.load_pending:
            return  # the same image again (the list was refreshed): keep the editor as it is
        now = time.monotonic()
        moving = now - self._last_highlight < LOAD_SETTLE_S
        self._last_highlight = now
        self._cancel_pending_load()
        self._request_preview(event.index)  # first: decoding starts while the caption loads
        await self.save_current()
        if event.image_id != self.image_list.highlighted_id:
            return
        if moving and not self.editor.has_focus:
            # A held key: only the list repaints per row; the caption, tags and preview follow once the cursor
            # rests. In the editor every image loads at once, so typing never lands on the previous caption.
            self._load_timer = self.set_timer(LOAD_SETTLE_S, self._load_after_rest)
            return
        await self.load_image(event.image_id)

    def _request_preview(self, index: int) -> None:
        """Ask for the preview of the image at list position `index`, and to decode its neighbours next."""
        image_list = self.image_list
        rows, view = image_list.rows, image_list.view
        preview = self.query_one(ImagePreview)
        if self.dataset is None or not 0 <= index < len(view):
            preview.show(None)
            return
        row = view[index]
        if rows.flags[row] & FLAG_BROKEN:
            preview.show(None, note="Broken image")
            return
        # People step through images in order: decode the next two (and the previous one) while idle.
        neighbours = [view[i] for i in (index + 1, index + 2, index - 1) if 0 <= i < len(view)]
        prefetch = [(self.dataset.path / rows.names[r], rows.mtimes[r], rows.ids[r]) for r in neighbours
                    if not rows.flags[r] & FLAG_BROKEN]
        preview.show(self.dataset.path / rows.names[row], rows.mtimes[row], prefetch=prefetch, image_id=rows.ids[row])
        self.query_one(PairPreview).pending()

    @property
    def load_pending(self) -> bool:
        """True while the highlighted image's caption waits for the cursor to rest."""
        return self._load_timer is not None

    def _cancel_pending_load(self) -> None:
        if self._load_timer is not None:
            self._load_timer.stop()
            self._load_timer = None

    def _load_after_rest(self) -> None:
        self._load_timer = None
        image_id = self.image_list.highlighted_id
        if image_id is not None:
            self._load_worker(image_id)

    @work(exclusive=True, group="load")
    async def _load_worker(self, image_id: int) -> None:
        if image_id == self.image_list.highlighted_id and not self.load_pending:
            await self.load_image(image_id)

    async def flush_pending_load(self) -> None:
        """Load the highlighted image now if its load was waiting for the cursor to rest."""
        if self._load_timer is not None:
            self._cancel_pending_load()
            image_id = self.image_list.highlighted_id
            if image_id is not None:
                await self.load_image(image_id)

    async def load_image(self, image_id: int) -> None:
        """Load an image's caption (from its file, the source of truth) into the editor and show its preview."""
        dataset = self.dataset
        row = await self.store.run(image_repo.image_detail, image_id)
        if dataset is None or row is None:
            self._show_nothing()
            return
        image_path = dataset.path / row["rel_path"]
        caption_set = self.caption_set
        caption_path = caption_path_for(image_path, caption_sets.set_ext(dataset, caption_set))
        caption = read_caption(caption_path)
        editable = not (caption is not None and caption.text is None)
        text = caption.text if caption is not None and caption.text is not None else ""
        self.loaded = LoadedCaption(image_id, row["rel_path"], caption_path, text,
                                    caption.mtime_ns if caption else None, editable, caption.sha256 if caption else None,
                                    caption_set)
        editor = self.editor
        editor.load_text(text)
        editor.set_editable(editable)
        if editor.has_focus:
            editor.move_cursor(editor.document.end)
        stored_warning = row["caption_warning"] if caption_set is None else None  # the set's own: read just now
        notes = [w for w in (caption.warning if caption else None, stored_warning) if w]
        editor.border_subtitle = Text(notes[0]) if notes else Text("no caption file" if caption is None else "")
        preview = self.query_one(ImagePreview)
        if row["status"] == "broken":
            preview.show(None, note=f"Broken: {row['reason'] or 'unreadable'}")
        else:
            # Already requested on highlight: a no-op unless something changed.
            preview.show(image_path, row["mtime_ns"], image_id=row["id"])
        self._show_info(row)
        self._show_tags(text)
        await self._show_pair(image_id)
        self._title_editor()

    def _show_info(self, row) -> None:
        """The line above the preview: name, size, format and the bucket at the dataset's target."""
        # Name and size live in their own line: retitling the preview would repaint all of its cells.
        info = Text(no_wrap=True, overflow="ellipsis")
        info.append(literal(row["rel_path"].rsplit("/", 1)[-1]), style="bold")  # the folder shows in the list
        if row["status"] == "broken":
            info.append("  broken", style="red")
        else:
            size = f"{row['width']}x{row['height']}" if row["width"] else "?"
            target = self.dataset.target if self.dataset is not None else None
            at = target.label if target is not None else "1024 default"
            info.append(f"  {size} {row['format'] or ''} → {row['bucket'] or '?'} @{at}", style="dim")
        self.query_one("#preview-info", Static).update(info, layout=False)

    async def _show_pair(self, image_id: int, same_image: bool = False) -> None:
        """Show the image's control images beside it when it is half of an edit-model pair."""
        pair, controls = await self.store.read(pair_repo.target_pair, image_id)
        if self.loaded is not None and self.loaded.image_id == image_id:
            self.query_one(PairPreview).show_pair(pair, controls, same_image=same_image)

    def _title_editor(self) -> None:
        """'Caption' or, in an edit-model dataset, 'Instruction' (what the caption of a pair says to do); '*' while
        edited."""
        label = "Instruction" if self.edit_pairs else "Caption"
        if len(self.caption_set_exts) > 1 and self.dataset is not None:
            ext = caption_sets.set_ext(self.dataset, self.caption_set)
            position = self.caption_set_exts.index(ext) + 1 if ext in self.caption_set_exts else 1
            label += f" {ext} [{position}/{len(self.caption_set_exts)} ^O]"
        self.editor.border_title = f"{label} *" if self.loaded is not None and self.dirty else label

    def action_next_control(self) -> None:
        """Show the next control image of the shown pair."""
        if not self.query_one(PairPreview).next_control():
            self.notify("This image has no other control image", timeout=2)

    def action_pair_problems(self) -> None:
        """List the open dataset's pair problems; choosing one shows its image."""
        if self.dataset is None:
            return

        def chosen(path: str | None) -> None:
            if path:
                self._select_path(path)

        self.app.push_screen(PairProblemsScreen(self.dataset), chosen)

    def _select_path(self, rel_path: str) -> None:
        """Move the list's cursor to the image at `rel_path`, if the list shows it."""
        image_list = self.image_list
        try:
            row = image_list.rows.names.index(rel_path)
        except ValueError:
            self.notify(f"{literal(rel_path)} is not in the list (open its dataset without a filter)", timeout=3,
                        markup=False)
            return
        if row in image_list.view:
            image_list.move_to(image_list.view.index(row), scroll_center=True)

    def _show_nothing(self) -> None:
        self.loaded = None
        self.editor.load_text("")
        self.editor.set_editable(False)
        self.query_one("#preview-info", Static).update("", layout=False)
        self.query_one(ImagePreview).show(None)
        self.query_one(PairPreview).clear()
        self._show_tags("")

    def _show_tags(self, text: str) -> None:
        self.query_one(TagPanel).show_tags(parse_tags(text), self.vocabulary)

    def on_text_area_changed(self, event) -> None:
        if self.loaded is not None:
            self._show_tags(self.editor.text)
            self._title_editor()

    def on_caption_editor_suggestions_changed(self, event: CaptionEditor.SuggestionsChanged) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if event.suggestions:
            text.append("ctrl+t ", style="bold")
            for index, (tag, count) in enumerate(event.suggestions):
                if index:
                    text.append(" · ", style="dim")
                text.append(literal(tag))
                text.append(f" {count}", style="dim")
        self.query_one("#suggestions", Static).update(text, layout=False)

    # -- saving -------------------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """True when the editor holds text that differs from the caption as loaded."""
        return self.loaded is not None and self.loaded.editable and self.editor.text != self.loaded.text

    def pending_edit(self) -> UnsavedEdit | None:
        """The edit not on disk yet (for saving on exit, or keeping aside when it cannot), or None.

        That is the editor's text when it changed, or the edit an open "overwrite?" dialog is about.
        """
        if self._asking is not None:
            return self._asking
        if not self.dirty or self.dataset is None:
            return None
        return self._unsaved(self.loaded, self.editor.text)

    def _unsaved(self, loaded: LoadedCaption, text: str) -> UnsavedEdit:
        dataset = self.dataset
        return UnsavedEdit(dataset.name, journal.caption_rel(dataset, loaded.rel_path, loaded.caption_set),
                           loaded.path, text, loaded.mtime_ns)

    async def save_current(self) -> bool:
        """Save the editor's caption if it changed. False when it could not be saved (yet)."""
        loaded = self.loaded
        if loaded is None or not self.dirty or self.dataset is None:
            return True
        return await self._save(loaded, self.editor.text, force=False)

    async def _save(self, loaded: LoadedCaption, text: str, *, force: bool) -> bool:
        dataset = self.dataset
        try:
            # Another writer of this dataset (a batch operation, a tagger) finishes first; say so while waiting.
            with writelock.wait_policy(on_wait=lambda line: self.notify(line, title="Saving caption")):
                result = await journal.save_caption(self.store, dataset, loaded.image_id, text,
                                                    expected_sha256=loaded.sha256, force=force,
                                                    caption_set=loaded.caption_set)
        except ConflictError:
            self._ask_overwrite(loaded, text)
            return False
        except (LoratuiError, OSError) as exc:
            report_error(self, exc)
            return False
        if result.operation_id is not None:
            self._own_saves.add(loaded.image_id)
        try:
            mtime_ns: int | None = os.stat(loaded.path).st_mtime_ns
        except FileNotFoundError:
            mtime_ns = None
        old_tags = set(parse_tags(loaded.text))
        new_tags = parse_tags(text)
        loaded.text = text
        loaded.mtime_ns = mtime_ns
        loaded.sha256 = result.sha256.get(loaded.image_id, loaded.sha256)
        if loaded.caption_set == self.caption_set:  # the vocabulary is the current set's
            for tag in old_tags - set(new_tags):
                self.vocabulary[tag] = max(0, self.vocabulary.get(tag, 0) - 1)
            for tag in set(new_tags) - old_tags:
                self.vocabulary[tag] = self.vocabulary.get(tag, 0) + 1
            self._vocabulary_changed()
        row = self.image_list.rows.index_of(loaded.image_id)
        if row is not None and loaded.caption_set is None:  # the list's columns are the dataset's own set
            flags = self.image_list.rows.flags[row] | FLAG_EDITED
            flags = flags & ~FLAG_UNCAPTIONED if text.strip() else flags | FLAG_UNCAPTIONED
            self.image_list.update_row(loaded.image_id, tag_count=len(new_tags), flags=flags)
        if self.loaded is loaded:
            self._title_editor()
            self.editor.border_subtitle = Text(f"saved {time.strftime('%H:%M:%S')}")
        return True

    def _ask_overwrite(self, loaded: LoadedCaption, text: str) -> None:
        question = (f"The caption of {loaded.rel_path} changed on disk since it was loaded.\n"
                    "Overwrite it with your edit, or keep the version on disk (your edit is dropped)?")

        async def answered(overwrite: bool | None) -> None:
            self._asking = None
            if overwrite:
                await self._save(loaded, text, force=True)
            else:
                self.notify(f"Kept the caption on disk for {loaded.rel_path}")
                if self.loaded is loaded:
                    await self.load_image(loaded.image_id)

        # Until answered, treat the edit as pending so moving around does not ask again.
        if self.loaded is loaded:
            loaded.text = text
        self._asking = self._unsaved(loaded, text)  # save_current ran on this caption's dataset
        self.app.push_screen(ConfirmScreen("Caption changed on disk", question, yes="Overwrite",
                                           no="Keep disk version"), answered)

    def on_caption_editor_save_requested(self, _event: CaptionEditor.SaveRequested) -> None:
        self._save_worker()

    @work(group="save")
    async def _save_worker(self) -> None:
        await self.save_current()

    def on_caption_editor_step_requested(self, event: CaptionEditor.StepRequested) -> None:
        self.image_list.move_by(event.delta)

    def on_caption_editor_left(self, _event: CaptionEditor.Left) -> None:
        self.image_list.focus()
        self._save_worker()

    def on_caption_editor_editing_stopped(self, _event: CaptionEditor.EditingStopped) -> None:
        self._save_worker()

    def on_caption_editor_revert_requested(self, _event: CaptionEditor.RevertRequested) -> None:
        """Drop the changes since the caption was loaded or saved; the editor keeps them in its undo (Ctrl+Z)."""
        loaded, editor = self.loaded, self.editor
        if loaded is None or not self.dirty:
            self.notify("Nothing to discard: the caption is as saved")
            return
        editor.replace(loaded.text, editor.document.start, editor.document.end)
        editor.move_cursor(editor.document.end)
        self.notify("Edit discarded (Ctrl+Z brings it back)")

    async def on_caption_editor_edit_requested(self, _event: CaptionEditor.EditRequested) -> None:
        await self._start_editing()

    async def on_image_list_edit_requested(self, _event: ImageList.EditRequested) -> None:
        await self._start_editing()

    async def _start_editing(self) -> None:
        """Put the highlighted image's caption (reloaded when it changed on disk) into editing, with the focus."""
        await self.flush_pending_load()
        loaded = self.loaded
        if loaded is not None and not self.dirty:
            caption = read_caption(loaded.path)
            if (caption.mtime_ns if caption is not None else None) != loaded.mtime_ns:
                await self.load_image(loaded.image_id)  # edited outside loratui since it was shown
        if self.loaded is not None and self.loaded.editable and self.editor.start_editing():
            self.editor.move_cursor(self.editor.document.end)  # appending a tag is the common edit
            self.editor.focus()

    # -- filter -------------------------------------------------------------------------------------------

    def action_filter(self) -> None:
        filter_input = self.query_one(FilterInput)
        filter_input.add_class("-shown")
        filter_input.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DEBOUNCE_S, lambda: self.apply_filter(event.value))

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self.apply_filter(event.value)
        if not event.value.strip():
            self.query_one(FilterInput).remove_class("-shown")
        self.image_list.focus()

    def on_filter_input_cleared(self, _event: FilterInput.Cleared) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self.query_one(FilterInput).remove_class("-shown")
        self.apply_filter("")
        self.image_list.focus()

    async def _filter_ids(self, dataset_id: int, text: str) -> set[int] | None:
        """Ids matching the filter; a query that does not parse is reported and filters nothing out."""
        try:
            return await self.store.read(caption_set_repo.filter_ids, dataset_id, text, self.caption_set)
        except QueryError as exc:
            report_error(self, exc)
            return None

    @work(exclusive=True, group="filter")
    async def apply_filter(self, text: str) -> None:
        """Show only images matching `text`: words in the file name, caption or tags, or a query
        (``tag:red hair -tag:solo``, ``w<512``, ``no:caption``, AND/OR/NOT; see docs/tagops.md)."""
        text = text.strip()
        try:
            keep = (await self.store.read(caption_set_repo.filter_ids, self.dataset.id, text, self.caption_set)
                    if self.dataset else None)
        except QueryError as exc:
            report_error(self, exc)
            return
        self.filter_text = text
        filter_input = self.query_one(FilterInput)
        if filter_input.value.strip() != text:  # set from elsewhere (e.g. the tag frequency screen)
            filter_input.value = text
            filter_input.set_class(bool(text), "-shown")
        if self.dataset is None:
            return
        if keep is not None and self.target.subset_id is None and len(keep) == len(self.image_list.rows):
            keep = None
        self.image_list.empty_message = "No matches" if text else "No images"
        self.image_list.set_filter(keep)
        self._update_list_title()
        if not self.image_list.count:
            await self.save_current()
            self._show_nothing()

    # -- caption sets -------------------------------------------------------------------------------------

    async def _read_caption_sets(self) -> None:
        """Read the open dataset's caption sets (a scan or `captions sets --add` may have added one)."""
        dataset = self.dataset
        if dataset is None:
            self.caption_set_exts = []
            return
        self.caption_set_exts = [dataset.caption_ext, *await self.store.read(caption_set_repo.set_exts, dataset.id)]
        if self.caption_set is not None and self.caption_set not in self.caption_set_exts:
            self.caption_set = None

    def action_next_caption_set(self) -> None:
        """Switch the editor, filter, vocabulary and tag frequency to the dataset's next caption set."""
        self._caption_set_worker()

    @work(exclusive=True, group="caption-set")
    async def _caption_set_worker(self) -> None:
        await self.switch_caption_set()

    async def switch_caption_set(self, ext: str | None = None) -> None:
        """Work on the caption set `ext` (default: the next one after the current, round the list); the edit in
        the editor is saved first."""
        dataset = self.dataset
        if dataset is None:
            return
        if not await self.save_current():
            return  # the edit could not be saved (a dialog asks): stay on its set
        await self._read_caption_sets()
        exts = self.caption_set_exts
        if len(exts) < 2:
            self.notify(f"{dataset.name} has one caption set ({dataset.caption_ext}); add another with "
                        f"`loratui captions sets {dataset.name} --add .caption`", timeout=4, markup=False)
            return
        current = caption_sets.set_ext(dataset, self.caption_set)
        if ext is None:
            ext = exts[(exts.index(current) + 1) % len(exts)] if current in exts else exts[0]
        self.caption_set = caption_sets.set_key(dataset, ext)
        self.vocabulary = await self.store.read(caption_set_repo.images_per_tag, dataset.id, None, self.caption_set)
        self._vocabulary_changed()
        if self.filter_text:
            self.image_list.set_filter(await self._filter_ids(dataset.id, self.filter_text))
            self._update_list_title()
        image_id = self.image_list.highlighted_id
        if image_id is not None:
            await self.load_image(image_id)
        self._title_editor()
        self.notify(f"Captions: {ext}", timeout=2, markup=False)

    # -- panels, datasets ---------------------------------------------------------------------------------

    def action_toggle_tree(self) -> None:
        visible = self.query_one(DatasetTree).display
        self.tree_visible = not visible
        self.set_class(self.tree_visible, "-tree-shown")
        self.set_class(not self.tree_visible, "-tree-hidden")
        if self.tree_visible:
            self.query_one(DatasetTree).focus()
        elif self.focused is self.query_one(DatasetTree) or self.focused is None:
            self.image_list.focus()

    def action_add_dataset(self, value: str = "", error: str | None = None) -> None:
        """Ask for a folder (the dialog checks it), then add and scan it; a failure asks again with the text."""
        def added(path: str | None) -> None:
            if path:
                self._add_worker(path)

        caption_ext = self.app.ctx.settings.general.caption_ext
        self.app.push_screen(AddDatasetScreen(value, error, caption_ext=caption_ext), added)

    @work(exclusive=True, group="dataset")
    async def _add_worker(self, path: str) -> None:
        settings = self.app.ctx.settings.general
        self.notify(f"Scanning {path}…")
        try:
            dataset, report = await add_dataset(self.store, path, workspace=settings.default_workspace,
                                                caption_ext=settings.caption_ext, workers=settings.scan_workers)
        except LoratuiError as exc:
            self.action_add_dataset(path, exc.one_line())  # nothing was registered: correct it and try again
            return
        self.notify(f"Added {dataset.name}: {report.summary() if report else ''}", markup=False)
        target = TreeTarget(dataset, None, dataset.name)
        await self.open_target(target)
        await self.reload_tree()

    def action_dataset_info(self) -> None:
        """What the open dataset is prepared for, and its caption files that have no image."""
        if self.dataset is None:
            self.notify("No dataset open", severity="warning")
            return
        self.app.push_screen(DatasetInfoScreen(self.dataset, self.orphans))

    def action_cancel_job(self) -> None:
        """Cancel the only running job, or pick one in the jobs strip (the strip asks before cancelling)."""
        self.query_one(JobsStrip).cancel_from_anywhere()

    def on_jobs_strip_cancel_requested(self, event: JobsStrip.CancelRequested) -> None:
        job = event.job
        what = f"#{job.id} {job.kind}" + (f" {job.title}" if job.title else "")
        kept = ("captions written so far are kept; running it again resumes" if job.kind in ("tag", "caption")
                else "what it finished is kept")
        question = f"Cancel job {what} ({job.status.value})?\n{kept.capitalize()}."

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel_job_worker(job)

        self.app.push_screen(ConfirmScreen("Cancel job", question, yes="Cancel job", no="Keep running"), answered)

    @work(group="cancel-job")
    async def _cancel_job_worker(self, job: Job) -> None:
        if job.kind == "train" and job.status != JobStatus.QUEUED:
            # Imported here: launch loads the planner (~130 ms), which the app's start does without.
            from loratui.training.run.launch import cancel_training

            self.notify(f"Stopping job #{job.id}…")
            job = await cancel_training(self.store, self.app.ctx, job.id)
        else:
            job = await self.store.run(jobs_repo.request_cancel, job.id)
        self.notify(f"Job #{job.id} cancelled" if job.terminal else f"Asked job #{job.id} to stop")

    def action_rescan(self) -> None:
        if self.dataset is None:
            self.notify("No dataset open", severity="warning")
            return
        self._rescan_worker()

    @work(exclusive=True, group="dataset")
    async def _rescan_worker(self) -> None:
        target = self.target
        await self.save_current()
        report = await rescan_dataset(self.store, target.dataset.name,
                                      workers=self.app.ctx.settings.general.scan_workers)
        self.notify(report.summary(), title=f"Rescanned {target.dataset.name}", markup=False)
        # Files changed outside loratui were picked up by the scan; its changes refresh the list and the
        # caption. The tree is read again here too, for datasets added or removed by other processes.
        await self.reload_tree()
