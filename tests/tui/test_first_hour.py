"""The first hour in the TUI (issue 14): discarding an edit, Tab without editing, `x` from any panel, adding a
dataset with shell-like completion that stays open on errors and says what a folder holds."""

from __future__ import annotations

from loratui.tui.app import LoratuiApp

from .conftest import settle


def _caption_of(ctx, rel_path: str) -> str:
    return (ctx.paths.demo / rel_path).with_suffix(".txt").read_text(encoding="utf-8")


async def test_tab_from_the_list_does_not_start_editing_so_r_rescans(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        await pilot.press("j")
        await settle(pilot, app)
        rel, before = main.loaded.rel_path, main.editor.text
        await pilot.press("tab")
        assert app.focused is main.editor
        await pilot.press("r")
        await settle(pilot, app)
        assert main.editor.text == before and not main.dirty
        assert _caption_of(demo_ctx, rel) == before


async def test_ctrl_r_discards_an_edit_and_escape_saves(demo_ctx):
    from textual.widgets import Footer

    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        rel, original = main.loaded.rel_path, main.editor.text
        await pilot.press("e")
        assert main.editor.editing
        # The footer says what Escape does, and offers the discard key.
        footer = {(b.key, b.description) for b in app.screen.query_one(Footer).screen.active_bindings.values()
                  for b in [b.binding]}
        assert ("escape", "Back to list (saves)") in footer and ("ctrl+r", "Discard edit") in footer
        await pilot.press(*", typo")
        assert main.dirty
        await pilot.press("ctrl+r")
        assert main.editor.text == original and not main.dirty and main.editor.editing
        await pilot.press("ctrl+z")  # the discarded text is one undo away
        assert main.editor.text == original + ", typo"
        await pilot.press("ctrl+r", "escape")
        await settle(pilot, app)
        assert app.focused is main.image_list
        assert _caption_of(demo_ctx, rel) == original  # discarded: nothing written

        await pilot.press("e", *", kept", "escape")
        await settle(pilot, app)
        assert _caption_of(demo_ctx, rel) == original + ", kept"  # Escape saves


async def test_tab_away_while_editing_saves_and_tab_back_views(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        rel, original = main.loaded.rel_path, main.editor.text
        await pilot.press("enter", *", blue")
        await pilot.press("tab")
        await settle(pilot, app)
        assert app.focused is not main.editor and not main.editor.editing
        assert _caption_of(demo_ctx, rel) == original + ", blue"
        await pilot.press("shift+tab")
        assert app.focused is main.editor and main.editor.read_only
        await pilot.press("x", "y")  # viewing: letters are keys, not text
        await pilot.press("escape")  # back out of the confirmation `x` may have opened
        assert main.editor.text == original + ", blue"
        app.screen.set_focus(main.editor)
        await pilot.press("e")  # e while viewing starts editing
        assert main.editor.editing and not main.editor.read_only
        await pilot.press(*"e!")
        assert main.editor.text.endswith(", bluee!")


async def _wait_for(pilot, predicate, timeout: float = 10.0) -> bool:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


async def test_x_cancels_the_only_job_from_any_panel_after_asking(demo_ctx):
    from textual.widgets import Input

    from loratui.jobs import repo
    from loratui.jobs.model import JobStatus
    from loratui.tui.screens.confirm import ConfirmScreen
    from loratui.tui.widgets.jobs_strip import JobsStrip

    app = LoratuiApp(demo_ctx, "demo")
    notes: list[str] = []
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        strip = main.query_one(JobsStrip)
        original_notify = app.notify
        app.notify = lambda message, **kw: (notes.append(message), original_notify(message, **kw))[1]
        assert app.focused is main.image_list
        await pilot.press("x")  # nothing runs: it says so
        assert notes and "No job is running" in notes[-1] and not isinstance(app.screen, ConfirmScreen)

        job = await app.store.run(repo.create_job, "tag", title="Tag demo", status=JobStatus.PREPARING)
        assert await _wait_for(pilot, lambda: len(strip.jobs) == 1)
        for panel in (main.image_list, main.editor, main.query_one("#tags")):
            panel.focus()
            await pilot.press("x")
            assert isinstance(app.screen, ConfirmScreen), panel
            await pilot.press("n")  # keep it running
            assert not (await app.store.run(repo.get_job, job.id)).cancel_requested
        main.image_list.focus()
        await pilot.press("x", "y")
        assert await _wait_for(pilot, lambda: strip.jobs and strip.jobs[0].cancel_requested)
        assert (await app.store.run(repo.get_job, job.id)).cancel_requested

        # Two jobs: x focuses the strip to pick one; x there cancels the selected one.
        other = await app.store.run(repo.create_job, "caption", title="Caption demo", status=JobStatus.RUNNING)
        assert await _wait_for(pilot, lambda: len(strip.jobs) == 2)
        main.image_list.focus()
        await pilot.press("x")
        assert app.focused is strip and "2 jobs" in notes[-1]
        await pilot.press("j", "x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        assert await _wait_for(pilot, lambda: any(j.id == other.id and j.cancel_requested for j in strip.jobs))
        # In the filter box, x is text.
        await pilot.press("slash", "x")
        assert main.query_one("#filter", Input).value == "x"


def _kohya_tree(root, image_factory):
    """root/10_photos (3 images, 2 captions), root/2_gray (1 image), root/.cache (hidden), root/notes.txt."""
    for name in ("a", "b", "c"):
        image_factory(root / "10_photos" / f"{name}.png")
    (root / "10_photos" / "a.txt").write_text("photo", encoding="utf-8")
    (root / "10_photos" / "b.txt").write_text("photo", encoding="utf-8")
    image_factory(root / "2_gray" / "g.jpg", fmt="JPEG")
    (root / ".cache").mkdir()
    (root / "notes.txt").write_text("not a folder", encoding="utf-8")
    return root


def test_completion_is_shell_like(tmp_path, image_factory):
    from loratui.tui.screens.add_dataset import complete_path

    root = _kohya_tree(tmp_path / "real", image_factory)
    (tmp_path / "set_a").mkdir()
    (tmp_path / "set_b").mkdir()
    # A trailing slash with several subfolders: nothing is picked, both are offered (2 before 10).
    listed = complete_path(f"{root}/")
    assert listed.value == f"{root}/" and listed.candidates == ["2_gray", "10_photos"]
    assert complete_path(f"{root}/1").value == f"{root}/10_photos/"  # unique: completed with its slash
    assert complete_path(str(tmp_path / "s")).value == str(tmp_path / "set_")  # the common prefix only
    assert complete_path(str(tmp_path / "set_")).candidates == ["set_a", "set_b"]
    assert complete_path(f"{root}/.").candidates == [".cache"]  # hidden only when asked for
    assert complete_path(f"{root}/n").value == f"{root}/n"  # files do not complete
    assert complete_path(str(tmp_path / "nothing" / "x")).value == str(tmp_path / "nothing" / "x")


def test_folder_summary_counts_subsets_and_spots_a_single_subset(tmp_path, image_factory):
    from loratui.datasets.folder_summary import summarize_folder

    root = _kohya_tree(tmp_path / "real", image_factory)
    summary = summarize_folder(root)
    assert [(f.rel_path, f.repeats, f.images, f.captions) for f in summary.folders] == [
        ("2_gray", 2, 1, 0), ("10_photos", 10, 3, 2)]
    assert summary.images == 4 and summary.captions == 2 and summary.complete and summary.subset_of is None
    one = summarize_folder(root / "10_photos")
    assert one.subset_of == root and one.siblings == ["2_gray"]
    # Bounded: a walk that hits its limit says so instead of taking its time.
    partial = summarize_folder(root, max_entries=1)
    assert not partial.complete


async def test_add_dataset_lists_candidates_stays_open_on_errors_and_says_what_a_folder_holds(
        demo_ctx, tmp_path, image_factory):
    from textual.widgets import Static

    from loratui.tui.screens.add_dataset import AddDatasetScreen, PathInput

    root = _kohya_tree(tmp_path / "real", image_factory)
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("a")
        dialog = app.screen
        assert isinstance(dialog, AddDatasetScreen)
        path_input = dialog.query_one(PathInput)
        await pilot.press(*f"{root}/", "tab")
        await pilot.pause(0.1)
        assert path_input.value == f"{root}/"  # Tab did not descend into the first subset
        candidates = dialog.query_one("#add-candidates", Static)
        assert candidates.display and "2_gray/  10_photos/" in str(candidates.render())
        summary = dialog.query_one("#add-summary", Static)
        assert await _wait_for(pilot, lambda: summary.display and "2 kohya subsets" in str(summary.render()))
        assert "4 images, 2 with captions" in str(summary.render())

        # One subset chosen: the dialog says the parent holds the others.
        await pilot.press("1", "tab")
        await pilot.pause(0.1)
        assert path_input.value == f"{root}/10_photos/" and not candidates.display
        assert await _wait_for(pilot, lambda: "looks like one subset" in str(summary.render()))

        # An error keeps the dialog open with the text as typed.
        await pilot.press(*"nope", "enter")
        error = dialog.query_one("#add-error", Static)
        assert await _wait_for(pilot, lambda: error.display)
        assert "does not exist" in str(error.render()) and app.screen is dialog
        assert path_input.value == f"{root}/10_photos/nope"
        # Everything fits 80x24.
        box = dialog.query_one("#dialog").region
        assert box.bottom <= 24 and box.right <= 80 and path_input.region.bottom <= 24

        # The demo folder is registered already (as "demo"): refused in the dialog too.
        path_input.value = str(demo_ctx.paths.demo)
        await pilot.press("enter")
        assert await _wait_for(pilot, lambda: "already exists" in str(error.render()))
        assert app.screen is dialog

        path_input.value = str(root)
        await pilot.press("enter")
        assert await _wait_for(pilot, lambda: app.current_dataset is not None and app.current_dataset.name == "real")
        await settle(pilot, app)
        assert app.main_screen.image_list.count == 4


async def test_a_failed_add_reopens_the_dialog_with_the_text(demo_ctx, tmp_path):
    from textual.widgets import Static

    from loratui.tui.screens.add_dataset import AddDatasetScreen, PathInput

    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        gone = tmp_path / "gone"  # checked by the dialog, then removed before the scan started
        app.main_screen._add_worker(str(gone))
        assert await _wait_for(pilot, lambda: isinstance(app.screen, AddDatasetScreen))
        error = app.screen.query_one("#add-error", Static)
        # Shown once the dialog is mounted.
        assert await _wait_for(pilot, lambda: error.display and "does not exist" in str(error.render()))
        assert app.screen.query_one(PathInput).value == str(gone)


async def test_tagging_started_offline_shows_a_preparing_job_at_once_and_x_cancels_it(demo_ctx, monkeypatch, tmp_path):
    """The reported run: tagging started while the Hub does not answer showed no job for ~25 s, and `x` on the
    image list did nothing. Now the job is in the strip as `preparing` (waiting for the model) right away, and
    `x`, `y` from the image list ends it as cancelled."""
    import huggingface_hub.constants as hub_constants
    from textual.widgets import Input

    from loratui.jobs import repo
    from loratui.jobs.model import JobStatus
    from loratui.tui.screens.confirm import ConfirmScreen
    from loratui.tui.screens.tagging import TaggingScreen
    from loratui.tui.widgets.jobs_strip import JobsStrip, job_line
    from tests.slowserver import slow_server

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    app = LoratuiApp(demo_ctx, "demo")
    notes: list[str] = []
    with slow_server(hold=True) as (hub, url):
        monkeypatch.setenv("HF_ENDPOINT", url)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app)
            original_notify = app.notify
            app.notify = lambda message, **kw: (notes.append(message), original_notify(message, **kw))[1]
            strip = app.main_screen.query_one(JobsStrip)
            await pilot.press("T")
            assert await _wait_for(pilot, lambda: isinstance(app.screen, TaggingScreen))
            app.screen.query_one("#wd14-model", Input).value = "acme/slow-tagger"
            await pilot.press("ctrl+s")
            assert await _wait_for(pilot, lambda: bool(strip.jobs), timeout=3.0)  # before the Hub answered
            job = strip.jobs[0]
            assert job.status == JobStatus.PREPARING and not hub.release.is_set()
            assert "preparing" in job_line(job).plain and "fetching model acme/slow-tagger" in job_line(job).plain
            app.main_screen.image_list.focus()
            await pilot.press("x")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            assert await _wait_for(pilot, lambda: any("cancelled" in note for note in notes))
            assert (await app.store.read(repo.get_job, job.id)).status == JobStatus.CANCELLED
            assert await _wait_for(pilot, lambda: not strip.jobs)
