"""The tagging dialog in a small host app (Pilot): it starts real jobs on the app's store."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.widgets import Input, Select, Static, TabbedContent

from loratui.config import Context
from loratui.errors import InputError
from loratui.datasets import service
from loratui.store import Store
from loratui.tagging.modes import Mode
from loratui.tui.screens.tagging import ACTIONS, TaggingScreen, open_tagging
from tests.dbutil import row as db_row, scalar as db_scalar


class HostApp(App):
    """Stands in for LoratuiApp: ctx, store, current_dataset (and optionally current_image_ids)."""

    def __init__(self, ctx, store, dataset, image_ids=None) -> None:
        super().__init__()
        self.ctx, self.store, self.current_dataset, self.current_image_ids = ctx, store, dataset, image_ids
        self.notes: list[str] = []

    def on_mount(self) -> None:
        screen = ACTIONS[0].factory(self)
        self.push_screen(screen)

    def notify(self, message, **kwargs) -> None:
        self.notes.append(message)
        super().notify(message, **kwargs)


async def _setup(cli, colour_dataset, home):
    ctx = Context.load(home)
    async with Store.open(ctx.paths.db) as store:
        await service.add_dataset(store, colour_dataset, name="ds", workers=1)
    return ctx


async def test_dialog_tags_the_current_dataset(cli, colour_dataset, home, wd14_model):
    ctx = await _setup(cli, colour_dataset, home)
    async with Store.open(ctx.paths.db) as store:
        dataset = await service.get_dataset(store, "ds")
        app = HostApp(ctx, store, dataset)
        async with app.run_test(size=(100, 50)) as pilot:
            assert isinstance(app.screen, TaggingScreen)
            app.screen.query_one("#wd14-model", Input).value = str(wd14_model)
            app.screen.query_one("#wd14-mode", Select).value = Mode.APPEND.value
            app.screen.query_one("#exclude", Input).value = "^_^, 1girl"
            await pilot.press("ctrl+s")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert not isinstance(app.screen, TaggingScreen)
            assert any("Tagging ds started" in n for n in app.notes)
        job = await db_row(store, "SELECT kind, status, progress_done, progress_total FROM jobs")
    assert tuple(job) == ("tag", "completed", 4, 4)
    red = (colour_dataset / "10_hero" / "a_red.txt").read_text(encoding="utf-8")
    assert "red_theme" in red and "^_^" not in red and "1girl" not in red
    mine = (colour_dataset / "10_hero" / "d_red_captioned.txt").read_text(encoding="utf-8")
    assert mine.startswith("my own caption, hand written, red_theme")
    assert any("finished" in n or "captions written" in n for n in app.notes)


async def test_filtered_selection_and_bad_input(cli, colour_dataset, home, wd14_model):
    ctx = await _setup(cli, colour_dataset, home)
    async with Store.open(ctx.paths.db) as store:
        dataset = await service.get_dataset(store, "ds")
        red_id = await db_scalar(store, "SELECT id FROM images WHERE rel_path = '10_hero/a_red.png'")
        app = HostApp(ctx, store, dataset, image_ids=[red_id])
        async with app.run_test(size=(100, 50)) as pilot:
            screen = app.screen
            screen.query_one("#wd14-model", Input).value = str(wd14_model)
            screen.query_one("#general-threshold", Input).value = "lots"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen is screen  # stays open, says why
            assert "general threshold must be a number" in str(screen.query_one("#tagging-error", Static).render())
            screen.query_one("#general-threshold", Input).value = "0.35"
            await pilot.press("ctrl+s")
            await pilot.pause()
            await app.workers.wait_for_complete()
    assert (colour_dataset / "10_hero" / "a_red.txt").exists()
    assert not (colour_dataset / "10_hero" / "b_green.txt").exists()


async def test_caption_tab_builds_the_request(cli, colour_dataset, home, monkeypatch):
    monkeypatch.setenv("MY_VLM_KEY", "sk-abc")
    ctx = await _setup(cli, colour_dataset, home)
    async with Store.open(ctx.paths.db) as store:
        dataset = await service.get_dataset(store, "ds")
        app = HostApp(ctx, store, dataset)
        async with app.run_test(size=(100, 50)) as pilot:
            screen = app.screen
            screen.query_one(TabbedContent).active = "tab-vlm"
            await pilot.pause()
            screen.query_one("#vlm-url", Input).value = "http://127.0.0.1:1/v1"
            screen.query_one("#vlm-model", Input).value = "llava"
            screen.query_one("#vlm-key-env", Input).value = "MY_VLM_KEY"
            screen.query_one("#vlm-mode", Select).value = "prepend"
            request = screen.caption_request()
            assert (request.base_url, request.model, request.api_key, request.mode) == (
                "http://127.0.0.1:1/v1", "llava", "sk-abc", Mode.PREPEND)
            assert (request.frames, request.max_tokens) == (8, 400)
            screen.query_one("#vlm-template", Select).value = "wan-video"
            screen.query_one("#vlm-frames", Input).value = "12"
            request = screen.caption_request()
            assert request.prompt.startswith("You see {frames} frames") and request.max_tokens == 500
            assert request.frames == 12
            screen.query_one("#vlm-prompt", Input).value = "my prompt"
            with pytest.raises(InputError, match="not both"):
                screen.caption_request()
            screen.query_one("#vlm-template", Select).value = ""
            assert screen.caption_request().prompt == "my prompt"
            screen.query_one("#vlm-model", Input).value = ""
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen is screen
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, TaggingScreen)


def test_factory_needs_a_dataset():
    class NoDataset:
        current_dataset = None
        said: list[str] = []

        def notify(self, message, **kwargs):
            self.said.append(message)

    host = NoDataset()
    assert open_tagging(host) is None and host.said == ["Open a dataset first"]
    assert ACTIONS[0].id == "tagging.open" and ACTIONS[0].key == "T"


async def test_buttons_stay_visible_in_a_small_terminal():
    from pathlib import Path

    from loratui.datasets.dataset_repo import Dataset

    class Small(App):
        def on_mount(self) -> None:
            self.push_screen(TaggingScreen(Dataset(1, "d", Path("/tmp"), ".txt", "default", None), image_ids=[1]))

    app = Small()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        start = app.screen.query_one("#start").region
        assert start.bottom <= 24 and start.right <= 80 and start.height == 3


async def test_model_errors_end_up_in_a_notification(cli, colour_dataset, home, tmp_path):
    ctx = await _setup(cli, colour_dataset, home)
    (tmp_path / "not-a-model").mkdir()
    async with Store.open(ctx.paths.db) as store:
        app = HostApp(ctx, store, await service.get_dataset(store, "ds"))
        async with app.run_test(size=(100, 50)) as pilot:
            app.screen.query_one("#wd14-model", Input).value = str(tmp_path / "not-a-model")
            await pilot.press("ctrl+s")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
    assert any("lacks model.onnx and selected_tags.csv" in note for note in app.notes)
    assert not (colour_dataset / "10_hero" / "a_red.txt").exists()
