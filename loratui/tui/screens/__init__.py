"""Screens. A module here may define ``ACTIONS: list[ScreenAction]``; the app discovers them
(``discover_actions``), binds their keys and lists them in the command palette (see ``loratui.tui.extensions``)."""

from __future__ import annotations

import importlib
import pkgutil

from loratui.tui.extensions import ScreenAction


def discover_actions() -> list[ScreenAction]:
    """All ScreenActions declared by the modules of this package (importing each of them)."""
    actions: list[ScreenAction] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        actions.extend(getattr(module, "ACTIONS", []))
    return actions
