"""The checkpoint sweep grid in the TUI: snapshots at 80x24 and 160x48 (half-blocks), scrolling, the full-screen
cell view, keep with trash / delete / undo, following a sweep that is still rendering, the library's way in, and
the full view's terminal graphics output."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from loratui.loras import lora_repo, sweep_manifest
from loratui.loras.sweep_find import find_sweeps
from loratui.tui.app import LoratuiApp
from loratui.tui.screens.confirm import ConfirmScreen
from loratui.tui.screens.sweeps.grid import KeepDialog, SweepCellScreen, SweepGridScreen
from loratui.tui.widgets.halfblock import HalfBlockImage
from loratui.tui.widgets.sweep_grid import SweepGrid
from tests.sweepfolder import make_sweep, write_png


@pytest.fixture
def ctx(home):
    from loratui.config import Context

    return Context.load(home)


def _app(ctx, folder, graphics="halfblock"):
    return LoratuiApp(ctx, open_screen=lambda app: SweepGridScreen(folder, graphics=graphics))


async def _settle(pilot, timeout: float = 5.0) -> None:
    """Wait until the grid is on screen and its thumbnails are decoded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await pilot.pause(0.05)
        screen = pilot.app.screen
        grids = list(screen.query(SweepGrid)) if isinstance(screen, SweepGridScreen) else []
        images = list(screen.query(HalfBlockImage))
        if ((grids and not grids[0].busy) or (images and not images[0].busy)) and all(
                w.is_finished for w in pilot.app.workers if w.group.startswith("sweep")):
            await pilot.pause(0.1)
            return
    raise AssertionError("the sweep grid did not settle")


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.safetensors"))}


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_grid_snapshot(size, ctx, tmp_path, snap_compare):
    folder = tmp_path / "sweep"
    make_sweep(folder, epochs=(2, 4, 6, 8), missing=[("e4", "p1-s2"), ("e8", "p0-s1")], chosen="e6")

    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press("down", "right")
        await _settle(pilot)

    assert snap_compare(_app(ctx, folder), terminal_size=size, run_before=run_before)


def test_cell_view_snapshot_80x24(ctx, tmp_path, snap_compare):
    folder = tmp_path / "sweep"
    make_sweep(folder, chosen="e4")

    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press("down", "down", "enter")
        await _settle(pilot)

    assert snap_compare(_app(ctx, folder), terminal_size=(80, 24), run_before=run_before)


async def test_cursor_scrolls_and_the_full_view_steps_through_epochs(ctx, tmp_path):
    folder = tmp_path / "sweep"
    make_sweep(folder, epochs=(2, 4, 6, 8, 10))
    async with _app(ctx, folder).run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        grid = pilot.app.screen.query_one(SweepGrid)
        assert (grid.first_row, grid.first_column) == (0, 0)
        await pilot.press("right", "right", "right", "down", "down", "down")
        assert (grid.row, grid.column) == (3, 3)
        assert grid.first_column > 0 and grid.first_row > 0  # 80x24 shows 3 columns and 2 rows
        await pilot.press("enter")
        await _settle(pilot)
        cell = pilot.app.screen
        assert isinstance(cell, SweepCellScreen) and cell.row == 3
        await pilot.press("down", "down")
        assert cell.row == 5 and "epoch 10" in str(cell.query_one("#cell-title").render())
        await pilot.press("down")  # stays on the last checkpoint
        await pilot.press("left")
        assert (cell.row, cell.column) == (5, 2)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(pilot.app.screen, SweepGridScreen) and (grid.row, grid.column) == (5, 2)


async def test_keep_trash_and_undo_from_the_grid(ctx, tmp_path):
    folder = tmp_path / "sweep"
    make_sweep(folder)
    run = tmp_path / "run"
    before = _digests(run)
    async with _app(ctx, folder).run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        await pilot.press("c")  # on the baseline: refused
        await pilot.pause(0.1)
        assert not isinstance(pilot.app.screen, KeepDialog)
        await pilot.press("down", "down", "c")
        await pilot.pause(0.1)
        assert isinstance(pilot.app.screen, KeepDialog)
        await pilot.press("t")
        await _settle(pilot)
        assert sweep_manifest.load(folder).chosen == "e4"
        assert list(_digests(run)) == ["mychar-000004.safetensors"]
        records = await pilot.app.store.run(lora_repo.list_all)
        assert [r.sweep_folder for r in records] == [str(folder)]
        assert "kept: epoch 4" in str(pilot.app.screen.query_one("#sweep-title").render())
        await pilot.press("z")
        await pilot.pause(0.1)
        assert isinstance(pilot.app.screen, ConfirmScreen)
        await pilot.press("y")
        await _settle(pilot)
        assert _digests(run) == before


async def test_delete_asks_twice_and_no_deletes_nothing(ctx, tmp_path):
    folder = tmp_path / "sweep"
    make_sweep(folder)
    run = tmp_path / "run"
    async with _app(ctx, folder).run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        await pilot.press("down", "c", "d")
        await pilot.pause(0.1)
        assert isinstance(pilot.app.screen, ConfirmScreen)
        await pilot.press("n")
        await _settle(pilot)
        assert len(_digests(run)) == 3 and sweep_manifest.load(folder).chosen is None
        await pilot.press("c", "d")
        await pilot.pause(0.1)
        await pilot.press("y")
        await _settle(pilot)
        assert list(_digests(run)) == ["mychar-000002.safetensors"]


async def test_new_cells_and_manifest_changes_appear(ctx, tmp_path):
    folder = tmp_path / "sweep"
    manifest = make_sweep(folder, missing=[("e6", "p1-s1"), ("e6", "p1-s2")])
    async with _app(ctx, folder).run_test(size=(160, 48)) as pilot:
        await _settle(pilot)
        grid = pilot.app.screen.query_one(SweepGrid)
        assert grid.rendered == 14
        write_png(sweep_manifest.cell_path(folder, "e6", "p1-s1"), (10, 200, 10))
        manifest.chosen = "e2"
        sweep_manifest.save(folder, manifest)
        await pilot.pause(1.5)
        await _settle(pilot)
        assert grid.rendered == 15 and grid.manifest.chosen == "e2"
        assert "15/16 rendered" in str(pilot.app.screen.query_one("#sweep-title").render())


async def test_library_opens_the_sweeps_of_a_checkpoint_folder(ctx, tmp_path):
    run = tmp_path / "output"
    folder = run / "sweeps" / "20261205-sweep"
    make_sweep(folder, run=run)
    assert find_sweeps(run) == [folder] and find_sweeps(tmp_path / "nowhere") == [] and find_sweeps(None) == []
    async with LoratuiApp(ctx).run_test(size=(100, 30)) as pilot:
        from loratui.loras import library
        from loratui.tui.screens.loras import LorasScreen

        await library.scan_dir(pilot.app.store, run)
        pilot.app.push_screen(LorasScreen())
        await pilot.pause(0.5)
        await pilot.press("g")
        await _settle(pilot)
        assert isinstance(pilot.app.screen, SweepGridScreen) and pilot.app.screen.folder == folder


async def test_full_view_sends_kitty_graphics_over_a_blank_area(ctx, tmp_path, monkeypatch):
    folder = tmp_path / "sweep"
    make_sweep(folder)
    sent: list[str] = []
    monkeypatch.setattr("loratui.tui.screens.sweeps.grid.write_to_terminal", lambda app, data: sent.append(data))
    monkeypatch.delenv("TMUX", raising=False)  # inside tmux the sequences would be wrapped for its passthrough
    async with _app(ctx, folder, graphics="kitty").run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        await pilot.press("enter")
        for _ in range(40):
            await pilot.pause(0.05)
            if sent:
                break
        assert not pilot.app.screen.query(HalfBlockImage)
        region = pilot.app.screen.query_one("#cell-image").region
        assert sent and sent[0].startswith("\x1b_Ga=d,d=A,q=2\x1b\\")  # the previous image goes first
        # the 48x64 cell image fitted into the area (cells twice as tall as wide), centred
        cols, rows = round(region.height * 16 * 48 / 64 / 8), region.height
        x, y = region.x + (region.width - cols) // 2, region.y
        assert f"\x1b7\x1b[{y + 1};{x + 1}H\x1b_Ga=T,f=100,q=2,c={cols},r={rows}," in sent[0]
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert sent[-1] == "\x1b_Ga=d,d=A,q=2\x1b\\"


async def test_monitor_opens_the_sweeps_of_a_training_and_help_lists_the_grid_keys(ctx, tmp_path):
    from loratui.jobs import repo as job_repo
    from loratui.jobs.model import JobStatus
    from loratui.tui.screens.help import HelpScreen
    from loratui.tui.screens.monitor import MonitorScreen

    run = tmp_path / "output"
    for age, name in enumerate(("a-sweep", "b-sweep")):
        make_sweep(run / "sweeps" / name, run=run)
        os.utime(run / "sweeps" / name / "sweep.json", (1_700_000_000 - age, 1_700_000_000 - age))
    async with LoratuiApp(ctx).run_test(size=(100, 30)) as pilot:
        store = pilot.app.store
        job = await store.run(job_repo.create_job, "train", title="mychar", status=JobStatus.COMPLETED,
                              params={"output_dir": str(run)})
        pilot.app.push_screen(MonitorScreen(store, ctx, job.id))
        await pilot.pause(0.5)
        await pilot.press("g")
        await pilot.pause(0.2)
        picker = pilot.app.screen
        assert [f.name for f in picker.folders] == ["a-sweep", "b-sweep"]  # newest manifest first
        await pilot.press("down", "enter")
        await _settle(pilot)
        assert isinstance(pilot.app.screen, SweepGridScreen) and pilot.app.screen.folder.name == "b-sweep"
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        help_screen = pilot.app.screen
        assert isinstance(help_screen, HelpScreen)
        ids = {entry.id for entry in help_screen.entries}
        assert {"sweep.choose", "sweep.open", "sweep.undo_trash", "sweep_grid.zoom_in"} <= ids


async def test_monitor_lists_a_sweep_job_and_opens_its_grid(ctx, tmp_path):
    """A checkpoint sweep runs in the training queue: the monitor lists its job beside the trainings, and `g` on
    it opens that sweep's own folder."""
    from loratui.jobs import repo as job_repo
    from loratui.jobs.model import JobStatus
    from loratui.tui.screens.monitor import MonitorScreen

    folder = tmp_path / "output" / "sweeps" / "s1"
    make_sweep(folder, run=tmp_path / "output")
    async with LoratuiApp(ctx).run_test(size=(100, 30)) as pilot:
        store = pilot.app.store
        train = await store.run(job_repo.create_job, "train", title="mychar", status=JobStatus.COMPLETED,
                                params={"output_dir": str(tmp_path / "output")})
        sweep = await store.run(job_repo.create_job, "sweep", title="sweep s1 of job 1", status=JobStatus.COMPLETED,
                                params={"sweep_id": "s1", "folder": str(folder)})
        pilot.app.push_screen(MonitorScreen(store, ctx, sweep.id))
        await pilot.pause(0.5)
        assert [job.id for job in pilot.app.screen.jobs] == [sweep.id, train.id]
        await pilot.press("g")
        await _settle(pilot)
        assert isinstance(pilot.app.screen, SweepGridScreen) and pilot.app.screen.folder == folder


@pytest.mark.parametrize("mode, start", [("sixel", '\x1bPq"1;1;'), ("iterm2", "\x1b]1337;File=name=")])
async def test_full_view_sends_sixel_and_iterm2(mode, start, ctx, tmp_path, monkeypatch):
    folder = tmp_path / "sweep"
    make_sweep(folder)
    sent: list[str] = []
    monkeypatch.setattr("loratui.tui.screens.sweeps.grid.write_to_terminal", lambda app, data: sent.append(data))
    monkeypatch.delenv("TMUX", raising=False)
    async with _app(ctx, folder, graphics=mode).run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        await pilot.press("enter")
        for _ in range(40):
            await pilot.pause(0.05)
            if sent:
                break
        assert sent and sent[0].startswith("\x1b7\x1b[") and start in sent[0] and sent[0].endswith("\x1b8")
        count = len(sent)
        await pilot.press("down")  # the next checkpoint is sent in its turn
        for _ in range(40):
            await pilot.pause(0.05)
            if len(sent) > count:
                break
        assert len(sent) > count and start in sent[-1]


def test_sweep_start_fields_make_the_cli_request():
    from loratui.errors import InputError
    from loratui.tui.screens.sweeps.start import sweep_request

    request = sweep_request(7, "1, 2,3", "2", "0.8,1.0", " prompts.txt ")
    assert (request.targets, request.seeds, request.prompts_file) == (["7"], [1, 2, 3], "prompts.txt")
    assert (request.rows.every, request.rows.strengths, request.rows.baseline) == (2, (0.8, 1.0), True)
    assert sweep_request(7, "1", "", "", "").prompts_file is None  # the run's own sample prompts
    for bad in (("x", "1", "1.0", ""), ("", "1", "1.0", ""), ("1", "0", "1.0", ""), ("1", "1", "strong", "")):
        with pytest.raises(InputError):
            sweep_request(7, *bad)


async def test_monitor_starts_a_checkpoint_sweep_of_the_selected_training(ctx, tmp_path, monkeypatch):
    """S on a training asks for seeds / every N / strengths / prompts and queues `lora sweep JOB` with them (the
    sweep job itself is tested against the real and the stand-in scripts in tests/training_run)."""
    from loratui.jobs import repo as job_repo
    from loratui.jobs.model import JobStatus
    from loratui.tui.screens.monitor import MonitorScreen
    from loratui.tui.screens.sweeps.start import SweepStartDialog

    asked = []

    async def start_sweep(store, ctx_, request):
        asked.append(request)
        job = await store.run(job_repo.create_job, "sweep", title="sweep s2", status=JobStatus.QUEUED,
                              params={"sweep_id": "s2", "folder": str(tmp_path / "s2")})
        return {"id": "s2", "folder": str(tmp_path / "s2"), "job_id": job.id, "cells": 12}

    monkeypatch.setattr("loratui.training.sweep.launch.start_sweep", start_sweep)
    async with LoratuiApp(ctx).run_test(size=(80, 24)) as pilot:
        store = pilot.app.store
        train = await store.run(job_repo.create_job, "train", title="mychar", status=JobStatus.COMPLETED,
                                params={"output_dir": str(tmp_path / "output")})
        pilot.app.push_screen(MonitorScreen(store, ctx, train.id))
        await pilot.pause(0.5)
        await pilot.press("g")  # no sweep yet: says how to make one
        await pilot.pause(0.2)
        await pilot.press("S")
        await pilot.pause(0.2)
        assert isinstance(pilot.app.screen, SweepStartDialog)
        pilot.app.screen.query_one("#sweep-seeds").value = "4,5"
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert isinstance(pilot.app.screen, MonitorScreen)
        assert [(r.targets, r.seeds, r.rows.every) for r in asked] == [([str(train.id)], [4, 5], 1)]
        assert pilot.app.screen.job_id == train.id + 1
        assert [job.kind for job in pilot.app.screen.jobs] == ["sweep", "train"]
