"""Which keys a screen answers to: the one list behind the help screen (`?`) and the command palette.

A screen's keys are its own bindings, those of every widget it holds (each widget class once, in the order they
appear on the screen), then the app's global keys and the feature screens' keys (``ScreenAction``). Only
bindings with an id are listed: the id is what ``[ui.keys]`` in config.toml remaps. Two optional class
attributes document what bindings cannot:

- ``HELP_KEYS = [(keys, description), ...]``: keys handled inside Textual's own widgets (Enter in a table,
  arrows in a list), listed in the class's section without an id (they cannot be remapped);
- ``HELP_NOTES = ["...", ...]``: a line of explanation shown at the top of the class's section (what the
  columns of a list mean).

``HELP_SECTION`` names a class's section; without it the name comes from the class name (``ImageList`` ->
"image list", ``TagFrequencyScreen`` -> "tag frequency").
"""

from __future__ import annotations

import re
import sys
from typing import Any, Iterable, NamedTuple

from textual.binding import Binding
from textual.dom import DOMNode

KEY_NAMES = {
    "question_mark": "?", "slash": "/", "pagedown": "PgDn", "pageup": "PgUp", "escape": "Esc", "enter": "Enter",
    "left_square_bracket": "[", "right_square_bracket": "]", "plus": "+", "minus": "-", "delete": "Del",
    "home": "Home", "end": "End", "down": "↓", "up": "↑", "left": "←", "right": "→", "tab": "Tab",
    "shift+tab": "Shift+Tab",
}
"""How a key name reads in the help screen and the palette (others as Textual names them: ``ctrl+s``)."""


class KeyEntry(NamedTuple):
    """One line of the help screen: a binding (or a documented key) of a section."""

    section: str
    id: str
    """The binding id (remap it in [ui.keys]); "" for keys documented with HELP_KEYS and for notes."""
    keys: str
    """The keys after remapping, as they read (``j, ↓``)."""
    description: str
    action: str = ""
    """The binding's action ("" for documented keys and notes)."""
    node: Any = None
    """Where the action runs (a widget, the screen, the app); None for documented keys and notes."""
    raw_keys: str = ""
    """The keys as config.toml's [ui.keys] spells them (``down,j``)."""


def display_keys(keys: str) -> str:
    """``"down,j"`` -> ``"↓, j"``: Textual key names as a person reads them."""
    return ", ".join(KEY_NAMES.get(key.strip(), key.strip()) for key in keys.split(",") if key.strip())


def section_name(cls: type) -> str:
    """A class's section title: its ``HELP_SECTION``, else its name in words without "Screen"."""
    named = cls.__dict__.get("HELP_SECTION")
    if named:
        return named
    name = re.sub(r"Screen$", "", cls.__name__) or cls.__name__
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()


def class_bindings(cls: type) -> list[Binding]:
    """The bindings with an id that `cls` declares or inherits (nearest class first, each id once)."""
    found: dict[str, Binding] = {}
    for klass in cls.__mro__:
        for binding in klass.__dict__.get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.id and binding.id not in found:
                found[binding.id] = binding
    return list(found.values())


def _class_attr(cls: type, name: str) -> list:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return list(klass.__dict__[name])
    return []


def class_entries(cls: type, keymap: dict[str, str], node: Any = None, section: str | None = None) -> list[KeyEntry]:
    """The entries of one class: its notes, its bindings with ids (remapped through `keymap`), its HELP_KEYS."""
    section = section or section_name(cls)
    entries = [KeyEntry(section, "", "", note) for note in _class_attr(cls, "HELP_NOTES")]
    for binding in class_bindings(cls):
        keys = keymap.get(binding.id, binding.key)
        shown = binding.key_display if binding.key_display and binding.id not in keymap else display_keys(keys)
        entries.append(KeyEntry(section, binding.id, shown, binding.description, binding.action, node, keys))
    entries += [KeyEntry(section, "", keys, description) for keys, description in _class_attr(cls, "HELP_KEYS")]
    return entries


def screen_entries(screen: DOMNode, keymap: dict[str, str]) -> list[KeyEntry]:
    """The keys of the focused widget (what a key press reaches first), of `screen` itself, then of each other
    kind of widget on it (hidden ones too), in screen order."""
    focused = getattr(screen, "focused", None)
    entries: list[KeyEntry] = []
    seen: set[type] = set()
    if focused is not None and (class_bindings(type(focused)) or _class_attr(type(focused), "HELP_KEYS")):
        entries += class_entries(type(focused), keymap, focused)
        seen.add(type(focused))
    entries += class_entries(type(screen), keymap, screen)
    seen.add(type(screen))
    for widget in screen.walk_children(with_self=False):
        cls = type(widget)
        if cls in seen:
            continue
        seen.add(cls)
        if class_bindings(cls) or _class_attr(cls, "HELP_KEYS") or _class_attr(cls, "HELP_NOTES"):
            entries += class_entries(cls, keymap, widget)
    return entries


def known_binding_ids(modules: Iterable[str] | None = None) -> set[str]:
    """Every binding id declared by a class in loratui's TUI modules that are imported (for checking [ui.keys])."""
    names = modules if modules is not None else [n for n in list(sys.modules) if n.startswith("loratui.tui")]
    ids: set[str] = set()
    for name in names:
        module = sys.modules.get(name)
        for value in list(vars(module).values()) if module is not None else ():
            if isinstance(value, type) and issubclass(value, DOMNode) and value.__module__ == name:
                ids.update(binding.id for binding in class_bindings(value))
    return ids
