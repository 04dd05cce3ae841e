"""The training form's sweep dialog (Ctrl+R): the grid is checked and its runs listed as it is typed."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Input, Static

from loratui.training.config import TrainConfig
from loratui.training.schema import Option, Schema
from loratui.tui.screens.sweep_dialog import SweepDialog, preview_grid

SCHEMA = Schema("kohya", "sd15", {"learning_rate": Option("learning_rate", "float"),
                                  "network_dim": Option("network_dim", "int")}, source="trainer:test")
CONFIG = TrainConfig(args={"output_dir": "/out", "output_name": "mychar"})


def test_preview_lists_runs_or_says_what_is_wrong():
    grid, text = preview_grid("learning_rate=1e-4,5e-5 network_dim=16,32", SCHEMA, CONFIG)
    assert grid == [("learning_rate", ["1e-4", "5e-5"]), ("network_dim", ["16", "32"])]
    assert text.startswith("4 training job(s)") and "mychar-lr5e-5-dim32" in text
    grid, text = preview_grid("learnin_rate=1e-4", SCHEMA, CONFIG)
    assert grid is None and "learning_rate" in text
    grid, text = preview_grid("network_dim=a", SCHEMA, CONFIG)
    assert grid is None and "not an integer" in text
    grid, text = preview_grid("network_dim=8,16", SCHEMA, TrainConfig(args={}))
    assert grid is None and "output_dir" in text


async def test_dialog_returns_the_grid_on_enter_only_when_valid():
    results = []

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(SweepDialog(SCHEMA, CONFIG), results.append)

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*"network_dim=x")
        await pilot.press("enter")
        await pilot.pause()
        assert results == [] and "not an integer" in str(app.screen.query_one("#sweep-preview", Static).render())
        app.screen.query_one("#sweep-grid", Input).value = "network_dim=8,16"
        await pilot.pause()
        assert "2 training job(s)" in str(app.screen.query_one("#sweep-preview", Static).render())
        await pilot.press("enter")
        await pilot.pause()
    assert results == [[("network_dim", ["8", "16"])]]
