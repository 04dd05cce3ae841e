"""The training form in a small host app (Pilot): edit a field, see the steps change, see an error."""

from __future__ import annotations


import pytest
from textual.app import App
from textual.widgets import Checkbox, Input, OptionList, Static

from loratui.config import tomllib
from loratui.tui.screens.training import ACTIONS, TrainingScreen


class HostApp(App):
    """Stands in for LoratuiApp: ctx, store, current_dataset."""

    def __init__(self, ctx, store, dataset) -> None:
        super().__init__()
        self.ctx, self.store, self.current_dataset = ctx, store, dataset
        self.notes: list[str] = []

    def on_mount(self) -> None:
        screen = ACTIONS[0].factory(self)
        if screen is not None:
            self.push_screen(screen)

    def notify(self, message, **kwargs) -> None:
        self.notes.append(message)
        super().notify(message, **kwargs)


@pytest.fixture
async def form_app(store, ctx, make_dataset, register, tmp_path):
    root = make_dataset({"10_a": [(512, 512), (768, 512), (768, 512)], "5_b": [(512, 768)]})
    dataset = await register(root)
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"x")
    return HostApp(ctx, store, dataset), model


async def ready(pilot, app) -> TrainingScreen:
    screen = app.screen
    assert isinstance(screen, TrainingScreen)
    for _ in range(50):
        await pilot.pause()
        if screen.form is not None and screen.query("#opt-pretrained_model_name_or_path"):
            break
    await app.workers.wait_for_complete()
    await pilot.pause()
    return screen


def steps_text(screen) -> str:
    return str(screen.query_one("#steps-panel", Static).render())


def error_text(screen, name) -> str:
    return str(screen.query_one(f"#err-{name}", Static).render())


async def set_input(pilot, screen, name, text):
    field = screen.query_one(f"#opt-{name}", Input)
    field.focus()
    if len(text) > 8:
        field.value = text  # long paths: set at once (Input.Changed fires just the same)
    else:
        field.value = ""
        await pilot.press(*list(text)) if text else None
    await pilot.pause()


async def test_edit_field_changes_steps_and_shows_errors(form_app):
    app, model = form_app
    async with app.run_test(size=(180, 60)) as pilot:
        screen = await ready(pilot, app)
        # preset sd15-12gb: 512 res, no upscale, batch 4, 10 epochs
        assert "dataset ds" in steps_text(screen)
        assert "✗ is required" in error_text(screen, "pretrained_model_name_or_path")
        await set_input(pilot, screen, "pretrained_model_name_or_path", str(model))
        assert error_text(screen, "pretrained_model_name_or_path") == ""

        await set_input(pilot, screen, "max_train_epochs", "3")
        await set_input(pilot, screen, "train_batch_size", "2")
        screen.form.set_value("bucket_no_upscale", None)
        screen.refresh_status()
        await pilot.pause()
        assert "total steps 54" in steps_text(screen)  # hand-computed in test_steps: 18 batches x 3 epochs
        assert "640x384" in steps_text(screen) and "█" in steps_text(screen)

        await set_input(pilot, screen, "train_batch_size", "1")
        assert "total steps 105" in steps_text(screen)  # 10 + 20 + 5 batches x 3

        await set_input(pilot, screen, "train_batch_size", "two")
        assert "integer" in error_text(screen, "train_batch_size")
        await set_input(pilot, screen, "train_batch_size", "0")
        assert "more than 0" in error_text(screen, "train_batch_size")
        await set_input(pilot, screen, "train_batch_size", "1")
        assert error_text(screen, "train_batch_size") == ""


async def test_sections_search_checkbox_and_combination_error(form_app):
    app, model = form_app
    async with app.run_test(size=(180, 60)) as pilot:
        screen = await ready(pilot, app)
        screen.query_one("#sections", OptionList).highlighted = 4  # dataset
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query("#opt-enable_bucket") and not screen.query("#opt-network_dim")
        color = screen.query_one("#opt-color_aug", Checkbox)
        color.value = True
        await pilot.pause()
        assert "cache_latents" in error_text(screen, "color_aug")  # the preset caches latents

        search = screen.query_one("#option-search", Input)
        search.focus()
        await pilot.press(*"noise_offset")
        await pilot.pause(0.4)
        await pilot.pause()
        assert screen.query("#opt-noise_offset") and not screen.query("#opt-enable_bucket")
        help_texts = " ".join(str(w.render()) for w in screen.query(".option-help").results(Static))
        assert "noise offset" in help_texts

        screen.query_one("#sections", OptionList).highlighted = 5  # saving: save_state offered first
        await pilot.pause()
        await pilot.pause()
        rows = [w.id for w in screen.query(".option-editor")]
        assert rows[:2] == ["opt-save_state", "opt-save_every_n_steps"]


async def test_start_refused_with_errors_then_save_and_save_preset(form_app, home):
    app, model = form_app
    async with app.run_test(size=(180, 60)) as pilot:
        screen = await ready(pilot, app)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert any("Fix" in n and "error" in n for n in app.notes)  # refuses while the model is missing
        await set_input(pilot, screen, "pretrained_model_name_or_path", str(model))
        await set_input(pilot, screen, "output_dir", str(home / "out"))
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = tomllib.loads((home / "training" / "ds.toml").read_text())
        assert saved["dataset"] == "ds" and saved["args"]["pretrained_model_name_or_path"] == str(model)
        screen.query_one("#preset-name", Input).value = "my-preset"
        screen.query_one("#save-preset").press()
        await pilot.pause()
        assert (home / "presets" / "my-preset.toml").is_file()


async def test_start_hands_over_to_the_runner(form_app, monkeypatch, home):
    """start_training(store, ctx, config_path, dataset_id=...) is the runner's documented entry point."""
    app, model = form_app
    calls = []

    async def start_training(store, ctx, config, **kwargs):
        calls.append((config, kwargs))
        return 42

    monkeypatch.setattr("loratui.tui.screens.training.start_training", start_training)
    async with app.run_test(size=(180, 60)) as pilot:
        screen = await ready(pilot, app)
        await set_input(pilot, screen, "pretrained_model_name_or_path", str(model))
        await set_input(pilot, screen, "output_dir", str(home / "out"))
        await pilot.press("ctrl+t")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert calls and str(calls[0][0]).endswith("ds.toml") and calls[0][1]["dataset_id"] == app.current_dataset.id
    assert any("job 42 started" in n for n in app.notes)


async def test_no_dataset_means_no_form(store, ctx):
    app = HostApp(ctx, store, None)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert not isinstance(app.screen, TrainingScreen)
        assert any("Open a dataset first" in n for n in app.notes)


async def test_preset_and_family_switch_reload_the_form(form_app, home):
    from textual.widgets import Select

    app, model = form_app
    async with app.run_test(size=(180, 60)) as pilot:
        screen = await ready(pilot, app)
        await set_input(pilot, screen, "pretrained_model_name_or_path", str(model))
        screen.query_one("#preset", Select).value = "flux-16gb"
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        form = screen.form
        assert (form.config.family, form.config.args["network_module"]) == ("flux", "networks.lora_flux")
        assert form.config.args["pretrained_model_name_or_path"] == str(model)  # filled-in paths are kept
        assert screen.query("#opt-t5xxl") and "required" in error_text(screen, "t5xxl")
        screen.query_one("#family", Select).value = "kohya:sdxl"
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.form.config.family == "sdxl" and not screen.query("#opt-t5xxl")
