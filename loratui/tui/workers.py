"""Workers that never take the app down, and the one way errors are shown.

``work`` is Textual's ``work`` decorator with ``exit_on_error=False``: an exception in a worker is shown by
``report_error`` and ends that worker (state ERROR), not the app. ``report_error`` is also what screens call
when they catch an error themselves, so every error looks the same: a ``LoratuiError`` by its title, message and
hint; a failure of the disk or the database (``sqlite3.Error``, ``OSError``) as the ``StorageError`` that
explains it (``loratui.store.failures``); anything else as an unexpected error whose traceback goes to stderr
(the TUI keeps stderr in ``tui-stderr.log`` in the loratui home). The app's ``notify`` shows every text
literally (see ``LoratuiApp.notify``).
"""

from __future__ import annotations

import functools
import inspect
import sys
import traceback
from typing import Any, Callable

import textual

from loratui.jobs.runner import Cancelled
from loratui.redact import redact_text
from loratui.store.failures import storage_error


def error_text(exc: BaseException) -> tuple[str, str]:
    """(title, message) of an error as the TUI shows it."""
    known = storage_error(exc)
    if known is not None:
        message = known.message + (f"\n{known.hint}" if known.hint else "")
        return known.title, message
    return "Unexpected error (details in tui-stderr.log)", f"{type(exc).__name__}: {exc}"


def report_error(node: Any, exc: BaseException) -> None:
    """Show `exc` as an error notification from `node` (a widget, screen or the app)."""
    if storage_error(exc) is None:
        sys.stderr.write(redact_text("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
    title, message = error_text(exc)
    node.notify(message, title=title, severity="error", timeout=10, markup=False)


def work(method: Callable | None = None, /, **options: Any):
    """``textual.work`` with ``exit_on_error=False`` and errors shown by ``report_error``.

    A ``Cancelled`` job is not an error (the user asked for it): it ends the worker quietly.
    """
    options["exit_on_error"] = False

    def decorate(fn: Callable) -> Callable:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def guarded(self, *args, **kwargs):
                try:
                    return await fn(self, *args, **kwargs)
                except Cancelled:
                    return None
                except Exception as exc:
                    report_error(self, exc)
                    raise
        else:
            @functools.wraps(fn)
            def guarded(self, *args, **kwargs):
                try:
                    return fn(self, *args, **kwargs)
                except Cancelled:
                    return None
                except Exception as exc:
                    self.app.call_from_thread(report_error, self, exc)
                    raise
        return textual.work(guarded, **options)

    return decorate(method) if method is not None else decorate
