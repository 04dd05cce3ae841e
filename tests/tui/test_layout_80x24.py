"""Layout at 80x24 (issue 14): duplicate cards fit and never break a word, status lines sit above the footer,
the image list says what its flag and tag-count columns mean."""

from __future__ import annotations

from loratui.tui.app import LoratuiApp
from loratui.tui.widgets.image_list import COLUMN_LEGENDS, ImageList, column_legend
from loratui.tui.widgets.key_footer import KeyFooter

from .conftest import settle


def test_column_legend_picks_the_longest_that_fits():
    assert column_legend(200) == COLUMN_LEGENDS[0]
    assert column_legend(36) and len(column_legend(36)) <= 36 and "B broken" in column_legend(36)
    assert column_legend(3) == ""


async def test_duplicates_and_tag_frequency_fit_80x24(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        legend = str(app.screen.query_one(ImageList).border_subtitle)
        assert "B broken" in legend and "U" in legend and "D dup" in legend and "E edited" in legend

        await pilot.press("D")
        await pilot.pause(0.5)
        screen = app.screen
        footer_top = screen.query_one(KeyFooter).region.y
        status = screen.query_one("#dupes-status").region
        assert status.height == 1 and status.bottom <= footer_top  # not hidden under the footer
        for group in range(len(screen.groups)):
            await screen.show_group(group)
            await pilot.pause(0.2)
            cards = list(screen.query(".dupe-card"))
            assert len(cards) == min(9, len(screen.groups[group].images))
            for card in cards:
                region = card.region
                assert region.right <= 80, region
                if len(cards) <= 3:  # side by side, whole (more wrap to a second row that scrolls)
                    assert region.bottom <= footer_top, region
                caption = card.query_one(".dupe-caption")
                lines = caption.content.renderables  # one Text a fact, each kept on one line
                assert caption.region.height == len(lines)
                assert any(str(line).startswith("distance ") for line in lines)

        await pilot.press("escape", "F")
        await pilot.pause(0.5)
        screen = app.screen
        status = screen.query_one("#tagfreq-status").region
        assert status.height == 1 and status.bottom <= screen.query_one(KeyFooter).region.y
        assert "tags" in str(screen.query_one("#tagfreq-status").render())
