"""Screens. A module here may define ``ACTIONS: list[ScreenAction]``; the app discovers them, binds their keys
and lists them in the command palette (see ``loratui.tui.extensions``)."""
