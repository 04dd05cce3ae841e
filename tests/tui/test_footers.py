"""Footers, `?` and the command palette on every screen at 80x24 (issue 14).

At 80 columns Textual's own Footer cut the last keys ("? He"); the keys that fell off (duplicates `+`/`-`, tag
frequency `r`/`x`/`u`/`s`, monitor `[`/`]`) were in neither `?` nor the palette. Here each screen is opened by
its key in the real app and checked: every footer key lies whole inside the screen, `? Help` is shown, every key
the footer left out is listed by `?` (with its id) and offered by the palette.
"""

from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey

from loratui.tui.app import LoratuiApp
from loratui.tui.keys import KEY_NAMES, display_keys, section_name
from loratui.tui.screens.help import HelpScreen
from loratui.tui.widgets.key_footer import KeyFooter, fit, key_width

from .conftest import settle

SCREENS = {
    # key that opens it -> (screen class name, ids that must be in `?` and in the palette)
    "": ("MainScreen", ["main.filter", "main.rescan", "list.edit", "jobs.cancel"]),
    "D": ("DupesScreen", ["dupes.distance_up", "dupes.distance_down", "dupes.move", "dupes.undo"]),
    "F": ("TagFrequencyScreen", ["tagfreq.rename", "tagfreq.delete", "tagfreq.undo", "tagfreq.sort"]),
    "C": ("TrainingScreen", ["training.save", "training.start", "training.search"]),
    "J": ("MonitorScreen", ["monitor.queue_up", "monitor.queue_down", "monitor.queue_remove", "monitor.cancel"]),
    "L": ("LorasScreen", ["loras.resize", "loras.upload", "loras.reload"]),
    "M": ("ModelsScreen", ["models.download", "models.reload"]),
}


def test_fit_takes_keys_in_order_and_stops_at_the_first_that_does_not_fit():
    assert fit([5, 5, 5], 10) == 2
    assert fit([5, 20, 1], 10) == 1  # a later, shorter key is not shown in place of a more used one
    assert fit([], 3) == 0
    assert key_width("?", "Help", compact=False) == 8 and key_width("?", "Help", compact=True) == 7


def test_display_keys_reads_like_keys():
    assert display_keys("down,j") == "↓, j"
    assert display_keys("left_square_bracket") == "[" and KEY_NAMES["question_mark"] == "?"


def test_section_names():
    from loratui.tui.screens.tagfreq import TagFrequencyScreen
    from loratui.tui.widgets.image_list import ImageList

    assert section_name(TagFrequencyScreen) == "tag frequency"
    assert section_name(ImageList) == "image list"


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_every_screen_footer_fits_and_hidden_keys_are_in_help_and_palette(demo_ctx, size):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        for key, (screen_name, ids) in SCREENS.items():
            if key:
                await pilot.press(key)
                await pilot.pause(0.3)
            screen = app.screen
            assert type(screen).__name__ == screen_name
            footer = screen.query_one(KeyFooter)
            shown = list(footer.query(FooterKey))
            labels = [k.description for k in shown]
            assert "Help" in labels, (screen_name, labels)
            for widget in shown:  # whole: no key runs past the right edge ("? He")
                region = widget.region
                assert region.width > 0 and region.right <= size[0], (screen_name, widget.description, region)
            if size[0] >= 160:
                assert not footer.hidden_keys or screen_name == "MonitorScreen", (screen_name, footer.hidden_keys)

            # `?` lists this screen's keys (the hidden ones too) under the screen's name, then the global ones.
            await pilot.press("question_mark")
            await pilot.pause(0.1)
            assert isinstance(app.screen, HelpScreen)
            help_screen = app.screen
            listed = {entry.id: entry for entry in help_screen.entries}
            for binding_id in ids + ["app.help", "app.quit", "dupes.open", "training.open"]:
                assert binding_id in listed, (screen_name, binding_id)
            assert any(e.action == "command_palette" for e in help_screen.entries)
            assert all(listed[i].section == section_name(type(screen)) for i in ids if not i.startswith(("list.",
                                                                                                     "jobs.")))
            hidden = {label for _key, label in footer.hidden_keys}
            assert hidden <= {e.description for e in help_screen.entries}
            heading = str(help_screen.query_one("#help-title").render())
            assert section_name(type(screen)) in heading
            assert 'id = "keys"' not in str(help_screen.query_one("#help-hint").render())
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert app.screen is screen

            # The palette offers the same actions, once each, and not Textual's duplicate "Keys" panel.
            titles = [command.title for command in app.get_system_commands(screen)]
            assert "Keys" not in titles and "Help: keys" not in titles
            assert len(titles) == len(set(titles))
            descriptions = {e.id: e.description for e in help_screen.entries}
            for binding_id in ids:
                if binding_id.startswith("jobs."):  # the strip's own keys; "Cancel selected job" stands for them
                    continue
                assert descriptions[binding_id] in titles, (screen_name, binding_id, titles)
            if key:
                await pilot.press("escape")
                await pilot.pause(0.2)


async def test_palette_command_runs_the_screens_action(demo_ctx):
    """A palette entry runs on the screen it was offered for: Distance + raises the duplicates distance."""
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("D")
        await pilot.pause(0.3)
        screen = app.screen
        before = screen.max_distance
        command = next(c for c in app.get_system_commands(screen) if c.title == "Distance +")
        app.call_later(command.callback)  # as the palette runs it
        await pilot.pause(0.3)
        assert screen.max_distance == before + 1
