"""Pilot tests: the log view widget and the training monitor screen in a small host app."""

from __future__ import annotations

from textual.app import App, ComposeResult

from loratui.store import Store
from loratui.training.run import launch
from loratui.training.run.procgroup import group_members
from loratui.tui.screens.monitor import ACTIONS, MonitorScreen
from loratui.tui.widgets.logview import LogView
from loratui.tui.widgets.lossplot import LossPlot
from loratui.tui.widgets.halfblock import HalfBlockImage
from loratui.tui.widgets.samplestrip import SampleStrip
from loratui.tui.refresh import ChangeFeed
from trhelpers import FIXTURES, job_row, make_plan, wait_status

TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


class LogHost(App):
    def compose(self) -> ComposeResult:
        yield LogView(max_lines=50, id="log")


async def test_logview_collapses_redraws_strips_escapes_bounds_history():
    app = LogHost()
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(LogView)
        data = (FIXTURES / "kohya-logs" / "01_cli_python.stderr.log").read_bytes()
        for i in range(0, len(data), 7):  # split UTF-8 sequences and \r redraws across feeds
            log.feed(data[i:i + 7])
        log.feed(b"\x1b[31mred\x1b[0m and \x1b]0;title\x07bell\x08\n")
        await pilot.pause(0.2)
        lines = [log.line_text(i) for i in range(log.line_count)]
        assert all("\r" not in line and "\x1b" not in line for line in lines)
        assert "red and bell" in lines
        steps = [line for line in lines if line.startswith("steps:")]
        # the 0% bar and the 4/4 bar each with the log record glued to it, then the final redraw
        assert len(steps) == 3 and "epoch is incremented" in steps[0] and "model saved" in steps[1]
        assert "4/4" in steps[-1] and "avr_loss=1.07" in steps[-1]
        assert len(log.lines) <= 50
        found = log.find("model saved")
        assert found is not None and "model saved" in log.line_text(found)
        assert log.find("no such text anywhere") is None


async def test_logview_live_redraw_replaces_current_line():
    app = LogHost()
    async with app.run_test(size=(80, 10)) as pilot:
        log = app.query_one(LogView)
        log.feed("\rsteps:  25%| 1/4")
        await pilot.pause(0.1)
        assert log.current == "steps:  25%| 1/4" and log.line_count == 1
        log.feed("\rsteps:  50%| 2/4\r")
        await pilot.pause(0.1)
        assert log.current == "steps:  50%| 2/4"
        log.feed("steps: 100%| 4/4\ndone\n")
        await pilot.pause(0.1)
        assert list(log.lines) == ["steps: 100%| 4/4", "done"]


async def test_logview_keeps_following_with_long_lines():
    app = LogHost()
    async with app.run_test(size=(40, 10)) as pilot:
        log = app.query_one(LogView)
        for i in range(30):  # lines wider than the view bring a horizontal scrollbar
            log.feed(f"{i:03d} " + "x" * 80 + "\n")
            await pilot.pause(0.03)
        await pilot.pause(0.1)
        assert log.follow and log.scroll_y == log.max_scroll_y > 0
        await pilot.press("home")
        assert not log.follow and log.scroll_y == 0
        log.feed("more\n")
        await pilot.pause(0.1)
        assert log.scroll_y == 0  # the reader scrolled up: new output does not pull the view down
        await pilot.press("end")
        assert log.follow


class MonitorHost(App):
    def __init__(self, ctx, job_id=None) -> None:
        super().__init__()
        self.ctx, self.job_id, self.store = ctx, job_id, None
        self._opened = None

    async def on_load(self) -> None:
        self._opened = Store.open(self.ctx.paths.db)
        self.store = await self._opened.__aenter__()

    async def on_mount(self) -> None:
        self.change_feed = ChangeFeed(self)  # as in LoratuiApp: database changes reach the screens
        await self.change_feed.start()
        self.push_screen(MonitorScreen(self.store, self.ctx, self.job_id))

    async def on_unmount(self) -> None:
        await self._opened.__aexit__(None, None, None)


async def _start(ctx, plan, **kw) -> int:
    async with Store.open(ctx.paths.db) as store:
        return await launch.start_training(store, ctx, plan, **kw)


async def _until(pilot, predicate, timeout=30.0):
    for _ in range(int(timeout / 0.1)):
        if predicate():
            return True
        await pilot.pause(0.1)
    raise AssertionError("condition not reached in the monitor")


def _stats(app) -> str:
    return str(app.screen.query_one("#monitor-stats").render())


async def test_monitor_shows_a_finished_training(ctx, home, tmp_path):
    first = await _start(ctx, make_plan(tmp_path, "08_save_state", name="one"))
    wait_status(home, first, TERMINAL)
    job_id = await _start(ctx, make_plan(tmp_path, "08_save_state", "--samples_at", "2,4", name="two"))
    wait_status(home, job_id, TERMINAL)
    app = MonitorHost(ctx)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = app.screen
        assert isinstance(screen, MonitorScreen) and screen.job_id == job_id  # the newest job
        await _until(pilot, lambda: "completed" in _stats(app))
        assert "step 4/4 (100%)" in _stats(app) and "loss 1.07" in _stats(app)
        plot = screen.query_one(LossPlot)
        assert [label for label, _ in plot.series] == [f"job {job_id}", f"job {first}"]  # overlaid runs
        assert plot.series[0][1] == [(1, 0.963), (2, 1.06), (3, 1.07), (4, 1.07)]
        strip = screen.query_one(SampleStrip)
        await _until(pilot, lambda: len(strip.samples) == 2 and all(
            image.preview is not None for image in strip.query(HalfBlockImage) if image.source is not None))
        assert [step for _, step in strip.samples] == [2, 4]
        cards = [card for card in strip.query(".sample-card") if card.display]
        assert [str(card.query_one(".sample-label").render()) for card in cards] == ["step 2", "step 4"]
        log = screen.query_one(LogView)
        await _until(pilot, lambda: log.line_count > 20)
        assert any("saving checkpoint" in log.line_text(i) for i in range(log.line_count))
        await pilot.press("slash")
        await pilot.press(*"model saved")
        await pilot.press("enter")
        assert log.match is not None and "model saved" in log.line_text(log.match)
        await pilot.press("slash", "escape")  # escape closes the search box, not the monitor
        assert app.screen is screen and not screen.query_one("#monitor-search").display
        await pilot.press("v")  # compare: cycles to the other run
        assert plot.series[-1][0] == f"job {first}" or len(plot.series) == 1


async def test_monitor_follows_live_and_cancels(ctx, home, tmp_path):
    job_id = await _start(ctx, make_plan(tmp_path, "12_sigint_accelerate_group", "--child", step_delay=0.1))
    app = MonitorHost(ctx)
    async with app.run_test(size=(160, 50)) as pilot:
        await _until(pilot, lambda: "step 3/40" in _stats(app))
        assert "training" in _stats(app)
        pgid = job_row(home, job_id)["pgid"]
        await pilot.press("c")  # asks first
        await pilot.pause(0.3)
        assert job_row(home, job_id)["status"] == "training"
        assert any("press c again" in n.message for n in app._notifications)
        await pilot.press("c")
        await _until(pilot, lambda: job_row(home, job_id)["status"] == "cancelled")
        await _until(pilot, lambda: "cancelled" in _stats(app))
        assert not group_members(pgid)


async def test_monitor_queue_keys_and_resume(ctx, home, tmp_path):
    failed = await _start(ctx, make_plan(tmp_path, "08_save_state", "--crash_after", name="f", total_steps=6))
    wait_status(home, failed, TERMINAL)
    running = await _start(ctx, make_plan(tmp_path, "12_sigint_accelerate_group", name="r", step_delay=0.05))
    a = await _start(ctx, make_plan(tmp_path, name="a"))
    b = await _start(ctx, make_plan(tmp_path, name="b"))
    app = MonitorHost(ctx, job_id=b)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = app.screen
        await _until(pilot, lambda: screen.job is not None and screen.job.id == b)
        await pilot.press("left_square_bracket")
        await _until(pilot, lambda: job_row(home, b)["queue_position"] == 1)
        assert job_row(home, a)["queue_position"] == 2
        await pilot.press("x")
        await _until(pilot, lambda: job_row(home, b)["status"] == "cancelled")
        # resume the failed one: it queues behind the running job and job a
        screen.job_id = failed
        await screen.refresh_data()
        await pilot.press("r")
        await _until(pilot, lambda: screen.job_id not in (failed, None) and screen.job.parent_id == failed)
        resumed = screen.job_id
        assert job_row(home, resumed)["status"] == "queued"
        async with Store.open(ctx.paths.db) as store:
            await launch.cancel_training(store, ctx, running)
    assert wait_status(home, resumed, TERMINAL, timeout=60)["status"] == "completed"
    assert job_row(home, resumed)["step"] == 6


def test_monitor_action_is_declared():
    assert [a.id for a in ACTIONS] == ["monitor.open"] and ACTIONS[0].key == "J"
    bindings = MonitorScreen.BINDINGS
    assert all(b.id and b.description for b in bindings)


def test_braille_plot_and_halfblock(tmp_path):
    from PIL import Image

    from loratui.tui.preview_render import render_preview
    from loratui.tui.widgets.lossplot import braille_rows

    grids, axes = braille_rows([[(0, 2.0), (10, 1.0)], [(5, 1.5)]], 5, 2)
    assert axes == (0, 10, 1.0, 2.0)
    first, second = grids
    assert first[0][0] & 0x01  # step 0 at the top left (highest loss)
    assert first[1][4] & 0x80  # step 10 at the bottom right (lowest loss)
    assert sum(bin(bits).count("1") for row in second for bits in row) == 1  # one point, no line
    image = Image.new("RGB", (4, 4), (255, 0, 0))
    image.paste((0, 0, 255), (0, 2, 4, 4))  # bottom half blue
    path = tmp_path / "s.png"
    image.save(path)
    preview = render_preview(path, 4, 2)
    assert len(preview.strips) == 2 and preview.cells_w == 4
    top = list(preview.strips[0])[0].style
    assert top.color.triplet.hex == "#ff0000" and top.bgcolor.triplet.hex == "#ff0000"
    bottom = list(preview.strips[1])[0].style
    assert bottom.color.triplet.hex == "#0000ff" and bottom.bgcolor.triplet.hex == "#0000ff"
