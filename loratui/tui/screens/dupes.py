"""Duplicate review: exact and near-duplicate groups with previews side by side; move the chosen ones away.

Opened with `D` (ScreenAction ``dupes.open``). The left list holds the groups; the right side shows the
highlighted group's images side by side with their size, file size and phash distance. `1`-`9` choose an
image for moving, `a` chooses all but the first of the group, `m` moves every chosen image (with its caption)
to ``_duplicates/`` inside the dataset after a confirmation — nothing is deleted, and `u` (or
`loratui tags NAME undo`) moves them back. `+`/`-` change the near-duplicate distance.
"""

from __future__ import annotations

import asyncio

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from loratui.datasets import history
from loratui.datasets.dedupe import DEFAULT_MAX_DISTANCE, MAX_DISTANCE_LIMIT, DupeGroup, find_duplicates
from loratui.datasets.journal import move_images
from loratui.datasets.image_repo import ThumbnailReader
from loratui.store.changes import ChangeSet
from loratui.text import literal
from loratui.tui.extensions import ScreenAction
from loratui.tui.screens.tagops_dialogs import TCSS, ConfirmDialog, offer_recovery
from loratui.tui.widgets.halfblock import HalfBlockImage
from loratui.tui.widgets.image_list import shorten_path
from loratui.tui.widgets.key_footer import KeyFooter
from loratui.tui.workers import work


def human_bytes(size: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


CARD_MIN_WIDTH = 19
"""Narrowest card (columns): three fit beside the group list at 80 columns; caption lines are cut with …,
never broken mid-word."""


def card_text(number: int, image, chosen: bool, width: int) -> Group:
    """A card's caption, one fact a line, each cut to `width` with … (a narrow card never breaks a word)."""
    name = Text(f"{number} ", style="bold reverse")
    name.append(shorten_path(literal(image.rel_path), max(4, width - 2)), style="bold")
    lines = [name, Text(f"{image.width}x{image.height}"), Text(human_bytes(image.size)),
             Text(f"distance {image.distance}")]
    if chosen:
        lines.append(Text("will move to _duplicates/", style="bold red"))
    for line in lines:
        line.no_wrap = True
        line.overflow = "ellipsis"
    return Group(*lines)


class DupesScreen(Screen):
    """Review duplicate groups and move the chosen images to _duplicates/ (journaled, undoable)."""

    HELP_SECTION = "duplicates"

    CSS_PATH = TCSS
    HELP_NOTES = ["Left: the groups (exact: the same file content; near: perceptual hashes that differ in at most "
                  "the distance's number of bits). Right: the group's images, numbered for 1-9, with their "
                  "size, file size and distance to the first."]
    HELP_KEYS = [("↑, ↓", "Choose a group (in the group list)")]
    BINDINGS = [
        Binding("escape", "back", "Back", id="dupes.back"),
        *[Binding(str(n), f"choose({n})", f"Choose image {n}" if n > 1 else "Choose", id=f"dupes.choose_{n}",
                  show=n == 1, key_display="1-9" if n == 1 else None) for n in range(1, 10)],
        Binding("a", "choose_rest", "All but first", id="dupes.choose_rest"),
        Binding("m", "move", "Move chosen", id="dupes.move"),
        Binding("u", "undo", "Undo", id="dupes.undo"),
        Binding("plus", "distance(1)", "Distance +", id="dupes.distance_up"),
        Binding("minus", "distance(-1)", "Distance -", id="dupes.distance_down"),
    ]

    def __init__(self, store, dataset, max_distance: int = DEFAULT_MAX_DISTANCE) -> None:
        super().__init__()
        self.store, self.dataset, self.max_distance = store, dataset, max_distance
        self.groups: list[DupeGroup] = []
        self.chosen: set[int] = set()
        self.current = 0
        self._drawing = asyncio.Lock()
        self.thumbnails = ThumbnailReader(store.path)
        """Stored preview thumbnails: the cards draw from them when they are current, else decode the file."""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield OptionList(id="dupes-groups")
            with VerticalScroll(id="dupes-members"):
                yield Horizontal(id="dupes-cards")
        yield Static(id="dupes-status")
        yield KeyFooter()

    async def on_mount(self) -> None:
        self.sub_title = self.dataset.name
        self.query_one("#dupes-groups", OptionList).focus()
        await self.reload()
        self.check_interrupted()

    def on_unmount(self) -> None:
        self.thumbnails.close()

    @work(exclusive=True, group="dupes-op")
    async def check_interrupted(self) -> None:
        """Offer to finish or roll back operations a crash interrupted."""
        if await offer_recovery(self.app, self.store, self.dataset):
            await self.reload()

    async def reload(self) -> None:
        """Compute the groups again and redraw."""
        self.groups = await find_duplicates(self.store, self.dataset, self.max_distance)
        present = {i.id for g in self.groups for i in g.images}
        self.chosen &= present
        options = self.query_one("#dupes-groups", OptionList)
        options.clear_options()
        options.add_options([Option(self._group_label(n, g), id=str(n)) for n, g in enumerate(self.groups)])
        self.current = min(self.current, max(len(self.groups) - 1, 0))
        if self.groups:
            options.highlighted = self.current
        await self.show_group(self.current)
        self._update_status()

    def apply_changes(self, changes: ChangeSet) -> None:
        """Images of this dataset were added, moved or removed (here or elsewhere): group them again."""
        if changes.full or (changes.touches_images(self.dataset.id) and changes.whats & {"scanned", "removed"}):
            self._reload_worker()

    @work(exclusive=True, group="dupes-reload")
    async def _reload_worker(self) -> None:
        await self.reload()

    def _group_label(self, number: int, group: DupeGroup) -> Text:
        chosen = sum(1 for i in group.images if i.id in self.chosen)
        label = Text(f"{number + 1:>2} {group.kind:<5} {len(group.images)} images")
        if chosen:
            label.append(f"  {chosen} chosen", style="bold red")
        return label

    def _update_status(self) -> None:
        exact = sum(1 for g in self.groups if g.kind == "exact")
        self.query_one("#dupes-status", Static).update(Text(
            f"{exact} exact + {len(self.groups) - exact} near groups (within {self.max_distance} bits); "
            f"{len(self.chosen)} images chosen"))

    async def show_group(self, index: int) -> None:
        """Draw the cards of group `index` side by side (one drawing at a time)."""
        async with self._drawing:
            await self._draw(index)

    async def _draw(self, index: int) -> None:
        cards = self.query_one("#dupes-cards", Horizontal)
        await cards.remove_children()
        if not self.groups:
            await cards.mount(Static(Text("No duplicates found.")))
            return
        self.current = index
        group = self.groups[index]
        shown = group.images[:9]
        columns = self._columns(len(shown))
        cards.styles.grid_size_columns = columns
        text_width = max(8, self.query_one("#dupes-members").size.width // columns - 6)  # border, padding, scrollbar
        widgets = []
        for number, image in enumerate(shown, 1):
            card = Vertical(classes=f"dupe-card card-{number}" + (" -chosen" if image.id in self.chosen else ""))
            preview = HalfBlockImage(self.dataset.path / image.rel_path, image_id=image.id,
                                     thumbnails=self.thumbnails, root=self.dataset.path, classes="dupe-preview")
            widgets.append((card, [preview, Static(card_text(number, image, image.id in self.chosen, text_width),
                                                   classes="dupe-caption")]))
        for card, children in widgets:
            await cards.mount(card)
            await card.mount(*children)

    def _columns(self, count: int) -> int:
        """Cards side by side: as many as fit CARD_MIN_WIDTH columns each (the rest wrap to a new row)."""
        width = self.query_one("#dupes-members").size.width or self.app.size.width
        return max(1, min(count, width // CARD_MIN_WIDTH))

    async def on_resize(self) -> None:
        if self.groups and self.query(".dupe-card"):
            await self.show_group(self.current)

    async def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index != self.current or not self.query(".card-1"):
            await self.show_group(event.option_index)

    def _refresh_labels(self) -> None:
        options = self.query_one("#dupes-groups", OptionList)
        for number, group in enumerate(self.groups):
            options.replace_option_prompt_at_index(number, self._group_label(number, group))
        self._update_status()

    async def action_choose(self, number: int) -> None:
        if not self.groups or number > len(self.groups[self.current].images):
            return
        image = self.groups[self.current].images[number - 1]
        self.chosen ^= {image.id}
        self._refresh_labels()
        await self.show_group(self.current)

    async def action_choose_rest(self) -> None:
        if not self.groups:
            return
        group = self.groups[self.current]
        self.chosen -= {group.images[0].id}
        self.chosen |= {i.id for i in group.images[1:]}
        self._refresh_labels()
        await self.show_group(self.current)

    async def action_distance(self, delta: int) -> None:
        self.max_distance = max(0, min(MAX_DISTANCE_LIMIT, self.max_distance + delta))
        await self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    @work(exclusive=True, group="dupes-op")
    async def action_move(self) -> None:
        if not self.chosen:
            self.notify("Choose images first (1-9, or a for all but the first).")
            return
        paths = sorted(i.rel_path for g in self.groups for i in g.images if i.id in self.chosen)
        body = "\n".join(dict.fromkeys(paths))
        if not await self.app.push_screen_wait(ConfirmDialog(
                f"Move {len(set(paths))} images (and their captions) to _duplicates/? Undo moves them back.", body)):
            return
        result = await move_images(self.store, self.dataset, sorted(self.chosen))
        self.chosen.clear()
        if result.skipped:
            self.notify("; ".join(f"{p}: {r}" for p, r in result.skipped[:3]), severity="warning", markup=False)
        self.notify(f"Moved {result.changed} files to _duplicates/ (u undoes)")

    @work(exclusive=True, group="dupes-op")
    async def action_undo(self) -> None:
        result = await history.undo(self.store, self.dataset)
        self.notify(f"Undid {result.description}: {result.changed} files", markup=False)


def open_dupes(app) -> Screen | None:
    """ScreenAction factory: duplicate review of the open dataset."""
    dataset = getattr(app, "current_dataset", None)
    if dataset is None or getattr(app, "store", None) is None:
        app.notify("Open a dataset first.", severity="warning")
        return None
    settings = getattr(getattr(app, "ctx", None), "settings", None)
    tools = getattr(settings, "dataset_tools", None)
    distance = tools.dupe_max_distance if tools is not None else DEFAULT_MAX_DISTANCE
    return DupesScreen(app.store, dataset, distance)


ACTIONS = [ScreenAction(id="dupes.open", key="D", description="Duplicates", factory=open_dupes)]
