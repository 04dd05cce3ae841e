"""Pilot tests of the main screen: navigation, filtering, editing and saving, the external-change prompt, help."""

from __future__ import annotations

import os
import sqlite3

from textual.screen import Screen
from textual.widgets import Static

from loratui.tui.app import LoratuiApp
from loratui.tui.extensions import ScreenAction
from loratui.tui.screens.confirm import ConfirmScreen
from loratui.tui.screens.help import HelpScreen
from loratui.tui.widgets.image_list import ImageList

from .conftest import settle


def _caption_of(ctx, rel_path: str) -> str:
    return (ctx.paths.demo / rel_path).with_suffix(".txt").read_text(encoding="utf-8")


def _db(ctx):
    conn = sqlite3.connect(ctx.paths.db)
    conn.row_factory = sqlite3.Row
    return conn


async def test_navigation_moves_cursor_and_loads_captions(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        images = app.screen.query_one(ImageList)
        assert app.focused is images
        assert images.count == 13
        first = images.highlighted_id
        await pilot.press("j", "j", "down")
        await settle(pilot, app)
        assert images.cursor == 3
        main = app.main_screen
        assert main.loaded.image_id == images.highlighted_id != first
        rel = main.loaded.rel_path
        disk = (demo_ctx.paths.demo / rel).with_suffix(".txt")
        expected = disk.read_text(encoding="utf-8") if disk.exists() else ""
        assert main.editor.text == expected
        await pilot.press("k")
        await settle(pilot, app)
        assert images.cursor == 2
        await pilot.press("G")
        await settle(pilot, app)
        assert images.cursor == images.count - 1
        await pilot.press("g")
        await settle(pilot, app)
        assert images.cursor == 0
        await pilot.press("pagedown")
        await settle(pilot, app)
        assert images.cursor == images.count - 1  # the list is shorter than a page
        # Tab goes to the next panel.
        await pilot.press("tab")
        assert app.focused is not images
        assert app.current_dataset.name == "demo"


async def test_tree_selects_a_subset(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, app)
        tree = app.screen.query_one("#tree")
        tree.focus()
        # The cursor starts on the open dataset; below it: 10_scenery, 5_patterns.
        await pilot.press("j", "j", "enter")
        await settle(pilot, app)
        images = app.screen.query_one(ImageList)
        names = [images.rows.names[i] for i in images.view]
        assert names and all(name.startswith("5_patterns/") for name in names)
        assert app.focused is images


async def test_filter_by_name_caption_and_tag(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        images = app.screen.query_one(ImageList)
        await pilot.press("slash")
        await pilot.press(*"stripes")
        await pilot.press("enter")
        await settle(pilot, app)
        names = [images.rows.names[i] for i in images.view]
        assert names and all("stripes" in name for name in names)
        assert app.focused is images
        # Caption text and tags match too: "night" is in night-sky captions and file names; "moon" only in tags.
        await pilot.press("slash", "ctrl+u", *"moon", "enter")
        await settle(pilot, app)
        names = [images.rows.names[i] for i in images.view]
        assert names and all("night_sky" in name for name in names)
        # Escape in the filter box clears it.
        await pilot.press("slash", "escape")
        await settle(pilot, app)
        assert images.count == 13
        await pilot.press("slash", *"no-such-thing", "enter")
        await settle(pilot, app)
        assert images.count == 0


async def test_edit_save_on_move_changes_exactly_that_file(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        await pilot.press("j")
        await settle(pilot, app)
        rel = main.loaded.rel_path
        before = {p: p.stat().st_mtime_ns for p in demo_ctx.paths.demo.rglob("*.txt")}
        original = _caption_of(demo_ctx, rel)
        await pilot.press("e")
        assert app.focused is main.editor
        await pilot.press(*", red", "alt+down")
        await settle(pilot, app)
        assert app.focused is main.editor  # stayed in the editor, on the next image
        assert main.loaded.rel_path != rel
        assert _caption_of(demo_ctx, rel) == original + ", red"
        after = {p: p.stat().st_mtime_ns for p in demo_ctx.paths.demo.rglob("*.txt")}
        changed = [p for p in after if after[p] != before.get(p)]
        assert changed == [(demo_ctx.paths.demo / rel).with_suffix(".txt")]
        with _db(demo_ctx) as conn:
            row = conn.execute("SELECT id, caption, tag_count, edited_at FROM images WHERE rel_path = ?",
                               (rel,)).fetchone()
            assert row["caption"] == original + ", red"
            assert row["edited_at"] is not None
            tags = [r[0] for r in conn.execute(
                "SELECT tag FROM image_tags WHERE image_id = ? ORDER BY position", (row["id"],))]
            assert tags[-1] == "red" and row["tag_count"] == len(tags)
            ops = conn.execute("SELECT kind, state FROM operations").fetchall()
            assert [tuple(o) for o in ops] == [("edit", "applied")]
        # The list row shows the edit flag and the new tag count.
        images = app.screen.query_one(ImageList)
        index = images.rows.index_of(row["id"])
        assert images.rows.flags[index] & 8 and images.rows.tag_counts[index] == len(tags)
        # Programmatic loads are not edits: moving around without typing writes nothing.
        await pilot.press("escape", "j", "j", "k")
        await settle(pilot, app)
        assert {p: p.stat().st_mtime_ns for p in demo_ctx.paths.demo.rglob("*.txt")} == after


async def test_ctrl_s_saves_and_uncaptioned_image_gets_a_file(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        images = app.screen.query_one(ImageList)
        index = next(i for i, flags in enumerate(images.rows.flags) if flags & 2)  # an uncaptioned image
        images.move_to(images.view.index(index))
        await settle(pilot, app)
        rel = main.loaded.rel_path
        caption = (demo_ctx.paths.demo / rel).with_suffix(".txt")
        assert not caption.exists()
        await pilot.press("enter", *"a cat", "ctrl+s")
        await settle(pilot, app)
        assert caption.read_text(encoding="utf-8") == "a cat"
        assert not images.rows.flags[index] & 2


async def test_external_change_prompts_before_overwriting(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        rel = main.loaded.rel_path
        caption = (demo_ctx.paths.demo / rel).with_suffix(".txt")
        await pilot.press("e", *", mine")
        # Someone else changes the file meanwhile (a later mtime, as a real edit would have).
        caption.write_text("edited elsewhere", encoding="utf-8")
        st = caption.stat()
        os.utime(caption, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000))
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep the disk version
        await settle(pilot, app)
        assert caption.read_text(encoding="utf-8") == "edited elsewhere"
        assert main.editor.text == "edited elsewhere"
        # Still in the editor: edit again, change on disk again, and this time overwrite.
        assert app.focused is main.editor
        await pilot.press(*", mine")
        caption.write_text("edited elsewhere again", encoding="utf-8")
        st = caption.stat()
        os.utime(caption, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
        await pilot.press("escape")  # leaving the editor saves too
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot, app)
        assert caption.read_text(encoding="utf-8") == "edited elsewhere, mine"


async def test_help_lists_every_binding_and_screen_actions_plug_in(demo_ctx, monkeypatch):
    class Probe(Screen):
        BINDINGS = [("escape", "app.pop_screen", "Back")]

        def compose(self):
            yield Static("probe screen")

    seen = []

    def factory(app):
        seen.append((app.ctx, app.store, app.current_dataset))
        return Probe()

    action = ScreenAction(id="open_probe", key="P", description="Probe screen", factory=factory)
    monkeypatch.setattr("loratui.tui.app.discover_actions", lambda: [action])
    demo_ctx.settings.ui.keys = {"list.down": "n"}
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {entry[1]: entry for entry in app.screen.entries}
        for expected in ("list.down", "list.edit", "editor.next", "editor.save", "main.filter", "jobs.cancel",
                         "app.help", "open_probe"):
            assert expected in ids
        assert ids["list.down"][2] == "n"  # remapped through config
        assert ids["open_probe"][2] == "P"
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        # The remapped key moves the cursor; the old one no longer does.
        images = app.screen.query_one(ImageList)
        await pilot.press("n")
        assert images.cursor == 1
        await pilot.press("j")
        assert images.cursor == 1
        # The screen action's key pushes its screen with the app's context.
        await pilot.press("P")
        assert isinstance(app.screen, Probe)
        assert seen[0][0] is demo_ctx and seen[0][1] is app.store and seen[0][2].name == "demo"
        await pilot.press("escape")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Probe screen" in titles and "Add dataset" in titles and "Filter" in titles


async def test_file_names_are_shown_literally(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        images = app.screen.query_one(ImageList)
        lines = [images.render_line(y).text for y in range(images.size.height)]
        assert any("photo_[red]x.png" in line for line in lines)
        row = next(i for i, name in enumerate(images.rows.names) if "[red]" in name)
        images.move_to(images.view.index(row))
        await settle(pilot, app)
        # The rendered screen (list row and preview title) shows the brackets, not red text.
        assert app.export_screenshot().count("photo_[red]x.png") == 2


async def test_no_datasets_says_how_to_start(home):
    from loratui.config import Context

    app = LoratuiApp(Context.load(home))
    async with app.run_test(size=(80, 24)) as pilot:
        text = ""
        for _ in range(100):  # the first read of the (empty) store; slower while other tests load the machine
            await pilot.pause(0.05)
            images = app.screen.query_one(ImageList)
            text = " ".join(images.render_line(y).text.strip() for y in range(4))
            if "press a" in text:
                break
        assert "press a to add a folder" in text and "loratui demo" in text
        # Without a dataset to open, the feature screens' keys are bound too.
        assert app.screen_actions_ready and app.screen_actions and {entry[1] for entry in app.binding_catalogue()} >= {
            action.id for action in app.screen_actions}


async def test_jobs_strip_shows_active_jobs_and_cancels(demo_ctx):
    from loratui.jobs import repo
    from loratui.jobs.model import JobStatus
    from loratui.tui.widgets.jobs_strip import JobsStrip

    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        strip = app.screen.query_one(JobsStrip)
        assert "No active jobs" in strip.render_line(0).text
        job = await app.store.run(repo.create_job, "tag", title="wd14", status=JobStatus.RUNNING)
        await app.store.run(repo.update_job, job.id, progress_done=30, progress_total=120)
        for _ in range(50):  # the change feed reloads the strip after each write
            await pilot.pause(0.05)
            line = strip.render_line(0).text
            if "30/120" in line:
                break
        assert f"#{job.id}" in line and "25%" in line and "30/120" in line
        strip.focus()
        await pilot.press("x", "y")  # y: the confirmation
        await pilot.pause(0.1)
        assert (await app.store.run(repo.get_job, job.id)).cancel_requested


async def test_add_dataset_with_completion_and_rescan(demo_ctx, tmp_path, image_factory):
    from loratui.tui.screens.add_dataset import AddDatasetScreen, complete_folder

    folder = tmp_path / "mychar_set"
    image_factory(folder / "10_mychar" / "a.png")
    image_factory(folder / "10_mychar" / "b.png", color=(10, 200, 10))
    (folder / "10_mychar" / "a.txt").write_text("mychar, smile", encoding="utf-8")
    assert complete_folder(str(tmp_path / "mychar_s")) == str(folder) + "/"
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("a")
        assert isinstance(app.screen, AddDatasetScreen)
        await pilot.press(*str(tmp_path / "mychar_s"))
        await pilot.pause(0.2)
        await pilot.press("tab")  # accept the folder completion
        assert app.screen.query_one("#path").value == str(folder) + "/"
        await pilot.press("enter")
        await settle(pilot, app)
        for _ in range(40):  # the scan runs in a worker
            if app.current_dataset is not None and app.current_dataset.name == "mychar_set":
                break
            await pilot.pause(0.1)
        await settle(pilot, app)
        assert app.current_dataset.name == "mychar_set"
        images = app.screen.query_one(ImageList)
        assert images.count == 2
        # An edit made outside loratui shows up after `r`.
        (folder / "10_mychar" / "b.txt").write_text("mychar, outside edit", encoding="utf-8")
        await pilot.press("r")
        for _ in range(40):
            await pilot.pause(0.1)
            if all(w.is_finished for w in app.workers):
                break
        await settle(pilot, app)
        with _db(demo_ctx) as conn:
            assert conn.execute("SELECT caption FROM images WHERE rel_path = '10_mychar/b.png'").fetchone()[0] \
                == "mychar, outside edit"
        index = images.rows.names.index("10_mychar/b.png")
        assert not images.rows.flags[index] & 2  # no longer uncaptioned in the list


async def test_preview_shows_real_size_and_decodes_the_next_image_ahead(demo_ctx):
    from loratui.tui.widgets.preview import ImagePreview

    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        preview = app.screen.query_one(ImagePreview)
        for _ in range(40):
            if preview.preview is not None and len(preview.cache) >= 2:
                break
            await pilot.pause(0.05)
        images = app.screen.query_one(ImageList)
        row = images.view[images.cursor]
        assert (preview.preview.width, preview.preview.height) == (images.rows.widths[row], images.rows.heights[row])
        info = str(app.screen.query_one("#preview-info").render())
        assert f"{images.rows.widths[row]}x{images.rows.heights[row]}" in info
        # `loratui demo` scanned the images, so the preview draws from their stored thumbnails.
        thumbnail = preview.thumbnails.get(images.rows.ids[row])
        assert thumbnail is not None and thumbnail.matches(demo_ctx.paths.demo / images.rows.names[row])
        # The next image was decoded while the cursor rested: stepping to it draws from the cache.
        next_row = images.view[images.cursor + 1]
        next_path = str(demo_ctx.paths.demo / images.rows.names[next_row])
        assert any(key[0] == next_path for key in preview.cache._items)
        await pilot.press("j")
        assert preview.preview is not None and preview._wanted[0] == next_path


async def test_other_screens_can_filter_the_list_and_read_the_shown_ids(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert app.current_image_ids is None
        app.main_screen.apply_filter("stripes")  # what the tag frequency screen calls
        await settle(pilot, app)
        await pilot.pause(0.3)
        await settle(pilot, app)
        images = app.screen.query_one(ImageList)
        shown = app.current_image_ids
        assert shown and len(shown) == images.count
        assert all("stripes" in images.rows.names[images.rows.index_of(i)] for i in shown)
        assert app.screen.query_one("#filter").value == "stripes"


async def test_filter_accepts_the_query_language_and_reports_bad_queries(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        images = app.screen.query_one(ImageList)
        total = images.count
        await pilot.press("slash", *"tag:moon", "enter")
        await settle(pilot, app)
        moon = {images.rows.names[i] for i in images.view}
        assert moon and all("night_sky" in name for name in moon)
        await pilot.press("slash", "ctrl+u", *"-tag:moon", "enter")
        await settle(pilot, app)
        rest = {images.rows.names[i] for i in images.view}
        assert rest and not rest & moon and len(rest) + len(moon) == total
        # A query that does not parse is reported with its position; the list stays as it was.
        await pilot.press("slash", "ctrl+u", *"(tag:moon", "enter")
        await settle(pilot, app)
        assert {images.rows.names[i] for i in images.view} == rest
        messages = [n.message for n in app._notifications]
        assert any("position" in m and "»" in m for m in messages), messages
