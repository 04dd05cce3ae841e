"""The LoRA library and models screens driven by keyboard in Pilot, inside a small host app."""

from __future__ import annotations

import contextlib

from textual.app import App
from textual.binding import Binding
from textual.widgets import DataTable, Input, Select, Static

from loratui.config import Context
from loratui.loras import library
from loratui.store import Store
from loratui.tui.screens import loras as loras_screen
from loratui.tui.screens import models as models_screen
from loratui.tui.screens.lora_dialogs import TableDialog
from loratui.tui.refresh import ChangeFeed
from loratui.tui.textual_compat import add_binding


class HostApp(App):
    """What the real app provides to ScreenActions: ctx, an open store, and a key per action."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx
        self.store = None
        self.current_dataset = None
        self._stack = contextlib.AsyncExitStack()
        self.actions = loras_screen.ACTIONS + models_screen.ACTIONS

    async def on_load(self) -> None:
        self.store = await self._stack.enter_async_context(Store.open(self.ctx.paths.db))

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


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def _wait_for(pilot, condition, tries: int = 200):
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def test_library_screen_details_resize_compare_job(home, tmp_path, lora_factory, kohya_metadata):
    ctx = Context.load(home)
    folder = tmp_path / "loras"
    a = lora_factory(folder / "a.safetensors", metadata=kohya_metadata)
    lora_factory(folder / "b.safetensors", metadata=dict(kohya_metadata, ss_seed="7"), seed=3)
    async with Store.open(ctx.paths.db) as store:
        await library.scan_dir(store, folder)
    app = HostApp(ctx)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press("L")
        assert isinstance(app.screen, loras_screen.LorasScreen)
        table = app.screen.query_one("#loras-table", DataTable)
        assert table.row_count == 2
        details = _text(app, "#loras-meta")
        assert "sdxl_base_v1-0" in details and "AdamW8bit" in details and "10_mychar" in details
        assert "Tag frequency" in _text(app, "#loras-tags") and "1girl" in _text(app, "#loras-tags")

        # compare: c on the first row, down, c again
        await pilot.press("c", "down", "c")
        assert isinstance(app.screen, TableDialog)
        rows = app.screen.query_one(DataTable)
        cells = [str(rows.get_row_at(i)[0]) for i in range(rows.row_count)]
        assert "ss_seed" in cells and "seed" in cells
        await pilot.press("escape")

        # resize the highlighted LoRA to rank 2 from the dialog, by keyboard
        await pilot.press("r")
        rank_input = app.screen.query_one("#resize-rank", Input)
        assert rank_input.has_focus
        rank_input.value = ""
        await pilot.press("2", "ctrl+s")
        assert isinstance(app.screen, loras_screen.LorasScreen)
        await _wait_for(pilot, lambda: table.row_count == 3)
        assert "Frobenius energy retained" in _text(app, "#loras-status")
        resized = [r for r in app.screen.records.values() if r.name.endswith("-r2.safetensors")]
        assert len(resized) == 1 and resized[0].dim == 2 and resized[0].job_id

        # the new LoRA is selected: j shows the resize job that made it
        assert app.screen.selected.id == resized[0].id
        await pilot.press("j")
        assert isinstance(app.screen, TableDialog)
        job_rows = app.screen.query_one(DataTable)
        values = {str(job_rows.get_row_at(i)[0]): str(job_rows.get_row_at(i)[1]) for i in range(job_rows.row_count)}
        assert values["kind"] == "resize" and values["status"] == "completed"
        await pilot.press("escape", "escape")
        assert not isinstance(app.screen, loras_screen.LorasScreen)
    assert a.exists()


async def test_resize_dialog_shows_form_errors(home, tmp_path, lora_factory):
    ctx = Context.load(home)
    lora_factory(tmp_path / "x.safetensors")
    async with Store.open(ctx.paths.db) as store:
        await library.scan_dir(store, tmp_path)
    app = HostApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("L", "r")
        app.screen.query_one("#resize-rank", Input).value = "abc"
        await pilot.press("ctrl+s")
        assert "whole number" in _text(app, "#dialog-error")
        app.screen.query_one("#resize-rank", Input).value = "4"
        app.screen.query_one("#resize-dynamic", Select).value = "sv_fro"
        await pilot.press("ctrl+s")
        assert "--param" in _text(app, "#dialog-error")
        await pilot.press("escape")
        assert isinstance(app.screen, loras_screen.LorasScreen)


async def test_upload_from_the_library_screen(home, tmp_path, lora_factory, kohya_metadata, hub_server,
                                              monkeypatch):
    ctx = Context.load(home)
    path = lora_factory(tmp_path / "mychar.safetensors", metadata=kohya_metadata)
    async with Store.open(ctx.paths.db) as store:
        await library.index_file(store, path)
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    app = HostApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("L", "u")
        app.screen.query_one("#upload-repo", Input).value = "alice/mychar"
        await pilot.press("ctrl+s")
        await _wait_for(pilot, lambda: "uploaded to" in _text(app, "#loras-status"))
    assert hub_server.repos["alice/mychar"]["files"]["mychar.safetensors"] == path.read_bytes()
    assert hub_server.repos["alice/mychar"]["private"] is True


async def test_models_screen_download(home, hub_server):
    ctx = Context.load(home)
    hub_server.add_file("org/base", "model.safetensors", b"weights" * 1000)
    app = HostApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("M")
        assert isinstance(app.screen, models_screen.ModelsScreen)
        table = app.screen.query_one("#models-table", DataTable)
        assert table.row_count == 0 and "No models yet" in _text(app, "#models-status")
        await pilot.press("d")
        app.screen.query_one("#download-ref", Input).value = "org/base"
        await pilot.press("ctrl+s")
        await _wait_for(pilot, lambda: table.row_count == 1)
        assert "downloaded model.safetensors" in _text(app, "#models-status")
    assert (home / "models" / "model.safetensors").read_bytes() == b"weights" * 1000


async def test_scan_a_folder_from_the_library_screen(home, tmp_path, lora_factory):
    ctx = Context.load(home)
    lora_factory(tmp_path / "found" / "one.safetensors")
    lora_factory(tmp_path / "found" / "two.safetensors", seed=2)
    app = HostApp(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("L")
        assert "library is empty" in _text(app, "#loras-meta")
        await pilot.press("s")
        app.screen.query_one("#scan-folder", Input).value = str(tmp_path / "nope")
        await pilot.press("enter")
        assert "not a folder" in _text(app, "#dialog-error")
        app.screen.query_one("#scan-folder", Input).value = str(tmp_path / "found")
        await pilot.press("enter")
        table = app.screen.query_one("#loras-table", DataTable)
        await _wait_for(pilot, lambda: table.row_count == 2)
        assert "added 2" in _text(app, "#loras-status")
