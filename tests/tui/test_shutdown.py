"""Ending the TUI from outside, in process: kept edits, the guarded terminal stream and driver, saving without
asking, the signal handling of ExitGuard and its watchdog. tests/tui/test_tmux_signals.py does it for real."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from pathlib import Path

import pytest
from textual.drivers.linux_driver import LinuxDriver

from loratui.datasets.kept_edits import LOG_NAME, UnsavedEdit, keep_edit, kept_edits
from loratui.tui import shutdown
from loratui.tui.app import LoratuiApp
from loratui.tui.shutdown import ExitGuard, save_pending_edit
from loratui.tui.terminal import GuardedStream, terminal_driver

from .conftest import settle


def _edit(tmp_path: Path, text: str = "a, b", dataset: str = "set", rel: str = "10_x/img.txt") -> UnsavedEdit:
    return UnsavedEdit(dataset, rel, tmp_path / "data" / rel, text, None)


# -- kept edits ---------------------------------------------------------------------------------------------


def test_kept_edits_never_overwrite_and_are_listed_with_a_log(tmp_path):
    folder = tmp_path / "recovered"
    first = keep_edit(folder, _edit(tmp_path, "first"), "why one")
    second = keep_edit(folder, _edit(tmp_path, "second"), "why two")
    assert first == folder / "set" / "10_x" / "img.txt" and first.read_text(encoding="utf-8") == "first"
    assert second == folder / "set" / "10_x" / "img.1.txt" and second.read_text(encoding="utf-8") == "second"
    (folder / "set" / ".img.txt.tmp").write_text("unfinished", encoding="utf-8")
    assert kept_edits(folder) == [first, second]
    log = (folder / LOG_NAME).read_text(encoding="utf-8").splitlines()
    assert len(log) == 2 and "set/10_x/img.txt" in log[0] and log[0].endswith("why one")
    assert kept_edits(tmp_path / "nothing") == []


def test_kept_edits_stay_inside_their_folder(tmp_path):
    folder = tmp_path / "recovered"
    path = keep_edit(folder, _edit(tmp_path, dataset="../..", rel="../../etc/x.txt"), "why")
    assert path.read_text(encoding="utf-8") == "a, b"
    assert ".." not in path.relative_to(folder).parts and path.parts[-2:] == ("etc", "x.txt")


def test_changed_on_disk_compares_with_the_loaded_mtime(tmp_path):
    caption = tmp_path / "c.txt"
    assert not UnsavedEdit("d", "c.txt", caption, "x", None).changed_on_disk()
    caption.write_text("now there", encoding="utf-8")
    assert UnsavedEdit("d", "c.txt", caption, "x", None).changed_on_disk()
    assert not UnsavedEdit("d", "c.txt", caption, "x", caption.stat().st_mtime_ns).changed_on_disk()


# -- the terminal going away --------------------------------------------------------------------------------


class _DeadTerminal:
    def __init__(self, error: int = errno.EIO) -> None:
        self.error = error
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise OSError(self.error, os.strerror(self.error))

    def flush(self) -> None:
        raise OSError(self.error, os.strerror(self.error))

    def close(self) -> None:
        self.flush()

    def isatty(self) -> bool:
        return True


def test_guarded_stream_reports_a_lost_terminal_once_then_drops_output():
    calls = []
    dead = _DeadTerminal()
    stream = GuardedStream(dead, lambda: calls.append(1))
    assert stream.write("frame") == 5 and stream.lost and calls == [1]
    stream.write("another frame")
    stream.flush()
    stream.close()
    assert dead.writes == 1 and calls == [1] and not stream.isatty()


def test_guarded_stream_raises_errors_that_are_not_a_hangup():
    calls = []
    stream = GuardedStream(_DeadTerminal(errno.EAGAIN), lambda: calls.append(1))
    with pytest.raises(BlockingIOError):
        stream.write("frame")
    assert not stream.lost and calls == []


@pytest.mark.parametrize("handled, error, ends_quietly", [
    (True, errno.EIO, True), (False, errno.EIO, False), (True, errno.EACCES, False),
])
def test_driver_input_thread_hands_a_hangup_to_the_guard(monkeypatch, handled, error, ends_quietly):
    def failing_read(self):
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(LinuxDriver, "run_input_thread", failing_read)
    calls = []
    driver_class = terminal_driver(_DeadTerminal(), lambda: calls.append(1) or handled)
    driver = object.__new__(driver_class)  # no __init__: it would install Textual's signal handlers here
    if ends_quietly:
        driver.run_input_thread()
    else:
        with pytest.raises(OSError):  # Textual's own handling: the app exits with the error
            driver.run_input_thread()
    assert calls == ([] if error == errno.EACCES else [1])


# -- saving without asking ----------------------------------------------------------------------------------


def _edit_elsewhere(caption) -> None:
    """Another program rewrites the caption (with a later mtime, whatever the file system's resolution)."""
    caption.write_text("edited elsewhere", encoding="utf-8")
    st = caption.stat()
    os.utime(caption, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000))


async def _app_with_edit(demo_ctx, pilot, app, typed: str = ", pending"):
    await settle(pilot, app)
    main = app.main_screen
    await pilot.press("e", *typed)
    caption = main.loaded.path
    return main, caption, caption.read_text(encoding="utf-8")


async def test_save_pending_edit_saves_through_the_journal(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        main, caption, original = await _app_with_edit(demo_ctx, pilot, app)
        outcome = await save_pending_edit(main, demo_ctx.paths.recovered, 5.0)
        assert outcome.startswith("saved the caption edit of demo: ")
        assert caption.read_text(encoding="utf-8") == original + ", pending"
        assert main.pending_edit() is None
        assert await save_pending_edit(main, demo_ctx.paths.recovered, 5.0) == "no unsaved caption edit"
    assert not demo_ctx.paths.recovered.exists()


async def test_save_pending_edit_keeps_the_text_when_the_file_changed(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        main, caption, original = await _app_with_edit(demo_ctx, pilot, app)
        _edit_elsewhere(caption)
        outcome = await save_pending_edit(main, demo_ctx.paths.recovered, 5.0)
        await pilot.pause()
        assert app.screen is main  # nobody to ask: no "overwrite?" dialog
    assert "changed on disk" in outcome
    assert caption.read_text(encoding="utf-8") == "edited elsewhere"
    [kept] = kept_edits(demo_ctx.paths.recovered)
    assert kept.read_text(encoding="utf-8") == original + ", pending"
    assert kept == demo_ctx.paths.recovered / "demo" / caption.relative_to(demo_ctx.paths.demo)


async def test_the_edit_an_open_overwrite_dialog_is_about_is_kept(demo_ctx):
    from loratui.tui.screens.confirm import ConfirmScreen

    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        main, caption, original = await _app_with_edit(demo_ctx, pilot, app)
        _edit_elsewhere(caption)
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen) and not main.dirty  # the hangup comes now
        outcome = await save_pending_edit(main, demo_ctx.paths.recovered, 5.0)
    assert "changed on disk" in outcome and caption.read_text(encoding="utf-8") == "edited elsewhere"
    assert [p.read_text(encoding="utf-8") for p in kept_edits(demo_ctx.paths.recovered)] == [original + ", pending"]


async def test_save_pending_edit_gives_up_on_a_hung_save(demo_ctx, monkeypatch):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        main, caption, original = await _app_with_edit(demo_ctx, pilot, app)

        async def hung() -> bool:
            await asyncio.sleep(60)
            return True

        monkeypatch.setattr(main, "save_current", hung)
        outcome = await save_pending_edit(main, demo_ctx.paths.recovered, 0.2)
    assert "longer than 0.2 s" in outcome
    assert caption.read_text(encoding="utf-8") == original
    assert [p.read_text(encoding="utf-8") for p in kept_edits(demo_ctx.paths.recovered)] == [original + ", pending"]


# -- signals and the watchdog -------------------------------------------------------------------------------


class _FakeMain:
    def __init__(self, edit: UnsavedEdit | None = None) -> None:
        self.edit = edit
        self.saves = 0

    def pending_edit(self):
        return self.edit

    async def save_current(self) -> bool:
        self.saves += 1
        await asyncio.sleep(0.1)
        self.edit = None
        return True


class _FakeApp:
    def __init__(self, main) -> None:
        self.main_screen = main
        self.return_codes: list[int] = []

    def exit(self, return_code: int = 0) -> None:
        self.return_codes.append(return_code)


@pytest.fixture
def own_signals():
    """Put back this process's handlers after a test that let ExitGuard take them (it keeps them once used)."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGCONT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


async def test_a_signal_saves_once_then_exits_with_128_plus_its_number(tmp_path, own_signals):
    main = _FakeMain(_edit(tmp_path))
    app = _FakeApp(main)
    guard = ExitGuard(tmp_path / "recovered", deadline=60)
    guard.install(app)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGHUP)  # while saving: ignored
        for _ in range(100):
            await asyncio.sleep(0.02)
            if app.return_codes:
                break
        assert app.return_codes == [128 + signal.SIGTERM] and guard.exit_code == 143
        assert main.saves == 1 and guard.outcome.startswith("saved the caption edit of set")
        assert signal.getsignal(signal.SIGTERM) == guard._on_signal  # still ours until the process ends
    finally:
        guard._watchdog.cancel()


async def test_sigcont_reaches_textual_only_while_no_exit_is_under_way(tmp_path, own_signals):
    resumed = []
    signal.signal(signal.SIGCONT, lambda signum, frame: resumed.append(signum))
    textual_sigcont = signal.getsignal(signal.SIGCONT)
    sigterm_before = signal.getsignal(signal.SIGTERM)
    guard = ExitGuard(tmp_path / "recovered")
    guard.install(_FakeApp(_FakeMain()))
    os.kill(os.getpid(), signal.SIGCONT)
    await asyncio.sleep(0.05)
    assert resumed == [signal.SIGCONT]
    guard.signum = signal.SIGHUP  # as the hangup's SIGHUP, handled just before the SIGCONT that comes with it
    os.kill(os.getpid(), signal.SIGCONT)
    await asyncio.sleep(0.05)
    assert resumed == [signal.SIGCONT]
    guard.signum = None
    guard.uninstall()
    assert signal.getsignal(signal.SIGCONT) == textual_sigcont and signal.getsignal(signal.SIGTERM) == sigterm_before


def test_watchdog_keeps_the_edit_when_the_loop_never_saved(tmp_path, monkeypatch):
    exits = []
    monkeypatch.setattr(shutdown.os, "_exit", exits.append)
    guard = ExitGuard(tmp_path / "recovered", deadline=0.1)
    guard._app = _FakeApp(_FakeMain(_edit(tmp_path, "typed text")))
    guard.signum = signal.SIGHUP
    guard._hard_exit()
    assert exits == [129]
    assert [p.read_text(encoding="utf-8") for p in kept_edits(tmp_path / "recovered")] == ["typed text"]
