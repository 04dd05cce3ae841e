"""One test per hook in loratui.tui.textual_compat.

Each exercises its hook for real; when Textual or Rich has changed shape (an attribute gone, a method renamed or
no longer called, a result that differs from the library's own) the test fails with one message naming the hook,
the installed versions and the versions it was checked with.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
from importlib.metadata import version

import pytest
from rich.color import Color
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import Static, TextArea

from loratui.tui import preview_render
from loratui.tui.textual_compat import (CHECKED_WITH, FixedBoxTextArea, add_binding, preset_ansi_codes,
                                        write_to_terminal)


def _versions(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} {number}" for name, number in versions.items())


@contextlib.contextmanager
def hook(name: str):
    """Report any failure inside as the hook `name` broken by the installed library versions."""
    try:
        yield
    except Exception as exc:  # assertions included
        installed = {library: version(library) for library in CHECKED_WITH}
        pytest.fail(f"textual_compat.{name} no longer works with {_versions(installed)} (checked with "
                    f"{_versions(CHECKED_WITH)}): {type(exc).__name__}: {exc}")


class BindingApp(App):
    def __init__(self) -> None:
        super().__init__()
        self.marks = 0

    def compose(self) -> ComposeResult:
        yield Static("keys")

    def on_mount(self) -> None:
        add_binding(self, Binding("x", "mark", "Mark", id="compat.mark", show=False))
        self.refresh_bindings()

    def action_mark(self) -> None:
        self.marks += 1


async def test_add_binding_runs_and_can_be_remapped_by_id():
    with hook("add_binding"):
        app = BindingApp()
        async with app.run_test() as pilot:
            await pilot.press("x")
            assert app.marks == 1, "the added binding did not run its action"
            app.set_keymap({"compat.mark": "y"})
            await pilot.press("x")
            assert app.marks == 1, "the keymap did not take the key away from the added binding"
            await pilot.press("y")
            assert app.marks == 2, "the keymap did not remap the added binding by its id"
        assert not any(b.id == "compat.mark" for b in BindingApp.BINDINGS if isinstance(b, Binding))


def _fresh_style(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Style:
    return Style.from_color(Color.from_rgb(*top), Color.from_rgb(*bottom))


def test_preset_ansi_codes_are_used_and_match_textuals_own():
    with hook("preset_ansi_codes"):
        console = Console(color_system="truecolor", force_terminal=True)
        marker = _fresh_style((1, 2, 3), (4, 5, 6))
        preset_ansi_codes(marker, "1")
        assert Strip([Segment("▀", marker)], 1).render(console) == "\x1b[1m▀\x1b[0m", \
            "Textual's Strip.render no longer reads the preset codes"
        # The codes the preview presets for its cells are the ones Textual would compute.
        preview_render.set_truecolor_output(True)
        preview_render._STYLE_CACHE.clear()
        for top, bottom in [((0, 0, 0), (255, 255, 255)), ((12, 200, 7), (99, 0, 254)), ((255, 1, 128), (3, 3, 3))]:
            pair = (top[0] << 16 | top[1] << 8 | top[2]) << 24 | (bottom[0] << 16 | bottom[1] << 8 | bottom[2])
            own = Strip([Segment("▀", _fresh_style(top, bottom))], 1).render(console)
            assert Strip([Segment("▀", preview_render._style(pair))], 1).render(console) == own


def test_without_truecolor_the_preview_leaves_colour_downgrading_to_textual(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 30, 90)).save(tmp_path / "pink.png")
    console = Console(color_system="256", force_terminal=True)
    try:
        preview_render.set_truecolor_output(False)
        preview = preview_render.render_preview(tmp_path / "pink.png", 4, 2)
        line = preview.strips[0].render(console)
        assert "38;5;" in line and "38;2;" not in line
    finally:
        preview_render.set_truecolor_output(True)


class EditorApp(App):
    CSS = "TextArea { height: 4; width: 24; border: none; padding: 0; }"

    def compose(self) -> ComposeResult:
        yield FixedBoxTextArea("", soft_wrap=True, id="fixed")
        yield TextArea("", soft_wrap=True, id="plain")
        yield Static("below")


async def test_fixed_box_text_area_sizes_quietly(monkeypatch):
    with hook("FixedBoxTextArea"):
        calls = {"size": 0, "layout": 0}
        own_refresh_size = FixedBoxTextArea._refresh_size

        def counted_refresh_size(self):
            calls["size"] += 1
            own_refresh_size(self)

        monkeypatch.setattr(FixedBoxTextArea, "_refresh_size", counted_refresh_size)
        refresh_layout = Screen._refresh_layout

        def counted_layout(self, *args, **kwargs):
            calls["layout"] += 1
            return refresh_layout(self, *args, **kwargs)

        monkeypatch.setattr(Screen, "_refresh_layout", counted_layout)
        # Wrapped heights 1, 3 and 2 in a box of 4 rows: the scroll range changes, the scrollbars do not (showing
        # one changes the content width, which rightly needs a layout).
        texts = ["short", "a caption long enough to wrap onto a third line", "two\nlines"]
        long_text = "a caption long enough to wrap over many lines of a narrow box, " * 3
        app = EditorApp()
        async with app.run_test(size=(40, 12)) as pilot:
            fixed, plain = app.query_one("#fixed", FixedBoxTextArea), app.query_one("#plain", TextArea)
            await pilot.pause()
            for editor in (fixed, plain):
                layouts, heights = [], []
                for text in texts:
                    before = calls["layout"]
                    editor.load_text(text)
                    await pilot.pause()
                    layouts.append(calls["layout"] - before)
                    heights.append(editor.virtual_size.height)
                    assert editor.virtual_size.height == editor.wrapped_document.height
                assert heights == [1, 3, 2], f"unexpected wrapped heights {heights}"
                if editor is fixed:
                    assert calls["size"] >= len(texts), "TextArea no longer calls _refresh_size: the override is dead"
                    assert sum(layouts) == 0, f"a new wrapped height still relayouts the screen: {layouts}"
                else:
                    assert sum(layouts) > 0, ("a plain TextArea no longer relayouts the screen when its wrapped "
                                              "height changes: FixedBoxTextArea can go")
                editor.load_text(long_text)
                await pilot.pause()
                assert editor.virtual_size.height == editor.wrapped_document.height > 4
                assert editor.max_scroll_y > 0, "the scroll range did not follow the wrapped height"
                assert editor.show_vertical_scrollbar, "the scrollbar did not appear"
                editor.scroll_end(animate=False)
                await pilot.pause()
                assert editor.scroll_y == editor.max_scroll_y > 0
            assert fixed.size.height == plain.size.height == 4


@functools.cache
def _own_private_names(cls: type) -> frozenset[str]:
    """Private names a Textual or Rich class defines or sets on its instances (not its bases')."""
    if cls.__module__.split(".")[0] not in ("textual", "rich"):
        return frozenset()
    names = {name for name in vars(cls) if name.startswith("_") and not name.startswith("__")}
    try:
        names |= set(re.findall(r"self\.(_[a-z]\w*)", inspect.getsource(cls)))
    except (OSError, TypeError):
        pass
    return frozenset(names)


def _library_private_names(cls: type) -> set[str]:
    """Private names Textual and Rich define or set in `cls`'s library bases."""
    return set().union(*(_own_private_names(base) for base in cls.__mro__))


VALUE_CLASSES = ["textual.strip.Strip", "rich.style.Style", "rich.color.Color", "rich.segment.Segment",
                 "rich.text.Text", "textual.binding.BindingsMap", "textual.content.Content"]
"""Library objects the TUI handles without subclassing: their private names are off limits on any receiver."""


async def test_write_to_terminal_reaches_the_driver(monkeypatch):
    with hook("write_to_terminal"):
        app = BindingApp()
        assert write_to_terminal(app, "x") is False  # not running: no driver
        async with app.run_test():
            assert write_to_terminal(app, "x") is False  # headless: nothing is sent
            sent = []
            driver = app._driver
            monkeypatch.setattr(type(app), "is_headless", property(lambda self: False))
            monkeypatch.setattr(driver, "write", sent.append)
            monkeypatch.setattr(driver, "flush", lambda: sent.append("<flush>"))
            assert write_to_terminal(app, "\x1b_Ga=d\x1b\\") is True
            assert sent == ["\x1b_Ga=d\x1b\\", "<flush>"]


def test_no_private_internals_outside_the_compat_module():
    """Classes in loratui.tui must not use or override Textual's or Rich's private attributes, and no module may
    reach into the private attributes of the library's value objects: such uses belong in textual_compat."""
    import ast
    import importlib
    import pkgutil

    import loratui.tui

    value_private: set[str] = set()
    for dotted in VALUE_CLASSES:
        module, _, name = dotted.rpartition(".")
        value_private |= _library_private_names(getattr(importlib.import_module(module), name))
    found = []
    for info in pkgutil.walk_packages(loratui.tui.__path__, "loratui.tui."):
        if info.name == "loratui.tui.textual_compat":
            continue
        module = importlib.import_module(info.name)
        tree = ast.parse(open(module.__file__, encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in value_private and not (
                    isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{info.name}:{node.lineno} .{node.attr}")
            if not isinstance(node, ast.ClassDef) or not isinstance(getattr(module, node.name, None), type):
                continue
            private = _library_private_names(getattr(module, node.name))
            for inner in ast.walk(node):
                used = None
                if isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name) and inner.value.id == "self":
                    used = inner.attr
                elif isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    used = inner.name
                if used in private:
                    found.append(f"{info.name}:{inner.lineno} {node.name}.{used}")
    assert not found, f"private Textual/Rich internals outside loratui/tui/textual_compat.py: {sorted(set(found))}"
