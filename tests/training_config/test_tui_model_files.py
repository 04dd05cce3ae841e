"""The training form fills family and model options from a model file given in any model field (Enter)."""

from __future__ import annotations

from textual.widgets import Input, Select

from tests.models.layouts import load, write_standin
from tests.training_config.test_tui_form import HostApp, ready


async def _submit(pilot, screen, name, text):
    field = screen.query_one(f"#opt-{name}", Input)
    field.focus()
    field.value = text
    await pilot.press("enter")
    for _ in range(20):
        await pilot.pause()
    await screen.app.workers.wait_for_complete()
    await pilot.pause()


async def test_a_model_file_sets_the_family_and_goes_to_its_option(store, ctx, make_dataset, register, tmp_path):
    dataset = await register(make_dataset({"10_a": [(512, 512)]}))
    flux = write_standin(tmp_path / "flux1-dev.safetensors", load("flux1_dev_dit"))
    ae = write_standin(tmp_path / "ae.safetensors", load("flux1_ae"))
    app = HostApp(ctx, store, dataset)
    async with app.run_test(size=(180, 60)) as pilot:
        screen = await ready(pilot, app)
        assert screen.form.config.family == "sd15"
        await _submit(pilot, screen, "pretrained_model_name_or_path", str(flux))
        screen = await ready(pilot, app)
        assert (screen.form.config.backend, screen.form.config.family) == ("kohya", "flux")
        assert screen.query_one("#family", Select).value == "kohya:flux"
        assert screen.form.config.args["pretrained_model_name_or_path"] == str(flux)
        assert any("family set to flux" in n for n in app.notes)
        # the AE typed into the model field moves to `ae`, and the model field is left empty
        await _submit(pilot, screen, "pretrained_model_name_or_path", str(ae))
        assert screen.form.config.args["ae"] == str(ae)
        assert screen.form.config.args.get("pretrained_model_name_or_path") is None
        assert any("ae.safetensors → ae" in n for n in app.notes)
