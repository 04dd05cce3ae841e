"""Snapshot tests (pytest-textual-snapshot) of the main layouts at 80x24 and 160x48, and the help screen.

Update after an intended visual change with ``pytest tests/tui/test_snapshots.py --snapshot-update``.
The cursor is put on a PNG image, and stored thumbnails (JPEGs) are not used, so the preview does not depend on
the JPEG decoder's version.
"""

from __future__ import annotations

import pytest

from loratui.tui.app import LoratuiApp
from loratui.tui.widgets.image_list import ImageList

from .conftest import settle


@pytest.fixture(autouse=True)
def _only_core_screens(monkeypatch):
    """Feature screens from other modules would change the help screen: leave them out of snapshots."""
    monkeypatch.setattr("loratui.tui.app.discover_actions", lambda: [])
    monkeypatch.setattr("loratui.datasets.image_repo.ThumbnailReader.get", lambda self, image_id: None)


def _on_first_png(app_ctx):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(pilot, app)
        images = app.screen.query_one(ImageList)
        row = next(i for i, name in enumerate(images.rows.names) if name.endswith(".png"))
        images.move_to(images.view.index(row))
        await settle(pilot, app)
        await pilot.pause(0.2)
        await settle(pilot, app)

    return run_before


def test_main_80x24(demo_ctx, snap_compare):
    assert snap_compare(LoratuiApp(demo_ctx, "demo"), terminal_size=(80, 24), run_before=_on_first_png(demo_ctx))


def test_main_160x48(demo_ctx, snap_compare):
    assert snap_compare(LoratuiApp(demo_ctx, "demo"), terminal_size=(160, 48), run_before=_on_first_png(demo_ctx))


def test_help_80x24(demo_ctx, snap_compare):
    async def run_before(pilot) -> None:
        await _on_first_png(demo_ctx)(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(LoratuiApp(demo_ctx, "demo"), terminal_size=(80, 24), run_before=run_before)


def test_filter_and_tree_80x24(demo_ctx, snap_compare):
    async def run_before(pilot) -> None:
        await _on_first_png(demo_ctx)(pilot)
        await pilot.press("d", "escape")  # show the dataset tree on a narrow terminal
        pilot.app.screen.query_one(ImageList).focus()
        await pilot.press("slash", *"grid", "enter")
        await settle(pilot, pilot.app)
        await pilot.pause(0.2)
        await settle(pilot, pilot.app)

    assert snap_compare(LoratuiApp(demo_ctx, "demo"), terminal_size=(80, 24), run_before=run_before)
