"""The TUI for edit-model image pairs: the control image beside its image (80x24 and 160x48), captions labelled as
instructions, the pair problems screen, and both following changes made elsewhere (the change feed)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from loratui.config import Context
from loratui.store import Store
from loratui.tui.app import LoratuiApp
from loratui.tui.screens.pairs import PairProblemsScreen
from loratui.tui.widgets.pair_preview import PairPreview
from tests.conftest import python_subprocess_env
from tests.training_config.edit_layout import build_edit_dataset

from .conftest import settle


@pytest.fixture
def edit_ctx(home, tmp_path) -> Context:
    """A home with the edit layout of tests/training_config/edit_layout.py registered as 'edit'."""
    from loratui.datasets.service import add_dataset

    ctx = Context.load(home)
    build_edit_dataset(tmp_path / "edit")

    async def create():
        async with Store.open(ctx.paths.db) as store:
            await add_dataset(store, tmp_path / "edit", name="edit", workers=1)

    asyncio.run(create())
    return ctx


async def show(pilot, app, rel_path: str) -> None:
    app.main_screen._select_path(rel_path)
    await settle(pilot, app)
    assert app.main_screen.loaded is not None and app.main_screen.loaded.rel_path == rel_path


async def wait_for(pilot, condition, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition() and loop.time() < deadline:
        await pilot.pause(0.05)
    assert condition()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_control_beside_its_image(edit_ctx, size):
    app = LoratuiApp(edit_ctx, "edit")
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        pair = main.query_one(PairPreview)
        image, control = main.query_one("#preview"), main.query_one("#control-preview")
        await show(pilot, app, "3_edit/t3.png")
        assert pair.paired and control.display
        # side by side, halves of the detail column, both at least a few cells tall
        assert image.region.y == control.region.y and control.region.x > image.region.x
        assert abs(image.region.width - control.region.width) <= 1 and image.region.height >= 4
        assert control._wanted[0] == str(main.dataset.path / "3_edit/control/t3_0.png")
        await wait_for(pilot, lambda: control.preview is not None)
        assert (control.preview.width, control.preview.height) == (128, 128)  # from the stored thumbnail
        info = str(main.query_one("#pair-info").render())
        assert "control 1/2 t3_0.png 128x128" in info and info.startswith("ok")
        assert main.editor.border_title == "Instruction"
        await pilot.press("c")
        assert control._wanted[0].endswith("t3_1.png") and "control 2/2" in str(main.query_one("#pair-info").render())

        await show(pilot, app, "3_edit/t2.png")  # a tall image with a square control: cropped
        info = str(main.query_one("#pair-info").render())
        assert info.startswith("mismatch") and "40% of the control's width is cropped" in info

        await show(pilot, app, "controls_res/q0.png")  # a folder no subset claims: plain images, no pair
        assert not pair.paired and not control.display and image.region.width > 2 * control.region.width


async def test_pairs_follow_changes_made_elsewhere(edit_ctx, tmp_path):
    app = LoratuiApp(edit_ctx, "edit")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        await show(pilot, app, "3_edit/t0.png")
        assert str(main.query_one("#pair-info").render()).startswith("ok")
        await pilot.press("p")
        await settle(pilot, app)
        problems = app.screen
        assert isinstance(problems, PairProblemsScreen)
        paths = [p["path"] for p in problems.problems]
        assert "3_edit/control/zz.png" in paths and "3_edit/t0.png" not in paths
        assert problems.table.row_count == len(paths)
        # another process loses t0's control (renamed, so it becomes an extra) and rescans
        control = tmp_path / "edit" / "3_edit" / "control"
        (control / "t0.png").rename(control / "gone.png")
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "loratui", "dataset", "scan", "edit", "--workers", "1"],
            env=python_subprocess_env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        await wait_for(pilot, lambda: "3_edit/t0.png" in [p["path"] for p in problems.problems])
        assert "3_edit/control/gone.png" in [p["path"] for p in problems.problems]
        # the main screen below refreshed too: the pair shown is now missing its control
        assert str(main.query_one("#pair-info").render()).startswith("missing")
        # Enter on a target's row shows that image
        problems.table.move_cursor(row=[p["path"] for p in problems.problems].index("3_edit/t2.png"))
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.screen is main and main.loaded.rel_path == "3_edit/t2.png"


async def test_plain_datasets_keep_one_preview_and_captions(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        assert not main.query_one(PairPreview).paired and not main.query_one("#control-preview").display
        assert main.editor.border_title == "Caption"
        await pilot.press("p")
        await settle(pilot, app)
        assert isinstance(app.screen, PairProblemsScreen) and not app.screen.problems
        assert "No control folders" in str(app.screen.query_one("#pairs-folders").render())
        await pilot.press("escape")
        assert app.screen is main
