"""Changes reach every view: the real LoratuiApp and MainScreen after a batch operation (F), a duplicate move (D)
and a tagging job (T), and after changes made by other processes (a CLI call in another shell)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Select

from loratui.config import Context
from loratui.datasets.service import add_dataset
from loratui.store import Store
from loratui.tagging.modes import Mode
from loratui.tui.app import LoratuiApp
from loratui.tui.screens.confirm import ConfirmScreen
from loratui.tui.screens.dupes import DupesScreen
from loratui.tui.screens.main import MainScreen
from loratui.tui.screens.tagfreq import TagFrequencyScreen
from loratui.tui.screens.tagging import TaggingScreen
from loratui.tui.screens.tagops_dialogs import ConfirmDialog, OperationPreviewDialog, TagPromptDialog
from loratui.tui.widgets.dataset_tree import DatasetTree
from loratui.tui.widgets.tag_panel import TagPanel
from tests.conftest import make_image, python_subprocess_env
from tests.tagging.conftest import build_model

from .conftest import settle

RED, GREEN, BLUE = (220, 20, 20), (20, 220, 20), (20, 20, 220)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tagger(tmp_path_factory) -> Path:
    """The tiny WD14-shaped test model (tests/tagging/conftest.py): colours become tags."""
    return build_model(tmp_path_factory.mktemp("wd14") / "tiny-tagger")


@pytest.fixture
def hero_ctx(home, tmp_path) -> Context:
    """A dataset 'ds': three coloured images with captions and an exact copy of the blue one."""
    root = tmp_path / "ds" / "10_hero"
    for name, colour, caption in (("a_red", RED, "hero, red shirt, smile"), ("b_green", GREEN, "hero, green shirt"),
                                  ("c_blue", BLUE, "hero, blue shirt, smile")):
        make_image(root / f"{name}.png", size=(96, 80), color=colour)
        (root / f"{name}.txt").write_text(caption, encoding="utf-8")
    shutil.copyfile(root / "c_blue.png", root / "c_blue_copy.png")
    (root / "c_blue_copy.txt").write_text("hero, blue shirt", encoding="utf-8")
    ctx = Context.load(home)

    async def register():
        async with Store.open(ctx.paths.db) as store:
            await add_dataset(store, root.parent, name="ds", workers=1)

    asyncio.run(register())
    return ctx


async def until(pilot, condition, timeout: float = 10.0, what: str = "the condition") -> float:
    """Pause until `condition()` holds; returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)
    return time.monotonic() - started


def tag_panel_text(main: MainScreen) -> str:
    return str(main.query_one(TagPanel).render())


async def save_an_edit(pilot, app, main: MainScreen, addition: str, caption: Path) -> None:
    """Type at the end of the caption, save with Ctrl+S, and check it was saved without a conflict question."""
    await pilot.press("e")
    await until(pilot, lambda: main.editor.has_focus, what="the editor")
    before = main.editor.text
    await pilot.press(*addition)
    await pilot.press("ctrl+s")
    await until(pilot, lambda: caption.read_text(encoding="utf-8") == before + addition, what="the save")
    await pilot.pause(0.3)
    assert isinstance(app.screen, MainScreen), f"saving asked a question: {app.screen!r}"
    assert not any(isinstance(s, ConfirmScreen) for s in app.screen_stack)
    await pilot.press("escape")


async def test_batch_op_duplicate_move_and_tagging_reach_the_main_screen(hero_ctx, tagger):
    folder = hero_ctx.paths.home.parent / "ds" / "10_hero"
    red_caption = folder / "a_red.txt"
    app = LoratuiApp(hero_ctx, "ds")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        assert main.loaded.rel_path == "10_hero/a_red.png"
        assert main.editor.text == "hero, red shirt, smile"
        assert main.vocabulary["hero"] == 4

        # 1. A batch operation from the tag frequency screen: rename "hero" in every caption.
        await pilot.press("F")
        await until(pilot, lambda: isinstance(app.screen, TagFrequencyScreen) and app.screen.table.row_count)
        assert app.screen.highlighted_tag() == "hero"
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TagPromptDialog))
        app.screen.query_one(Input).value = "protagonist"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OperationPreviewDialog))
        await pilot.press("y")
        await until(pilot, lambda: red_caption.read_text(encoding="utf-8").startswith("protagonist"))
        await until(pilot, lambda: isinstance(app.screen, TagFrequencyScreen) and "protagonist" in app.screen.counts,
                    what="the tag table to follow")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is main)
        await until(pilot, lambda: main.editor.text == "protagonist, red shirt, smile", what="the editor")
        await until(pilot, lambda: main.vocabulary.get("protagonist") == 4 and "hero" not in main.vocabulary,
                    what="the vocabulary")
        assert "protagonist" in tag_panel_text(main) and "hero" not in tag_panel_text(main)
        await save_an_edit(pilot, app, main, ", windy", red_caption)
        await until(pilot, lambda: main.vocabulary.get("windy") == 1, what="the vocabulary after the save")

        # 2. A duplicate move: the exact copy goes to _duplicates/; its caption's tags leave the counts.
        assert main.vocabulary["blue shirt"] == 2
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, DupesScreen) and app.screen.groups, what="the groups")
        assert app.screen.groups[0].kind == "exact"  # the copy; the pattern makes the others near duplicates
        await pilot.press("a", "m")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: (folder.parent / "_duplicates" / "10_hero" / "c_blue_copy.png").exists())
        await until(pilot, lambda: isinstance(app.screen, DupesScreen)
                    and not any(g.kind == "exact" for g in app.screen.groups), what="the duplicates screen to follow")
        await pilot.press("escape")
        await until(pilot, lambda: len(main.image_list.rows) == 3,
                    what=f"the list (shows {list(main.image_list.rows.names)})")
        assert "10_hero/c_blue_copy.png" not in main.image_list.rows.names
        await until(pilot, lambda: main.vocabulary.get("blue shirt") == 1, what="the vocabulary")
        tree = main.query_one(DatasetTree)
        await until(pilot, lambda: "ds 3" in str(tree.root.children[0].children[0].label), what="the tree count")
        assert main.editor.text == "protagonist, red shirt, smile, windy"

        # 3. A tagging job (its own store, like another process): tags appended to every caption.
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TaggingScreen))
        app.screen.query_one("#wd14-model", Input).value = str(tagger)
        app.screen.query_one("#wd14-mode", Select).value = Mode.APPEND.value
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "red_theme" in red_caption.read_text(encoding="utf-8"), timeout=60,
                    what="the tagging job")
        await until(pilot, lambda: "red_theme" in main.editor.text, what="the editor")
        await until(pilot, lambda: main.vocabulary.get("red_theme") == 1, what="the vocabulary")
        assert "red_theme" in tag_panel_text(main)
        row = main.image_list.rows.index_of(main.loaded.image_id)
        assert main.image_list.rows.tag_counts[row] == len(main.editor.text.split(","))
        await save_an_edit(pilot, app, main, ", sunny", red_caption)


def loratui_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the installed CLI in another process, as a user in another shell would."""
    env = python_subprocess_env({"LORATUI_HOME": str(home)})
    return subprocess.run([sys.executable, "-m", "loratui", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=str(REPO))


async def test_changes_from_another_process_show_within_two_seconds(hero_ctx, tmp_path):
    home = hero_ctx.paths.home
    red_caption = home.parent / "ds" / "10_hero" / "a_red.txt"
    app = LoratuiApp(hero_ctx, "ds")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        red_id = main.loaded.image_id
        count_before = main.image_list.rows.tag_counts[main.image_list.rows.index_of(red_id)]

        # A batch operation from another shell while the TUI shows the caption.
        done = await asyncio.to_thread(loratui_cli, home, "tags", "ds", "add", "from the shell", "--where",
                                       "path:a_red")
        assert done.returncode == 0, done.stderr
        assert red_caption.read_text(encoding="utf-8").endswith("from the shell")
        took = await until(pilot, lambda: main.editor.text.endswith("from the shell"), what="the editor")
        assert took < 2.0
        row = main.image_list.rows.index_of(red_id)
        assert main.image_list.rows.tag_counts[row] == count_before + 1
        await until(pilot, lambda: main.vocabulary.get("from the shell") == 1, timeout=2.0, what="the vocabulary")

        # While an edit is pending, a change from elsewhere asks instead of overwriting either side.
        await pilot.press("e")
        await pilot.press(*", mine")
        done = await asyncio.to_thread(loratui_cli, home, "tags", "ds", "add", "theirs", "--where", "path:a_red")
        assert done.returncode == 0, done.stderr
        took = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        assert took < 2.0
        await pilot.press("y")  # keep my edit: saving replaces their text, with no second conflict question
        await until(pilot, lambda: app.screen is main)
        assert main.editor.text.endswith(", mine")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: red_caption.read_text(encoding="utf-8").endswith(", mine"), what="the save")
        await pilot.pause(0.3)
        assert app.screen is main
        await pilot.press("escape")

        # Datasets added and removed from another shell appear in and leave the tree.
        other = tmp_path / "other"
        make_image(other / "x.png", size=(64, 64), color=GREEN)
        done = await asyncio.to_thread(loratui_cli, home, "dataset", "add", str(other), "--name", "other")
        assert done.returncode == 0, done.stderr
        tree = main.query_one(DatasetTree)

        def names() -> list[str]:
            return [str(node.label).split(" ")[0] for ws in tree.root.children for node in ws.children]

        took = await until(pilot, lambda: names() == ["ds", "other"], what="the tree")
        assert took < 2.0
        done = await asyncio.to_thread(loratui_cli, home, "dataset", "remove", "other")
        assert done.returncode == 0, done.stderr
        await until(pilot, lambda: names() == ["ds"], timeout=2.0, what="the tree")


async def test_an_edit_outside_loratui_shows_when_the_editor_opens(hero_ctx):
    red_caption = hero_ctx.paths.home.parent / "ds" / "10_hero" / "a_red.txt"
    app = LoratuiApp(hero_ctx, "ds")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        assert main.editor.text == "hero, red shirt, smile"
        red_caption.write_text("edited in vim", encoding="utf-8")  # no loratui process involved
        later = time.time() + 5
        os.utime(red_caption, (later, later))
        await pilot.press("e")
        await until(pilot, lambda: main.editor.text == "edited in vim", what="the editor")
        assert main.editor.has_focus
