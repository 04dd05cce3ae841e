"""The tag frequency and duplicates screens, driven by keyboard in Pilot inside a small host app."""

from __future__ import annotations

import contextlib

from textual.app import App
from textual.binding import Binding
from textual.widgets import DataTable, OptionList

from loratui.datasets.service import add_dataset, get_dataset
from loratui.store import Store
from loratui.tui.screens import dupes as dupes_screen
from loratui.tui.screens import tagfreq
from loratui.tui.screens.tagops_dialogs import ConfirmDialog, OperationPreviewDialog, TagPromptDialog
from loratui.tui.refresh import ChangeFeed
from loratui.tui.textual_compat import add_binding
from loratui.tui.widgets.halfblock import HalfBlockImage

from .conftest import CAPTIONS, caption
from .test_dupes_export import _noise
from tests.dbutil import row as db_row


class MainStandIn:
    """Stands in for the real main screen's `apply_filter(text)` (the interface the tag screen calls)."""

    def __init__(self) -> None:
        self.filters: list[str] = []

    async def apply_filter(self, text: str) -> None:
        self.filters.append(text)


class HostApp(App):
    """What the real app gives ScreenActions: an open store, the current dataset, a key per action."""

    def __init__(self, db_path, name: str) -> None:
        super().__init__()
        self.db_path, self.name_ = db_path, name
        self.store = None
        self.current_dataset = None
        self.main_screen = MainStandIn()
        self._stack = contextlib.AsyncExitStack()
        self.actions = tagfreq.ACTIONS + dupes_screen.ACTIONS

    async def on_load(self) -> None:
        self.store = await self._stack.enter_async_context(Store.open(self.db_path))
        self.current_dataset = await get_dataset(self.store, self.name_)

    async def on_mount(self) -> None:
        self.change_feed = ChangeFeed(self)  # as in LoratuiApp: database changes reach the screens
        await self.change_feed.start()
        for action in self.actions:
            add_binding(self, Binding(action.key, f"open_screen({action.id!r})", action.description, id=action.id))

    async def on_unmount(self) -> None:
        await self._stack.aclose()

    def action_open_screen(self, action_id: str) -> None:
        action = next(a for a in self.actions if a.id == action_id)
        screen = action.factory(self)
        if screen is not None:
            self.push_screen(screen)


async def _wait_for(pilot, condition, tries: int = 200):
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def _register(db_path, folder, name):
    async with Store.open(db_path) as store:
        await add_dataset(store, folder, name=name, workers=1)


async def test_tag_table_sort_filter_rename_delete_undo_pick(db_path, dataset_dir):
    await _register(db_path, dataset_dir, "ds")
    app = HostApp(db_path, "ds")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("F")
        await _wait_for(pilot, lambda: isinstance(app.screen, tagfreq.TagFrequencyScreen)
                        and app.screen.table.row_count > 0)
        screen = app.screen
        table = screen.query_one(DataTable)
        assert screen.highlighted_tag() == "solo"  # most common first
        await pilot.press("s")
        assert [t for t, _ in screen.visible_tags()][:2] == ["1girl", "2girls"]
        await pilot.press("slash", "h", "a", "i", "r", "enter")
        assert [t for t, _ in screen.visible_tags()] == ["blue hair", "red hair"]
        assert table.row_count == 2

        # rename 'blue hair' (highlighted first) -> 'azure hair', with the preview dialog
        await pilot.press("r")
        await _wait_for(pilot, lambda: isinstance(app.screen, TagPromptDialog))
        await pilot.press(*["backspace"] * 20, *"azure hair", "enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, OperationPreviewDialog))
        assert "2 of 4 captions will change" in str(app.screen.query_one("#op-count").render())
        assert "+azure hair" in str(app.screen.query_one("#op-sample-text").render())
        await pilot.press("y")
        await _wait_for(pilot, lambda: caption(dataset_dir, "10_char/b.png").startswith("1girl, solo, azure hair"))
        await _wait_for(pilot, lambda: "azure hair" in screen.counts)

        # delete, cancelled: nothing changes; then confirmed
        await pilot.press("slash", *["backspace"] * 4, "enter")  # clear the filter, back to the table
        await _wait_for(pilot, lambda: table.row_count == len(screen.counts))
        table.move_cursor(row=table.get_row_index("smile"))
        await pilot.press("x")
        await _wait_for(pilot, lambda: isinstance(app.screen, OperationPreviewDialog))
        await pilot.press("n")
        await _wait_for(pilot, lambda: app.screen is screen)
        assert caption(dataset_dir, "10_char/a.png") == CAPTIONS["10_char/a.png"]
        await pilot.press("x")
        await _wait_for(pilot, lambda: isinstance(app.screen, OperationPreviewDialog))
        await pilot.press("y")
        await _wait_for(pilot, lambda: caption(dataset_dir, "10_char/a.png") == "1girl, solo, red hair")

        # undo twice: back to the original captions
        await pilot.press("u")
        await _wait_for(pilot, lambda: caption(dataset_dir, "10_char/a.png") == CAPTIONS["10_char/a.png"])
        await pilot.press("u")
        await _wait_for(pilot, lambda: caption(dataset_dir, "10_char/b.png") == CAPTIONS["10_char/b.png"])
        await _wait_for(pilot, lambda: "azure hair" not in screen.counts)

        # Enter on a tag filters the main image list and closes the table
        table.move_cursor(row=table.get_row_index("red hair"))
        await pilot.press("enter")
        await _wait_for(pilot, lambda: app.main_screen.filters == ['tag:"red hair"'])
        assert not isinstance(app.screen, tagfreq.TagFrequencyScreen)


async def test_dupes_screen_moves_chosen_and_undoes(db_path, tmp_path):
    root = tmp_path / "dd"
    a = _noise(root / "x/a.png", 1)
    (root / "x/a_copy.png").write_bytes(a.read_bytes())
    (root / "x/a_copy.txt").write_text("copy caption")
    _noise(root / "x/b.png", 2)
    await _register(db_path, root, "dd")
    app = HostApp(db_path, "dd")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("D")
        await _wait_for(pilot, lambda: isinstance(app.screen, dupes_screen.DupesScreen) and app.screen.groups
                        and app.screen.query(".card-2"))
        screen = app.screen
        assert [g.kind for g in screen.groups] == ["exact"]
        assert screen.query_one(OptionList).option_count == 1
        # Both cards show the image through the project's half-block renderer (from the stored thumbnails).
        await _wait_for(pilot, lambda: not any(image.busy for image in screen.query(HalfBlockImage)))
        assert [image.preview is not None for image in screen.query(HalfBlockImage)] == [True, True]
        await pilot.press("a")
        await _wait_for(pilot, lambda: screen.query(".card-2.-chosen"))
        await pilot.press("m")
        await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await _wait_for(pilot, lambda: (root / "_duplicates/x/a_copy.png").exists())
        assert (root / "_duplicates/x/a_copy.txt").read_text() == "copy caption"
        await _wait_for(pilot, lambda: screen.groups == [])
        await pilot.press("u")
        await _wait_for(pilot, lambda: (root / "x/a_copy.png").exists() and len(screen.groups) == 1)
        assert (root / "x/a_copy.txt").read_text() == "copy caption"


async def test_tag_screen_offers_recovery_of_an_interrupted_operation(db_path, dataset_dir):
    import sqlite3

    await _register(db_path, dataset_dir, "ds")
    # Journal an operation as a crashed process leaves it: pending, owned by a pid that is gone.
    async with Store.open(db_path) as store:
        dataset = await get_dataset(store, "ds")
        row = await db_row(store, "SELECT id, caption FROM images WHERE rel_path = '10_char/a.png'")
    conn = sqlite3.connect(db_path)
    with conn:
        op = conn.execute("INSERT INTO operations (dataset_id, kind, description, state, created_at, action, pid, "
                          "proc_key) VALUES (?, 'add', 'add ohwx', 'pending', 0, 'apply', 999999999, 'x')",
                          (dataset.id,)).lastrowid
        conn.execute("INSERT INTO changes (operation_id, image_id, path_before, text_before, text_after) "
                     "VALUES (?, ?, '10_char/a.txt', ?, ?)", (op, row[0], row[1], row[1] + ", ohwx"))
    conn.close()
    app = HostApp(db_path, "ds")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("F")
        from loratui.tui.screens.tagops_dialogs import RecoverDialog

        await _wait_for(pilot, lambda: isinstance(app.screen, RecoverDialog))
        await pilot.press("f")
        await _wait_for(pilot, lambda: caption(dataset_dir, "10_char/a.png") == CAPTIONS["10_char/a.png"] + ", ohwx")
        await _wait_for(pilot, lambda: isinstance(app.screen, tagfreq.TagFrequencyScreen) and "ohwx" in app.screen.counts)
