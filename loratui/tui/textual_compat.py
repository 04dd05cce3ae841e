"""Every use of a private Textual or Rich internal, in one module.

Each hook says what it relies on, the versions it was checked against (`CHECKED_WITH`) and why it exists: either
no public API does the job, or a measurement (``bench/compat_hooks.py``, figures in docs/benchmarks.md) shows the
public way costs too much. ``tests/tui/test_textual_compat.py`` exercises every hook for real and fails naming the
hook and the installed versions when a library changes shape. Nothing else in loratui touches a ``_`` attribute of
a Textual or Rich object.

Dropped, with the public way used instead (measured with the same script, 2026-12-05):
- ``App._keymap`` (read by the help screen): the app keeps the keymap it gives ``App.set_keymap``.
- ``Strip._segments`` (the preview's line layout): iterating each Strip, 0.01-0.02 ms more per new preview.
- ``Input._suggestion`` (Tab in the add-dataset path): the folder completion is computed again.
- Rich ``Color`` built with ``tuple.__new__``: the NamedTuple's own constructor costs 0.3-1.3 ms more of UI-thread
  CPU per new 53x40 preview (11.0 instead of 10.7 ms in the last runs), not worth bypassing its constructor.
"""

from __future__ import annotations

from rich.style import Style
from textual.binding import Binding
from textual.dom import DOMNode
from textual.geometry import Size
from textual.widgets import TextArea

CHECKED_WITH = {"textual": "8.2.8", "rich": "15.0.0"}
"""The library versions every hook below was checked against (the tests say so when others are installed)."""


def add_binding(node: DOMNode, binding: Binding) -> None:
    """Add `binding` to `node`'s bindings at run time, keeping its ``id`` so ``App.set_keymap`` can remap it.

    Relies on ``DOMNode._bindings`` (a ``BindingsMap``) and ``BindingsMap._add_binding``. Why: the feature screens'
    keys are discovered at start (loratui.tui.extensions), after the class-level ``BINDINGS`` were read, and the
    only public way to add one, ``App.bind``, drops the binding's id (so ``[ui.keys]`` could not remap it) and is
    itself documented as possibly becoming private. Call ``node.refresh_bindings()`` after adding.
    """
    node._bindings._add_binding(binding)


def preset_ansi_codes(style: Style, codes: str) -> None:
    """Store a style's SGR parameters (``"38;2;R;G;B;48;2;R;G;B"``) so rendering it skips computing them.

    Relies on Rich's ``Style._ansi`` cache, which Textual's ``Strip.render_style`` (and Rich's ``Style.render``)
    read before computing the codes themselves. Only right for truecolor output: the codes are not downgraded.
    Why: a new half-block preview of 53x40 cells has ~2,000 styles of its own; writing their codes with one
    f-string each saves 3.4-3.7 ms of UI-thread CPU per new preview over Textual's generic path (11.0 instead of
    14.4-14.8 ms to build and render its strips, bench/compat_hooks.py), a tenth of a cold preview's UI time.
    """
    style._ansi = codes


class FixedBoxTextArea(TextArea):
    """A soft-wrapping TextArea whose box is sized by CSS alone: a new wrapped height does not relayout the screen.

    Overrides ``TextArea._refresh_size`` (called after every edit, load and rewrap) and calls
    ``Widget._refresh_scrollbars``. TextArea's own version sets ``virtual_size``, a reactive with ``layout=True``:
    each caption whose wrapped line count differs from the previous one's triggered a layout pass of the whole main
    screen. Setting it quietly and repainting this widget alone (the box does not depend on the content) takes the
    main screen from 0.92 to 0.33 layout passes per caption step (the rest: a scrollbar appearing or going) and
    halves the layout time per step (8.4 -> 4.0 ms, 15.6 -> 7.4 ms in a busier run; bench/compat_hooks.py, 160x48).
    """

    def _refresh_size(self) -> None:
        if self.soft_wrap and hasattr(self, "wrapped_document"):
            self.set_reactive(TextArea.virtual_size, Size(0, self.wrapped_document.height))
            self._refresh_scrollbars()
            self.refresh()
        else:
            super()._refresh_size()


def write_to_terminal(app, data: str) -> bool:
    """Write `data` (escape sequences: a terminal graphics image) straight to the terminal the app draws on.

    Relies on ``App._driver`` and ``Driver.write``/``flush``. Why: Textual draws text cells only, and has no public
    way to send other output; images in the kitty, sixel and iTerm2 protocols are sent this way over an area the
    screen leaves blank. Returns False when there is no driver (the app is not running, or runs headless: nothing
    is sent then, since headless tests have no terminal).
    """
    driver = getattr(app, "_driver", None)
    if driver is None or getattr(app, "is_headless", False):
        return False
    driver.write(data)
    driver.flush()
    return True
