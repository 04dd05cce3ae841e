"""The real app with hostile input: control characters in names never reach the screen raw, runaway queries in
the filter are reported and the app keeps running, storage failures are notifications."""

from __future__ import annotations

import errno
import os
import re
import sqlite3

import pytest

from loratui.config import Context
from loratui.tui.app import LoratuiApp
from loratui.tui.screens.confirm import ConfirmScreen
from loratui.tui.widgets.image_list import ImageList
from loratui.tui.workers import report_error
from tests.conftest import make_image
from tests.tui.conftest import settle

RAW_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
FILES = ["clear\x1b[2Jscreen.png", "bell\x07.png", "carriage\rreturn.png", "csi\x9b31m.png"]
TAG = "tag\x1b]0;owned\x07"
DATASET = "ds\x1b[31m"
WORKSPACE = "ws\x1b[?1049h"


def screen_lines(app) -> list[str]:
    """Every line of the composed screen, as the terminal would receive its text."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


@pytest.fixture
def hostile_ctx(cli, home, tmp_path) -> Context:
    """A home with a dataset named with ESC, in a workspace named with ESC, of files and tags with controls."""
    data = tmp_path / "data"
    for index, name in enumerate(FILES):
        make_image(data / name, color=(50 * index, 90, 200))
        (data / name).with_suffix(".txt").write_text(f"{TAG}, plain tag")
    assert cli("dataset", "add", data, "--name", DATASET, "--workspace", WORKSPACE, "--workers", "1").code == 0
    return Context.load(home)


async def test_names_tags_notifications_and_dialogs_are_drawn_literally(hostile_ctx):
    app = LoratuiApp(hostile_ctx, DATASET)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, app)
        images = app.screen.query_one(ImageList)
        assert sorted(images.rows.names) == sorted(FILES)
        app.notify(f"scanned {FILES[0]}", title=f"dataset {DATASET}")
        app.push_screen(ConfirmScreen(f"Remove {DATASET}?", f"{FILES[1]}\n{TAG}"))
        await pilot.pause(0.2)
        lines = screen_lines(app)
        shown = "\n".join(lines)
        assert not any(RAW_CONTROL.search(line) for line in lines), [line for line in lines
                                                                      if RAW_CONTROL.search(line)]
        for visible in ("ds\\x1b[31m", "ws\\x1b[?1049h", "clear\\x1b[2Jscreen.png", "Remove ds\\x1b[31m?"):
            assert visible in shown, visible
        await pilot.press("n")
        images.move_to(0)
        await settle(pilot, app)
        lines = screen_lines(app)
        assert not any(RAW_CONTROL.search(line) for line in lines), [line for line in lines if RAW_CONTROL.search(line)]
        shown = "\n".join(lines)
        assert "tag\\x1b]0;owned\\x07" in shown  # the tag panel
        assert "tag\u241b]0;owned" in shown, shown  # the editor: symbols, the text itself unchanged
        assert app.main_screen.editor.text == f"{TAG}, plain tag"


async def test_runaway_filters_are_reported_and_the_app_keeps_running(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        images = app.screen.query_one(ImageList)
        total = images.count
        filter_input = app.screen.query_one("#filter")
        for query, reason in (("(" * 300 + "tag:moon" + ")" * 300, "nested more than"),
                              (" OR ".join(["ok"] * 3000), "longer than"),
                              (" OR ".join(["ok"] * 1000), "more than 300 terms"),
                              (" ".join(["word"] * 2000), "more than 300 words")):
            await pilot.press("slash")
            filter_input.value = query
            await pilot.press("enter")
            await settle(pilot, app)
            messages = [n.message for n in app._notifications]
            assert any(reason in message and "position" in message for message in messages), (reason, messages)
            assert app.is_running and images.count == total
        await pilot.press("slash", "ctrl+u", *"tag:moon", "enter")
        await settle(pilot, app)
        assert 0 < images.count < total  # the filter still works afterwards


async def test_storage_failures_are_notifications_not_crashes(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        report_error(app.screen, OSError(errno.ENOSPC, "No space left on device", "/data/a.txt"))
        await pilot.pause(0.1)
        notification = list(app._notifications)[-1]
        assert notification.title == "Storage error" and "no space left" in notification.message
        assert "/data/a.txt" in notification.message and app.is_running


def test_a_crash_of_the_app_is_one_line_on_the_terminal(tmp_path):
    from loratui.tui.app import _last_line

    log = tmp_path / "tui-stderr.log"
    log.write_text("older run\n╭──── Traceback (most recent call last) ────╮\n│ /x.py:1 in f │\n╰──────────────╯\n"
                   "RuntimeError: boom at https://user:pw@h.example/x\n\n")
    assert _last_line(log, len("older run\n")) == "RuntimeError: boom at https://***@h.example/x"
    assert _last_line(tmp_path / "missing.log", 0) == ""



@pytest.fixture
def pipes_ctx(cli, home, tmp_path) -> Context:
    """A dataset of three images whose captions, after the add, are a FIFO, a folder and a plain file."""
    data = tmp_path / "data"
    for index in range(3):
        make_image(data / f"a{index}.png", color=(60 * index, 90, 200))
    assert cli("dataset", "add", data, "--name", "pipes", "--workers", "1").code == 0
    os.mkfifo(data / "a0.txt")  # they appear after the add: the rescan has to look at them
    (data / "a1.txt").mkdir()
    (data / "a2.txt").write_text("plain tag")
    return Context.load(home)


@pytest.mark.timeout(60)
async def test_a_rescan_meeting_a_fifo_caption_finishes_and_q_still_quits(pipes_ctx):
    """Issue 13 item 5 in the TUI: a FIFO named like a caption hung the scan, and `q` stopped working."""
    app = LoratuiApp(pipes_ctx, "pipes")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("r")
        for _ in range(100):
            await pilot.pause(0.1)
            if any(n.title == "Rescanned pipes" for n in app._notifications):
                break
        messages = [f"{n.title}: {n.message}" for n in app._notifications]
        assert any(m.startswith("Rescanned pipes: 3 images") for m in messages), messages
        await settle(pilot, app)
        assert app.screen.query_one(ImageList).count == 3
        await pilot.press("q")
        await pilot.pause(0.3)
        assert not app.is_running
    with sqlite3.connect(pipes_ctx.paths.db) as conn:
        warnings = dict(conn.execute("SELECT rel_path, caption_warning FROM images"))
    assert "FIFO" in warnings["a0.png"] and "folder" in warnings["a1.png"] and warnings["a2.png"] is None
