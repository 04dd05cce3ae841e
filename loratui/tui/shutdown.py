"""Ending the TUI from outside: SIGHUP, SIGTERM or a terminal that went away save the pending caption edit first.

Textual 8 leaves SIGHUP and SIGTERM at their defaults: the process dies at once, the text in the caption editor is
lost, and after SIGTERM the terminal stays raw on the alternate screen. Its Linux driver handles only SIGTSTP and
SIGCONT (suspend, resume) and SIGWINCH. While the app runs, ExitGuard takes SIGHUP and SIGTERM over:

- The handler (``signal.signal``: it runs in the main thread even while the event loop is blocked, e.g. in a
  write to a stalled terminal, where ``loop.add_signal_handler``'s callback would never run) only records the
  signal, starts the watchdog and schedules the save on the event loop.
- On the loop, the caption being edited is saved through ``MainScreen.save_current`` (atomic, journaled, with the
  on-disk conflict check). If the file changed on disk since it was loaded, or the save fails or takes longer than
  SAVE_TIMEOUT_S, the text is kept in ``HOME/recovered`` instead (loratui.datasets.kept_edits). Then the app
  exits the usual way (terminal restored when it is still there) with status 128 + the signal number.
- Signals that arrive meanwhile are logged and ignored: the write must not be interrupted.
- A watchdog ends the process EXIT_DEADLINE_S after the first signal whatever happens (a hung disk, a blocked
  loop); if the save never started it first keeps the edit aside.

A hung-up terminal shows as a failed write or read (loratui.tui.terminal) before, or without, a SIGHUP: it is
handled as SIGHUP. The SIGCONT the kernel sends along with a hangup would make Textual restart application mode on
the dead terminal (another input thread that never ends): it is ignored once the terminal is gone.
Every step is logged to fd 2, which is ``HOME/tui-stderr.log`` while the TUI runs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from loratui.datasets.kept_edits import UnsavedEdit, keep_edit, kept_edits
from loratui.tui.terminal import restore_modes, terminal_alive, terminal_modes

if TYPE_CHECKING:
    from loratui.tui.app import LoratuiApp
    from loratui.tui.screens.main import MainScreen

SAVE_TIMEOUT_S = 5.0
EXIT_DEADLINE_S = 10.0
CHANGED_ON_DISK = "the caption changed on disk since it was loaded"
HANDLED = tuple(getattr(signal, name) for name in ("SIGHUP", "SIGTERM") if hasattr(signal, name))


class ExitGuard:
    """Saves the pending caption edit and exits when a signal or a hangup ends the session (see module doc)."""

    def __init__(self, recovered: Path, *, save_timeout: float = SAVE_TIMEOUT_S,
                 deadline: float = EXIT_DEADLINE_S) -> None:
        self.recovered = recovered
        """Where edits that cannot be saved are kept (Paths.recovered)."""
        self.save_timeout = save_timeout
        self.deadline = deadline
        self.signum: int | None = None
        """The signal being handled (SIGHUP for a terminal that hung up); None while none is."""
        self.outcome = ""
        """What became of the pending edit, once handled."""
        self._app: LoratuiApp | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, object] = {}
        self._task: asyncio.Task | None = None
        self._watchdog: threading.Timer | None = None
        self._save_started = False
        self._tty = _stdin_fd()
        # Cooked modes, for the watchdog's last resort (the app switches the terminal to raw mode).
        self._modes = terminal_modes(self._tty) if self._tty is not None else None

    @property
    def exit_code(self) -> int:
        """128 + the signal number once a signal (or hangup) is handled, else 0."""
        return 128 + self.signum if self.signum else 0

    # -- installing -------------------------------------------------------------------------------------

    def install(self, app: LoratuiApp) -> None:
        """Take SIGHUP and SIGTERM over for `app` and guard Textual's SIGCONT; call on the app's event loop."""
        self._app = app
        self._loop = asyncio.get_running_loop()
        for signum in HANDLED:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        textual_sigcont = signal.getsignal(signal.SIGCONT)
        if callable(textual_sigcont):
            self._previous[signal.SIGCONT] = signal.signal(signal.SIGCONT, self._sigcont_guard(textual_sigcont))

    def uninstall(self) -> None:
        """Give the signals back, unless an exit is under way (then they stay ignored until the process ends)."""
        if self.signum is not None:
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        self._loop = None

    def terminal_lost(self) -> bool:
        """The terminal hung up (called from any thread): handled as SIGHUP. False when not installed."""
        return self._schedule(self._lost)

    # -- handling ---------------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame) -> None:
        # Runs in the main thread between two bytecodes, maybe in the middle of the loop's own work:
        # record, start the clock and hand over to the loop, nothing more.
        name = signal.Signals(signum).name
        if self.signum is not None:
            self._log(f"{name} while exiting: ignored")
            return
        self.signum = signum
        self._log(f"{name}: saving the caption being edited, then exiting")
        self._start_watchdog()
        self._schedule(self._begin)

    def _sigcont_guard(self, textual_handler):
        tty_at_start = self._tty is not None and terminal_alive(self._tty)

        def on_sigcont(signum, frame) -> None:
            if self.signum is not None or (tty_at_start and not terminal_alive(self._tty)):
                return
            textual_handler(signum, frame)

        return on_sigcont

    def _lost(self) -> None:
        if self.signum is None:
            self.signum = signal.SIGHUP
            self._log("the terminal hung up: saving the caption being edited, then exiting")
            self._start_watchdog()
        self._begin()

    def _begin(self) -> None:
        if self._task is None and self._app is not None:
            self._task = asyncio.ensure_future(self._save_and_exit())

    async def _save_and_exit(self) -> None:
        app = self._app
        self._save_started = True
        try:
            self.outcome = await save_pending_edit(app.main_screen, self.recovered, self.save_timeout)
        except Exception as exc:  # noqa: BLE001 - whatever happened, the process must still exit
            self.outcome = f"saving failed: {exc!r}"
        self._log(self.outcome)
        app.exit(return_code=self.exit_code)

    def _schedule(self, callback) -> bool:
        loop = self._loop
        if loop is None:
            return False
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop is closed: the app is gone already
            return False
        return True

    # -- last resort ------------------------------------------------------------------------------------

    def _start_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Timer(self.deadline, self._hard_exit)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _hard_exit(self) -> None:
        if not self._save_started:
            # The loop never got to the save (blocked): it is not running our code, so reading the editor is safe.
            main = self._app.main_screen if self._app is not None else None
            try:
                edit = main.pending_edit() if main is not None else None
            except Exception:  # noqa: BLE001
                edit = None
            if edit is not None:
                self._log(keep_aside(self.recovered, edit, f"the app did not respond for {self.deadline:g} s"))
        self._log(f"still running {self.deadline:g} s after the signal: exiting now")
        if self._tty is not None and self._modes is not None and terminal_alive(self._tty):
            restore_modes(self._tty, self._modes)
        os._exit(self.exit_code)

    @staticmethod
    def _log(message: str) -> None:
        # os.write: unbuffered, safe from a signal handler and the watchdog thread; fd 2 is the TUI's log file.
        try:
            os.write(2, f"{time.strftime('%Y-%m-%d %H:%M:%S')} loratui: {message}\n".encode("utf-8", "replace"))
        except OSError:
            pass


async def save_pending_edit(main: MainScreen | None, recovered: Path, timeout: float) -> str:
    """Save the caption being edited without asking anyone; returns what happened, in words.

    Saved through ``main.save_current()`` when it can be. When the caption changed on disk since it was loaded,
    the save fails, or it takes longer than `timeout` seconds, the text is kept under `recovered` instead.
    """
    edit = main.pending_edit() if main is not None else None
    if edit is None:
        return "no unsaved caption edit"
    if edit.changed_on_disk():
        # Checked here too so that save_current does not open its "overwrite?" dialog while the app exits. The
        # journal checks again when it writes: a change in between is refused there, and the text kept below.
        return keep_aside(recovered, edit, CHANGED_ON_DISK)
    why = ""
    try:
        saved = await asyncio.wait_for(main.save_current(), timeout)
    except asyncio.TimeoutError:
        saved, why = False, f"saving took longer than {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - the text must be kept whatever went wrong
        saved, why = False, f"saving failed: {exc}"
    if saved:
        return f"saved the caption edit of {edit.dataset}: {edit.rel_caption}"
    if not why:
        why = CHANGED_ON_DISK if edit.changed_on_disk() else "the save failed"
    return keep_aside(recovered, edit, why)


def keep_aside(recovered: Path, edit: UnsavedEdit, why: str) -> str:
    """Keep `edit` under `recovered`; returns what happened (the text itself when even that fails)."""
    try:
        path = keep_edit(recovered, edit, why)
    except (OSError, ValueError) as exc:  # a full or read-only disk, text that cannot be encoded
        return f"{why}; keeping the edit aside failed too ({exc}); its text: {edit.text!r}"
    return f"{why}: the edit of {edit.dataset}: {edit.rel_caption} is kept in {path}"


def announce_kept_edits(app: LoratuiApp) -> None:
    """Tell the user about caption edits kept aside by an earlier exit (every start, until they are deleted)."""
    folder = app.ctx.paths.recovered
    kept = kept_edits(folder)
    if not kept:
        return
    names = ", ".join(str(path.relative_to(folder)) for path in kept[:3]) + (" ..." if len(kept) > 3 else "")
    app.notify(f"{len(kept)} caption edit(s) could not be saved when loratui was ended: {names}. They are in "
               f"{folder} (why: recovered.log); merge them into the captions, then delete them.",
               title="Unsaved edits kept", severity="warning", timeout=30)


def _stdin_fd() -> int | None:
    try:
        fd = sys.__stdin__.fileno()
    except (AttributeError, ValueError, OSError):
        return None
    return fd if terminal_alive(fd) else None
