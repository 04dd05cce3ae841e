"""The dataset's target in the TUI (issue 14): set from the training form, it reaches the image list and the
preview through the change log; `i` shows the target and the caption files without an image."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Static

from loratui.config import Context
from loratui.datasets.service import add_dataset
from loratui.store import Store
from loratui.tui.app import LoratuiApp
from loratui.tui.screens.dataset_info import DatasetInfoScreen
from loratui.tui.screens.training import TrainingScreen
from tests.conftest import make_image

from .conftest import settle
from .test_changes import loratui_cli, until


@pytest.fixture
def portraits_ctx(home, tmp_path) -> Context:
    root = tmp_path / "portraits"
    make_image(root / "10_p" / "tall.png", size=(384, 576))
    (root / "10_p" / "tall.txt").write_text("woman\n")
    make_image(root / "10_p" / "wide.png", size=(600, 400))
    (root / "10_p" / "gone.txt").write_text("its image was deleted\n")
    ctx = Context.load(home)

    async def register():
        async with Store.open(ctx.paths.db) as store:
            await add_dataset(store, root, workers=1)

    asyncio.run(register())
    return ctx


def _info_line(main) -> str:
    return str(main.query_one("#preview-info", Static).render())


async def test_form_target_reaches_the_list_and_preview(portraits_ctx, home):
    """Before: the list and preview showed 704x1024 while the sd15 form counted 384x576 for the same image."""
    app = LoratuiApp(portraits_ctx, "portraits")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        assert sorted(main.image_list.rows.buckets) == ["1024x704", "704x1024"]
        assert "@1024 default" in _info_line(main)
        assert "1 orphan .txt" in str(main.image_list.border_title)

        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.screen.form is not None,
                    what="the training form")
        form = app.screen
        await app.workers.wait_for_complete()
        await pilot.pause()
        steps = str(form.query_one("#steps-panel", Static).render())
        assert "384x576" in steps and "dataset target: none" in steps
        await pilot.press("ctrl+g")
        await until(pilot, lambda: "shows these buckets" in str(form.query_one("#steps-panel", Static).render()),
                    what="the form's target line")
        await pilot.press("escape")
        await until(pilot, lambda: sorted(main.image_list.rows.buckets) == ["384x576", "576x384"],
                    what="the list's buckets")
        await until(pilot, lambda: "sd15 512x512" in str(main.image_list.border_title), what="the title")
        await until(pilot, lambda: "@sd15 512x512" in _info_line(main), what="the preview line")

        # A target set from another shell shows too.
        done = await asyncio.to_thread(loratui_cli, home, "dataset", "target", "portraits", "sdxl")
        assert done.returncode == 0, done.stderr
        await until(pilot, lambda: "sdxl 1024x1024" in str(main.image_list.border_title), what="the CLI's target")
        await until(pilot, lambda: "@sdxl 1024x1024" in _info_line(main), what="the preview line")


async def test_dataset_info_lists_orphan_captions(portraits_ctx):
    app = LoratuiApp(portraits_ctx, "portraits")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, DatasetInfoScreen), what="the info screen")
        text = str(app.screen.query_one("#info-orphans-list", Static).render())
        assert "10_p/gone.txt" in text
        assert "1 caption file(s) without an image" in str(app.screen.query_one("#info-orphans-title",
                                                                                   Static).render())
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main_screen, what="the main screen")
