"""The run comparison: the curve renderer (a pure function), the screen at 80x24 and 160x48 (snapshots), its
keys, and how the monitor and the LoRA library open it."""

from __future__ import annotations

import asyncio

import pytest

from loratui.jobs import repo as job_repo
from loratui.jobs.model import JobStatus
from loratui.store import Store
from loratui.training.run import sweep_repo
from loratui.tui.app import LoratuiApp
from loratui.tui.screens.compare import CompareScreen
from loratui.tui.screens.monitor import MonitorScreen, group_sweeps
from loratui.tui.widgets.curveplot import PALETTE, render_curves

from .conftest import make_demo_home, settle

RUNS = [("tiny-lr1e-4-dim8", 1e-4, 8), ("tiny-lr1e-4-dim16", 1e-4, 16), ("tiny-lr5e-5-dim8", 5e-5, 8)]


def _seed(conn, home) -> None:
    """Three completed trainings of one training sweep, each with a saved config and 300 steps of loss."""
    runs = []
    for index, (name, lr, dim) in enumerate(RUNS):
        job = job_repo.create_job(conn, "train", title=name, status=JobStatus.COMPLETED)
        folder = home / "jobs" / str(job.id)
        folder.mkdir(parents=True)
        (folder / "loratui_config.toml").write_text(
            f'backend = "kohya"\nfamily = "sd15"\ndataset = "demo"\n\n[args]\nlearning_rate = {lr}\n'
            f'network_dim = {dim}\noutput_name = "{name}"\nmax_train_epochs = 10\n')
        job_repo.update_job(conn, job.id, workdir=str(folder), started_at=1_700_000_000.0,
                            finished_at=1_700_000_000.0 + 600 + 60 * index)
        metrics = {s: (1 + (s - 1) // 30, 0.2 - (0.03 + 0.02 * index) * s / 300 + 0.01 * ((s * 7) % 5) / 5, 0.0)
                   for s in range(1, 301)}
        job_repo.record_progress(conn, job.id, {"step": 300, "total_steps": 300, "epoch": 10, "epochs": 10},
                                 metrics=metrics)
        runs.append(sweep_repo.SweepRun(job.id, name.removeprefix("tiny-"), {"learning_rate": lr,
                                                                            "network_dim": dim}))
    sweep_repo.create_sweep(conn, "tiny", "/configs/tiny.toml",
                            [("learning_rate", ["1e-4", "5e-5"]), ("network_dim", ["8", "16"])], runs)


@pytest.fixture
def compare_ctx(home):
    ctx = make_demo_home(home)

    async def seed():
        async with Store.open(ctx.paths.db) as store:
            await store.run(_seed, home)

    asyncio.run(seed())
    return ctx


# -- the renderer ----------------------------------------------------------------------------------------------
def test_render_curves_fits_the_size_with_one_colour_per_run():
    series = [(f"run {i}", [(float(s), i + 1.0 / s) for s in range(1, 200)]) for i in range(3)]
    lines = render_curves(series, 60, 12)
    assert len(lines) == 12 and all(line.cell_len <= 60 for line in lines)
    plot = lines[:10]
    assert plot[0].plain.split("│")[0].strip() == "3" and plot[-1].plain.split("│")[0].strip() == "0.00502"  # cut to the label column
    colours = {str(span.style) for line in plot for span in line.spans} - {"dim"}
    assert colours == set(PALETTE[:3])
    assert "step 1–199" in lines[10].plain and "run 0" in lines[11].plain and "run 2" in lines[11].plain
    narrow = render_curves([(f"a long run label {i}", [(0.0, 1.0), (1.0, 0.5)]) for i in range(4)], 40, 10)
    assert len(narrow) == 10 and all(line.cell_len <= 40 for line in narrow)
    legend = [line.plain for line in narrow if "■" in line.plain]
    assert len(legend) >= 2  # wrapped, and every run is still named
    assert all(any(f"label {i}" in line for line in legend) for i in range(4))
    assert render_curves([("x", [])], 40, 10)[0].plain.startswith("no loss values")
    hostile = render_curves([("\x1b[31mred", [(0.0, 1.0), (1.0, 2.0)])], 40, 6)
    assert "\x1b" not in "".join(line.plain for line in hostile)


def test_monitor_groups_a_sweeps_runs_together():
    from loratui.jobs.model import Job

    jobs = [Job(id=i, kind="train", title=str(i), status=JobStatus.COMPLETED) for i in (9, 8, 7, 6, 5)]
    grouped = group_sweeps(jobs, {9: (1, "a"), 6: (1, "b"), 5: (1, "c")})
    assert [j.id for j in grouped] == [9, 6, 5, 8, 7]


# -- the screen ----------------------------------------------------------------------------------------------
async def test_keys_change_smoothing_and_axis_and_monitor_opens_it(compare_ctx):
    app = LoratuiApp(compare_ctx, "demo")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await app.push_screen(MonitorScreen(app.store, app.ctx))
        await pilot.pause(0.3)
        monitor = app.screen
        assert [j.id for j in monitor.jobs] == [3, 2, 1]  # one sweep, grouped
        await pilot.press("V")  # the selected run belongs to a training sweep: its runs are compared
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.comparison.sweep_id == 1
        title = str(screen.query_one("#compare-title").render())
        assert "3 runs of training sweep 1" in title and "by step" in title and "raw" in title
        assert screen.comparison.differing == ["args.learning_rate", "args.network_dim"]
        await pilot.press("s")
        await pilot.press("e")
        await pilot.pause(0.1)
        title = str(screen.query_one("#compare-title").render())
        assert "EMA 0.6" in title and "by epoch" in title
        assert screen.query_one("#compare-plot").x_name == "epoch"
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is monitor
        monitor.job_id = 1
        await monitor.refresh_data()
        await pilot.press("space")
        monitor.job_id = 3
        await monitor.refresh_data()
        await pilot.press("space")
        assert monitor.marked == [1, 3]
        await pilot.press("V")
        await pilot.pause(0.5)
        assert isinstance(app.screen, CompareScreen) and [r.job.id for r in app.screen.comparison.runs] == [1, 3]


async def test_a_failed_load_is_reported_and_closes(compare_ctx):
    app = LoratuiApp(compare_ctx, "demo")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        before = app.screen
        await app.push_screen(CompareScreen(app.store, app.ctx, [1, 99]))
        await pilot.pause(0.3)
        assert app.screen is before
        assert any("no job with id 99" in str(n.message) for n in app._notifications)


def _open_sweep(keys=()):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(pilot, app)
        await app.push_screen(CompareScreen(app.store, app.ctx, sweep_id=1))
        await pilot.pause(0.5)
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.2)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot(size, compare_ctx, snap_compare):
    assert snap_compare(LoratuiApp(compare_ctx, "demo"), terminal_size=size, run_before=_open_sweep(["s", "s"]))
