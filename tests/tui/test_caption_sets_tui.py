"""The editor's caption sets (issue 17): Ctrl+O switches the editor, its save, the filter, the vocabulary and the
tag frequency screen between `.txt` and `.caption`; the other set's files are never touched."""

from __future__ import annotations

from loratui.datasets.filekinds import is_image_name
from loratui.datasets.service import rescan_dataset
from loratui.store import Store
from loratui.tui.app import LoratuiApp
from loratui.tui.widgets.image_list import ImageList

from .conftest import settle


async def add_prose(ctx) -> dict:
    """A .caption beside every demo image; returns path -> text."""
    written = {}
    for index, image in enumerate(sorted(p for p in ctx.paths.demo.rglob("*") if is_image_name(p.name)
                                          and "_duplicates" not in p.parts)):
        text = f"prose number {index}, lighthouse" if index % 2 else f"prose number {index}"
        image.with_suffix(".caption").write_text(text, encoding="utf-8")
        written[image] = text

    async with Store.open(ctx.paths.db) as store:
        await rescan_dataset(store, "demo", workers=1)
    return written


async def test_ctrl_o_switches_the_editor_filter_and_tag_frequency(demo_ctx):
    prose = await add_prose(demo_ctx)
    txt_before = {p: p.read_bytes() for p in demo_ctx.paths.demo.rglob("*.txt")}
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        images = app.screen.query_one(ImageList)
        assert main.caption_set_exts == [".txt", ".caption"]
        assert ".txt [1/2" in str(main.editor.border_title)
        await pilot.press("ctrl+o")
        await settle(pilot, app)
        assert main.caption_set == ".caption" and ".caption [2/2" in str(main.editor.border_title)
        image = demo_ctx.paths.demo / main.loaded.rel_path
        assert main.editor.text == prose[image]
        assert "lighthouse" in main.vocabulary and not any(t in main.vocabulary for t in ("1girl", "solo"))
        # edit and save in the .caption set
        await pilot.press("e", *", at dusk", "ctrl+s")
        await settle(pilot, app)
        assert image.with_suffix(".caption").read_text(encoding="utf-8") == prose[image] + ", at dusk"
        assert {p: p.read_bytes() for p in demo_ctx.paths.demo.rglob("*.txt")} == txt_before
        await pilot.press("escape")
        await settle(pilot, app)
        # the filter matches the current set's tags
        await main.apply_filter("tag:lighthouse").wait()
        await settle(pilot, app)
        assert images.count == sum(1 for text in prose.values() if "lighthouse" in text)
        await main.apply_filter("").wait()
        # the tag frequency screen counts the current set
        await pilot.press("F")
        await settle(pilot, app)
        assert app.screen.caption_set == ".caption" and "lighthouse" in app.screen.counts
        await pilot.press("escape")
        await settle(pilot, app)
        # back to .txt
        await pilot.press("ctrl+o")
        await settle(pilot, app)
        assert main.caption_set is None
        assert main.editor.text == image.with_suffix(".txt").read_text(encoding="utf-8")
        assert "lighthouse" not in main.vocabulary


async def test_a_single_set_dataset_keeps_its_title_and_says_how_to_add_one(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        assert str(main.editor.border_title) == "Caption"
        await pilot.press("ctrl+o")
        await settle(pilot, app)
        assert main.caption_set is None and str(main.editor.border_title) == "Caption"
