"""Where changes become refreshes: the TUI's one entry for "something changed in the database".

Every core write logs what it changed (``loratui.store.changes``). The ``ChangeFeed`` reads the log — right after
this process's own writes (the store's write listener), and every ``POLL_S`` for other processes' (a CLI call, a
training supervisor, a tagging job in another terminal; an idle poll is one ``PRAGMA data_version``) — folds
what it read into a ``ChangeSet`` and hands it to every screen on the stack that follows changes
(``ChangeAware.apply_changes``). Each such screen turns it into the refreshes of its own widgets: no screen
reloads another screen's data.

The feed also runs the explicit reconcile step every ``RECONCILE_S``: jobs whose process died are marked
interrupted and the next queued training starts (``loratui.training.run.queue.advance``); the resulting changes
come back through the feed like any other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol, runtime_checkable

from loratui.store import changes
from loratui.store.changes import ChangeSet
from loratui.training.run import queue as run_queue

POLL_S = 0.5
RECONCILE_S = 5.0
log = logging.getLogger(__name__)


@runtime_checkable
class ChangeAware(Protocol):
    """A screen that refreshes its widgets from changes."""

    def apply_changes(self, changes: ChangeSet) -> None:
        """Refresh what `changes` touches (called on the event loop; start workers for slow reloads)."""


class ChangeFeed:
    """Follows the change log for one app (see the module docstring)."""

    def __init__(self, app) -> None:
        self.app = app
        self.cursor: changes.Cursor | None = None
        self._forced = False
        self._polling = False
        self._again = False
        self._last_reconcile = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.polls = 0
        """How many times the log was read (tests and the benchmark look at this)."""

    async def start(self) -> None:
        """Begin at the end of the log and follow it."""
        store = self.app.store
        self._loop = asyncio.get_running_loop()
        self.cursor = await store.run(changes.start)
        store.add_write_listener(self._written)
        self.app.set_interval(POLL_S, self.poll, name="change-feed")

    def stop(self) -> None:
        """Stop listening to the store's writes."""
        store = self.app.store
        if store is not None:
            store.remove_write_listener(self._written)

    def _written(self) -> None:
        # On the database thread, right after a write of this process: read the log from the event loop.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._poke)

    def _poke(self) -> None:
        self._forced = True
        self.app.call_later(self.poll)

    async def poll(self) -> None:
        """Read new changes (if any) and dispatch them; runs the reconcile step when it is due."""
        store = self.app.store
        if store is None or self.cursor is None:
            return
        if self._polling:
            self._again = True
            return
        self._polling = True
        try:
            while True:
                forced, self._forced, self._again = self._forced, False, False
                found = await store.run(changes.poll, self.cursor, force=forced)
                self.polls += 1
                if found:
                    self.dispatch(found)
                if not (self._again or self._forced):
                    break
            if time.monotonic() - self._last_reconcile >= RECONCILE_S:
                self._last_reconcile = time.monotonic()
                await self._reconcile()
        finally:
            self._polling = False

    async def _reconcile(self) -> None:
        try:
            await run_queue.advance(self.app.store, self.app.ctx)
        except Exception:  # noqa: BLE001 - a failed reconcile must not stop the feed; it runs again soon
            log.exception("reconciling jobs failed")

    def dispatch(self, found: ChangeSet) -> None:
        """Hand a change set to every screen on the stack that follows changes (bottom first)."""
        for screen in list(self.app.screen_stack):
            if isinstance(screen, ChangeAware) and screen.is_attached:
                screen.apply_changes(found)
