"""The training form at 80x24 and its safe defaults (issue 14): nothing typed on open edits a field, the
validation panel and the Save/Start buttons are on screen, sections read as one entry each, saving needs a
.toml path and asks before replacing another file."""

from __future__ import annotations

from textual.widgets import Input, OptionList

from loratui.config import tomllib
from loratui.tui.screens.confirm import ConfirmScreen
from loratui.training.schema import SECTIONS

from .test_tui_form import form_app, ready, set_input  # noqa: F401  (form_app is a fixture)


async def _answer(pilot, app, key: str) -> None:
    for _ in range(50):
        await pilot.pause(0.02)
        if isinstance(app.screen, ConfirmScreen):
            break
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press(key)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_opens_on_the_sections_and_everything_fits_at_80x24(form_app):
    app, _model = form_app
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot, app)
        path_field = screen.query_one("#config-path", Input)
        original = path_field.value
        assert app.focused is screen.query_one("#sections", OptionList)
        await pilot.press("j", "j")  # a vim user scrolling
        await pilot.pause()
        assert path_field.value == original
        # Tab to the path field: the text is not selected, so a key typed there adds, never replaces.
        path_field.focus()
        await pilot.pause()
        assert path_field.selection.is_empty
        for selector in ("#issues-box", "#save", "#start", "#steps-box"):
            region = screen.query_one(selector).region
            assert region.height > 0 and region.bottom <= 23 and region.right <= 80, (selector, region)
        sections = screen.query_one("#sections", OptionList)
        lines = [sections.render_line(y).text for y in range(sections.content_size.height)]
        assert any("learning rate" in line for line in lines)  # on one line, not "learning" / "rate"
        assert sections.option_count == len(SECTIONS)
        assert not any(line.strip() == "rate" for line in lines)


async def test_save_needs_a_toml_path_and_asks_before_overwriting(form_app, home, tmp_path, monkeypatch):
    app, model = form_app
    monkeypatch.chdir(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot, app)
        await set_input(pilot, screen, "pretrained_model_name_or_path", str(model))
        path_field = screen.query_one("#config-path", Input)

        path_field.value = "jj"
        await pilot.press("ctrl+s")
        await _answer(pilot, app, "n")
        assert not (tmp_path / "jj").exists() and not (tmp_path / "jj.toml").exists()
        assert any("must end in .toml" in n for n in app.notes)

        await pilot.press("ctrl+s")
        await _answer(pilot, app, "y")
        assert not (tmp_path / "jj").exists()
        assert tomllib.loads((tmp_path / "jj.toml").read_text())["dataset"] == "ds"
        assert path_field.value.endswith("jj.toml")

        # Saving again to the file this form wrote does not ask.
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)

        other = tmp_path / "other.toml"
        other.write_text("# someone else's\n")
        path_field.value = str(other)
        await pilot.press("ctrl+s")
        await _answer(pilot, app, "n")
        assert other.read_text() == "# someone else's\n"
        await pilot.press("ctrl+s")
        await _answer(pilot, app, "y")
        assert tomllib.loads(other.read_text())["dataset"] == "ds"
