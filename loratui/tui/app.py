"""The loratui terminal app: `run_app(ctx)` opens it; feature screens plug in through ScreenActions."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from functools import partial
from pathlib import Path
from typing import Iterable

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from loratui.config import Context
from loratui.errors import LoratuiError, StorageError
from loratui.redact import redact_text
from loratui.store import Store
from loratui.text import literal
from loratui.tui.extensions import ScreenAction
from loratui.tui.gc_pacer import CHECK_S, GcPacer
from loratui.tui.keys import KeyEntry, class_entries, display_keys, known_binding_ids, screen_entries, section_name
from loratui.tui.refresh import ChangeFeed
from loratui.tui.screens import discover_actions
from loratui.tui.screens.help import HelpScreen
from loratui.tui.screens.main import MainScreen
from loratui.tui.shutdown import ExitGuard, announce_kept_edits
from loratui.tui.terminal import GuardedStream, ensure_truecolor, stderr_to_file, terminal_alive, terminal_driver
from loratui.tui.textual_compat import add_binding

STDERR_LOG = "tui-stderr.log"


class LoratuiApp(App):
    """The app. ``ctx`` (paths, settings), ``store`` (open for the app's lifetime) and ``current_dataset``."""

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses elsewhere find it too
    TITLE = "loratui"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit_anywhere", show=False, priority=True),
    ]

    def __init__(self, ctx: Context, dataset: str | None = None, open_screen=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self.initial_dataset = dataset
        self.open_screen = open_screen
        """A factory (app -> Screen) of a screen to open over the main screen at start (`lora grid --open`)."""
        self.store: Store | None = None
        self.screen_actions: list[ScreenAction] = []
        self.screen_actions_ready = False
        """True once the feature screens' keys are bound (shortly after start: see register_screen_actions)."""
        self._stack = contextlib.AsyncExitStack()
        self.main_screen: MainScreen | None = None
        self.gc_pacer = GcPacer()
        """Runs the garbage collector's full passes while input is idle (see loratui.tui.gc_pacer)."""
        self.change_feed = ChangeFeed(self)
        """Turns database changes (this process's and others') into refreshes (see loratui.tui.refresh)."""
        self.exit_guard: ExitGuard | None = None
        """Set by run_app: saves the pending edit on SIGHUP, SIGTERM or a hangup (see loratui.tui.shutdown)."""
        self.startup_error: LoratuiError | None = None
        """Why the database could not be opened (the app then exits at once and run_app raises it)."""
        self.user_keymap = dict(ctx.settings.ui.keys)
        """Binding id -> keys from config.toml's [ui.keys], as given to set_keymap (the help screen shows them)."""
        self.set_keymap(self.user_keymap)

    # -- lifetime -----------------------------------------------------------------------------------------

    async def on_load(self) -> None:
        try:
            self.store = await self._stack.enter_async_context(Store.open(self.ctx.paths.db))
        except LoratuiError as exc:  # a damaged database, a full disk: run_app says it on the terminal
            self.startup_error = exc
            self.exit(2)

    async def on_mount(self) -> None:
        if self.startup_error is not None:
            return
        if self.exit_guard is not None:
            self.exit_guard.install(self)
        await self.change_feed.start()
        self.gc_pacer.start()
        self.set_interval(CHECK_S, self.gc_pacer.tick, name="gc-pacer")
        self.register_screen_actions()
        self.main_screen = MainScreen(self.initial_dataset, self.ctx.settings.ui.preview != "none")
        self.push_screen(self.main_screen)
        if self.open_screen is not None:
            self.push_screen(self.open_screen(self))
        announce_kept_edits(self)

    def register_screen_actions(self) -> None:
        """Bind the keys of the feature screens (discovered in loratui.tui.screens); runs once, at start.

        Importing them takes ~150 ms. It happens before the main screen shows: done later, the blocked event loop
        would hand every key typed meanwhile to the widget focused before them ("e" and the caption text after it
        would all go to the image list, since the editor takes the focus only once the screen handles the "e").
        """
        if self.screen_actions_ready:
            return
        self.screen_actions = discover_actions()
        for action in self.screen_actions:
            # Not in the footer (it would not fit at 80 columns); `?` and the command palette list them.
            add_binding(self, Binding(action.key, f"open_screen({action.id!r})", action.description, id=action.id,
                                      show=False))
        self.refresh_bindings()
        self.screen_actions_ready = True
        known = known_binding_ids() | {action.id for action in self.screen_actions}
        unknown = sorted(set(self.ctx.settings.ui.keys) - known)
        if unknown:
            self.notify(f"config.toml [ui.keys]: unknown binding ids {', '.join(unknown)} (see ? for ids)",
                        severity="warning")

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self.gc_pacer.input_seen()
        await super().on_event(event)

    async def on_unmount(self) -> None:
        if self.exit_guard is not None:
            self.exit_guard.uninstall()
        self.change_feed.stop()
        self.gc_pacer.stop()
        await self._stack.aclose()
        self.store = None

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification (widgets' and screens' ``notify`` end here) shows its text literally: no markup,
        control characters escaped, secrets in URLs redacted; file and dataset names in messages are untrusted."""
        super().notify(literal(redact_text(message), newlines=True), title=literal(redact_text(title)),
                       severity=severity, timeout=timeout, markup=False)

    @property
    def current_dataset(self):
        """The dataset open in the main screen (loratui.datasets.dataset_repo.Dataset) or None."""
        return self.main_screen.dataset if self.main_screen is not None else None

    @property
    def current_image_ids(self) -> list[int] | None:
        """The images the list shows when it is narrowed (a filter or a subset), in list order; else None."""
        main = self.main_screen
        if main is None or main.target is None or (not main.filter_text and main.target.subset_id is None):
            return None
        image_list = main.image_list
        return [image_list.rows.ids[row] for row in image_list.view]

    # -- actions ------------------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Save the caption being edited, then leave (a changed-on-disk caption asks first)."""
        if self.main_screen is not None and not await self.main_screen.save_current():
            return
        self.exit(0)

    def action_help(self) -> None:
        """Show the keys of the screen on top (and the global ones)."""
        if not isinstance(self.screen, HelpScreen):
            screen = self.screen
            self.push_screen(HelpScreen(self.keys_for(screen), section_name(type(screen))))

    def action_open_screen(self, action_id: str) -> None:
        """Push the screen a ScreenAction's factory builds (it may return None after saying why)."""
        action = next((a for a in self.screen_actions if a.id == action_id), None)
        if action is None:
            return
        screen = action.factory(self)
        if isinstance(screen, Screen):
            self.push_screen(screen)

    # -- keys: help screen, command palette (see loratui.tui.keys) -----------------------------------------

    def global_keys(self) -> list[KeyEntry]:
        """The keys that work on every screen: the app's own, the command palette and the feature screens'."""
        keymap = self.user_keymap
        entries = class_entries(type(self), keymap, self, "everywhere")
        entries.append(KeyEntry("everywhere", "", display_keys(self.COMMAND_PALETTE_BINDING),
                                "Command palette: every action of this screen", "command_palette", self,
                                self.COMMAND_PALETTE_BINDING))
        for action in self.screen_actions:
            keys = keymap.get(action.id, action.key)
            entries.append(KeyEntry("screens", action.id, display_keys(keys), action.description,
                                    f"open_screen({action.id!r})", self, keys))
        return entries

    def keys_for(self, screen: Screen) -> list[KeyEntry]:
        """What the help screen lists for `screen`: its keys, its widgets' keys, then the global ones."""
        return screen_entries(screen, self.user_keymap) + self.global_keys()

    def binding_catalogue(self) -> list[KeyEntry]:
        """The keys of the main screen and the global ones (what `?` shows there)."""
        return self.keys_for(self.main_screen) if self.main_screen is not None else self.global_keys()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: every key the screen answers to now (its focused widget's, its own, the app's), the
        feature screens, a few actions of other panels, and Textual's theme / screenshot / maximize commands."""
        titles: set[str] = set()
        for entry in self.palette_entries(screen):
            if entry.description in titles:
                continue
            titles.add(entry.description)
            yield SystemCommand(entry.description, f"{entry.keys} · {entry.id}" if entry.id else entry.keys,
                                partial(self.run_action, entry.action, entry.node))
        main = self.main_screen
        if main is not None and screen is main:
            yield SystemCommand("Save caption", "Save the caption being edited",
                                lambda: main.run_worker(main.save_current(), group="save", exit_on_error=False))
            yield SystemCommand("Cancel selected job", "Ask the job selected in the jobs strip to stop",
                                lambda: main.query_one("#jobs").run_action("cancel_job"))
        for command in super().get_system_commands(screen):
            # Textual's "Keys" panel duplicates `?`; its "Quit" is ours (app.quit, listed above).
            if command.title not in titles and command.title != "Keys":
                yield command

    def palette_entries(self, screen: Screen) -> list[KeyEntry]:
        """The bindings with an id active on `screen` (as a key press would find them), then the feature screens."""
        keymap = self.user_keymap
        entries = []
        for node, binding, _enabled, _tooltip in screen.active_bindings.values():
            if binding.id and not any(e.id == binding.id for e in entries):
                keys = keymap.get(binding.id, binding.key)
                section = "everywhere" if node is self else section_name(type(node))
                entries.append(KeyEntry(section, binding.id, display_keys(keys), binding.description,
                                        binding.action, node, keys))
        entries += [e for e in self.global_keys() if e.section == "screens"]
        return entries


def run_app(ctx: Context, dataset: str | None = None, open_screen=None) -> int:
    """Open the terminal UI (on `dataset` if given); returns the exit code (128 + N when signal N ended it).

    A database that cannot be opened (damaged, a full disk) raises its LoratuiError after the app closed; so does
    a home that is not writable, before the app starts (the UI saves edits, runs jobs and keeps a log there).
    """
    if not ctx.paths.writable:
        raise StorageError(f"the loratui home {ctx.paths.home} is read-only: the terminal UI needs to write there",
                           hint="make it writable or choose another home with --home DIR; reading commands "
                                "(loratui dataset list, jobs, train status) work in a read-only home")
    if ctx.settings.ui.truecolor:
        ensure_truecolor()
    log_path = ctx.paths.home / STDERR_LOG
    guard = ExitGuard(ctx.paths.recovered) if os.name == "posix" else None
    redirect = os.name == "posix" and sys.__stderr__ is not None and sys.__stderr__.isatty()
    if not redirect:
        app = LoratuiApp(ctx, dataset, open_screen)
        app.exit_guard = guard
        app.run()
        if app.startup_error is not None:
            raise app.startup_error
        return guard.exit_code if guard is not None and guard.signum else int(app.return_code or 0)
    # Keep the real terminal on a private descriptor for drawing; fd 2 goes to the log while the app runs,
    # so native libraries writing to stderr cannot scribble over the screen.
    terminal = GuardedStream(os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace"), guard.terminal_lost)
    try:
        app = LoratuiApp(ctx, dataset, open_screen, driver_class=terminal_driver(terminal, guard.terminal_lost))
        app.exit_guard = guard
        size_before = log_path.stat().st_size if log_path.exists() else 0
        with stderr_to_file(log_path):
            app.run()
    finally:
        terminal.close()
    if app.startup_error is not None:
        raise app.startup_error
    if guard.signum:
        if terminal_alive(2):
            sys.stderr.write(f"loratui: {signal.Signals(guard.signum).name}: {guard.outcome}\n")
        return guard.exit_code
    code = int(app.return_code or 0)
    if code:
        # One line, not the traceback Textual wrote to the log: its last line says what happened.
        last = _last_line(log_path, size_before)
        sys.stderr.write(f"loratui: the app stopped with an error{': ' + literal(last) if last else ''}; "
                         f"the details are in {log_path}\n")
    return code


def _last_line(path, start: int, limit: int = 20_000) -> str:
    """The last non-blank line the app wrote to its stderr log since offset `start` ("" if none)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(start, path.stat().st_size - limit))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip(" │╰╯─") for line in tail.splitlines()]
    return redact_text(next((line for line in reversed(lines) if line), ""))
