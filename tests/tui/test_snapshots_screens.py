"""Snapshot tests of every screen at 80x24 and 160x48 on realistic data (issue 14).

The home (``tour.py``) holds the demo dataset, a LoRA library, base models and three trainings, one of them
running; each screen is reached from the main screen by the keys a user would press (``tour.SCREENS``).
Update after an intended visual change with
``pytest tests/tui/test_snapshots_screens.py --snapshot-update``, then look at the SVGs.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest

from textual.widgets import Input

from loratui.tui.app import LoratuiApp
from loratui.tui.widgets.image_list import ImageList

from .conftest import settle
from .tour import SCREENS, TOUR_HOME, make_tour_home, tour_lock

SIZES = [(80, 24), (160, 48)]


@pytest.fixture(scope="module")
def tour_ctx():
    with tour_lock(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("LORATUI_HOME", str(TOUR_HOME))
        yield make_tour_home()


@pytest.fixture(autouse=True)
def _steady(monkeypatch, tour_ctx):
    """Stored thumbnails are JPEGs whose decoding may differ between Pillow builds: previews decode the file."""
    monkeypatch.setenv("LORATUI_HOME", str(TOUR_HOME))
    monkeypatch.setattr("loratui.datasets.image_repo.ThumbnailReader.get", lambda self, image_id: None)


def _visit(keys: list[str]):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(pilot, app)
        images = app.screen.query_one(ImageList)
        row = next(i for i, name in enumerate(images.rows.names) if name.endswith(".png"))
        images.move_to(images.view.index(row))
        await settle(pilot, app)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.05)
        await pilot.pause(0.8)
        for field in app.screen.query(Input):  # a blinking cursor is on or off depending on the moment
            field.cursor_blink = False
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.2)

    return run_before


def _textual_version() -> tuple[int, int]:
    major, minor = version("textual").split(".")[:2]
    return int(major), int(minor)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(name, size, tour_ctx, snap_compare):
    if name == "training" and size == (80, 24):
        # The steps panel's scrollbar thumb is drawn one eighth of a cell apart from run to run (about one run in
        # five); test_tui_form_safety.py checks this screen's 80x24 layout by geometry instead.
        pytest.skip("the 80x24 training form's scrollbar thumb is not drawn the same in every run")
    if name in ("palette", "training") and _textual_version() < (8, 2):
        # Textual 8.0/8.1 (the minimum-versions run) dim the screen behind the palette in two slightly other
        # colours and round the training form's scrollbar thumbs differently; the text is the same, and
        # tests/tui/test_footers.py and test_tui_form_safety.py check those screens there.
        pytest.skip("the palette's backdrop and the scrollbar thumbs are drawn differently before Textual 8.2")
    assert snap_compare(LoratuiApp(tour_ctx, "demo"), terminal_size=size, run_before=_visit(SCREENS[name]))
