"""The footer of every screen: the keys that fit the terminal's width, `? Help` always whole and last.

Textual's ``Footer`` lays every shown binding out in one row and cuts whatever passes the right edge ("? He"), so
at 80 columns the keys at the end, help included, were lost. ``KeyFooter`` decides before laying out:

- the keys come in the order Textual gives them (the focused widget's, then the screen's, then the app's), which
  is each ``BINDINGS`` list's order: the most used key of a screen goes first;
- if they do not all fit with Textual's spacing, the compact spacing (one column less per key) is used;
- the keys are taken in order as long as they fit; room for the app's help key (`?`, id ``app.help``, shown
  last) and the command palette key is kept first, so they are always shown whole.

Whatever is left out is listed by `?` (every key of the screen) and in the command palette. The widths follow
Textual's FooterKey styles (``key_width``); ``tests/tui/test_footers.py`` checks them against the real layout.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.widgets import Footer

HELP_ACTION = "help"
"""The action of the app's help key (`?`, id ``app.help``): always shown, last."""


def key_width(key_display: str, description: str, compact: bool) -> int:
    """Cells one FooterKey takes: Textual pads the key with a space on each side and follows the description with
    one (normal), or puts one space between them and a 1-cell margin after (compact)."""
    width = cell_len(key_display) + cell_len(description)
    return width + (2 if compact else 3)


def palette_width(key_display: str, description: str) -> int:
    """Cells the command palette key takes at the right edge: a 1-cell border, the key and its label, and one
    cell of padding (normal) or margin (compact) after it."""
    return cell_len(key_display) + cell_len(description) + 3


def fit(widths: list[int], available: int) -> int:
    """How many of the items, taken in order, fit in `available` cells (the first that does not ends it: a key
    is never shown in place of a more used one before it)."""
    used = 0
    for count, width in enumerate(widths):
        used += width
        if used > available:
            return count
    return len(widths)


class KeyFooter(Footer):
    """A Footer that shows only what fits, `? Help` always whole (see the module docstring)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fitted_width = 0
        """The width the keys were last chosen for."""
        self.hidden_keys: list[tuple[str, str]] = []
        """(key, label) of the keys left out for lack of room."""

    def compose(self):
        # Textual's own compose makes the keys (FooterKey widgets with their key, label, action and state);
        # this one chooses among them.
        made = list(super().compose())
        width = self.size.width or self.app.size.width
        self.fitted_width = width
        palette = [w for w in made if w.has_class("-command-palette")]
        help_keys = [w for w in made if getattr(w, "action", None) == HELP_ACTION and w not in palette]
        keys = [w for w in made if w not in palette and w not in help_keys]
        reserved = sum(palette_width(w.key_display, w.description) for w in palette)

        def widths(items, compact: bool) -> list[int]:
            return [key_width(getattr(w, "key_display", ""), getattr(w, "description", ""), compact) for w in items]

        compact = sum(widths(keys + help_keys, False)) + reserved > width
        count = fit(widths(keys, compact), width - reserved - sum(widths(help_keys, compact)))
        self.hidden_keys = [(w.key_display, w.description) for w in keys[count:]]
        self.set_reactive(Footer.compact, compact)
        self.set_class(compact, "-compact")
        yield from keys[:count]
        yield from help_keys
        yield from palette

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self.fitted_width and self.is_attached:
            self.call_after_refresh(self.recompose)
