"""The training form's import dialog (Pilot): Ctrl+O, a kohya_ss preset, the report, Apply fills the form."""

from __future__ import annotations

from textual.widgets import Button, Input, Select, Static

from loratui.tui.screens.training_import import ImportConfigScreen
from tests.conftest import REPO
from tests.training_config.test_tui_form import HostApp, ready  # noqa: F401 - the host app of the form tests

PRESETS = REPO / "tests" / "fixtures" / "kohya_ss_presets"


async def wait_for(pilot, app, condition) -> None:
    for _ in range(100):
        await pilot.pause()
        if condition():
            return
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_import_dialog_fills_the_form(store, ctx, make_dataset, register, tmp_path):
    dataset = await register(make_dataset({"10_a": [(512, 512), (768, 512)]}))
    app = HostApp(ctx, store, dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot, app)
        await pilot.press("ctrl+o")
        await wait_for(pilot, app, lambda: isinstance(app.screen, ImportConfigScreen))
        dialog = app.screen
        assert isinstance(dialog, ImportConfigScreen)
        assert dialog.query_one("#import-apply", Button).disabled
        dialog.query_one("#import-files", Input).value = str(PRESETS / "flux1d-adamw8bit-fp8.json")
        await pilot.press("enter")
        await wait_for(pilot, app, lambda: dialog.result is not None)
        report = str(dialog.query_one("#import-report-text", Static).render())
        assert report.startswith("kohya flux:") and "dropped  ae = " in report
        assert not dialog.query_one("#import-apply", Button).disabled
        await pilot.click("#import-apply")
        await wait_for(pilot, app, lambda: app.screen is screen and screen.form is not None
                       and screen.form.config.family == "flux")
        await app.workers.wait_for_complete()
        await pilot.pause()
        config = screen.form.config
        assert (config.family, config.dataset) == ("flux", "ds")
        assert config.args["network_module"] == "networks.lora_flux" and config.args["max_train_steps"] == 1000
        assert screen.query_one("#family", Select).value == "kohya:flux"
        prompts = screen.path.with_name(screen.path.stem + ".prompts.txt")
        assert config.args["sample_prompts"] == str(prompts) and "saruman" in prompts.read_text()
        assert any(note.startswith("Imported kohya_ss") for note in app.notes)


async def test_import_dialog_shows_errors_and_cancels(store, ctx, make_dataset, register, tmp_path):
    dataset = await register(make_dataset({"10_a": [(512, 512)]}))
    app = HostApp(ctx, store, dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot, app)
        await pilot.press("ctrl+o")
        await wait_for(pilot, app, lambda: isinstance(app.screen, ImportConfigScreen))
        dialog = app.screen
        dialog.query_one("#import-files", Input).value = str(tmp_path / "missing.json")
        await pilot.press("enter")
        await wait_for(pilot, app, lambda: any("does not exist" in n for n in app.notes))
        assert app.screen is dialog and dialog.result is None
        await pilot.press("escape")
        await wait_for(pilot, app, lambda: app.screen is screen)
        assert app.screen is screen and screen.form.config.family == "sd15"
