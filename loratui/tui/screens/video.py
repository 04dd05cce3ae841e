"""The video view: one of the dataset's videos full screen, played or scrubbed, and edited through a dialog.

Opened with `V` (ScreenAction ``video.open``) on the video under the main screen's cursor, or on the dataset's
first video. `n`/`p` go to the next or previous video of the dataset. `e` opens ``VideoEditDialog``: choose an
edit (cut at scene changes, cut every N frames, trim to the in/out marks, resample, resize), give its value, see
what it will write (the same plan as ``loratui video ... --dry-run``; a cut's clips are drawn on the timeline),
then apply it. Edits are journaled: `u` (or ``loratui tags NAME undo``) restores the original byte for byte.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from loratui.datasets import history, video_edit, video_service
from loratui.datasets.filekinds import is_video_name
from loratui.datasets.video_frames import time_text
from loratui.errors import InputError, LoratuiError
from loratui.store.changes import ChangeSet
from loratui.text import literal
from loratui.tui.extensions import ScreenAction
from loratui.tui.widgets.key_footer import KeyFooter
from loratui.tui.widgets.video_player import VideoPlayer
from loratui.tui.workers import report_error, work

TCSS = str(Path(__file__).with_name("video.tcss"))

EDITS = [
    # (id, label, value prompt, default value)
    ("scenes", "Cut at scene changes", "threshold 0-1 (lower cuts more)", "0.35"),
    ("length", "Cut every N frames", "clip length: frames (48) or seconds (2s)", "2s"),
    ("trim", "Trim to the marks", "start-end: frames or seconds (empty: the in/out marks)", ""),
    ("resample", "Resample", "new frame rate (fps)", "16"),
    ("resize", "Resize", "WxH, or W x for the width alone (x H: the height)", ""),
]


def edit_params(edit: str, value: str, fps: float, marks: tuple[int | None, int | None]) -> tuple[str, dict]:
    """(plan kind, parameters) for a dialog choice and its typed value; InputError when the value is unusable."""
    value = value.strip()
    if edit == "scenes":
        try:
            threshold = float(value or "0.35")
        except ValueError:
            raise InputError(f"threshold {value!r} is not a number") from None
        return "cut", {"scenes": True, "threshold": threshold}
    if edit == "length":
        return "cut", {"length": video_edit.frames_of(value or "2s", fps, "clip length")}
    if edit == "trim":
        if value:
            start, _, end = value.partition("-")
            return "trim", {"start": video_edit.frames_of(start or "0", fps, "start"),
                            "end": video_edit.frames_of(end, fps, "end") if end.strip() else None}
        if marks == (None, None):
            raise InputError("set the in and out marks (i, o) in the player, or type start-end")
        start, end = marks
        return "trim", {"start": start or 0, "end": end + 1 if end is not None else None}
    if edit == "resample":
        try:
            return "resample", {"fps": float(value)}
        except ValueError:
            raise InputError(f"frame rate {value!r} is not a number") from None
    width, _, height = value.lower().partition("x")
    try:
        return "resize", {"width": int(width) if width.strip() else None,
                          "height": int(height) if height.strip() else None}
    except ValueError:
        raise InputError(f"size {value!r}: give WxH, Wx or xH") from None


def plan_text(plan: video_edit.EditPlan) -> Text:
    """The plan as the dialog shows it: one line per file written, then where the original goes."""
    source = plan.info
    text = Text(literal(f"{plan.source_rel}: {source.width}x{source.height}, {source.fps:g} fps, "
                        f"{source.frames} frames"))
    for output in plan.outputs:
        text.append("\n")
        text.append(literal(f"writes {output.rel_path}: {time_text(output.start, source.fps)}-"
                            f"{time_text(output.stop, source.fps)}, {output.frames} frames, {output.fps:g} fps, "
                            f"{output.width}x{output.height}{', caption copied' if output.caption_rel else ''}"))
    text.append("\n")
    moved = plan.source_rel + (f" and {plan.caption_rel}" if plan.caption_rel else "")
    text.append(literal(f"moves {moved} to the trash; u undoes"), style="bold")
    return text


class EditChoice(RadioSet):
    """The list of edits: Enter (or space) chooses the highlighted one and moves on to its value."""

    def action_toggle_button(self) -> None:
        super().action_toggle_button()
        self.screen.query_one("#video-edit-value", Input).focus()


class VideoEditDialog(ModalScreen["video_edit.EditPlan | None"]):
    """Choose an edit and its value, preview what it writes, apply (returns the plan) or cancel."""

    CSS_PATH = TCSS
    HELP_SECTION = "video edit"
    HELP_KEYS = [("↑, ↓, Enter", "Choose the edit (in the list)"),
                 ("Enter", "In the value field: show what the edit writes; on Apply: apply it")]
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="video.edit.cancel"),
        Binding("ctrl+r", "preview", "Preview", id="video.edit.preview"),
    ]

    def __init__(self, dataset, rel_path: str, fps: float, marks: tuple[int | None, int | None],
                 on_plan=None) -> None:
        super().__init__()
        self.dataset, self.rel_path, self.fps, self.marks = dataset, rel_path, fps, marks
        self.on_plan = on_plan
        """Called with each previewed plan (the video view draws a cut's clips on its timeline)."""
        self.plan: video_edit.EditPlan | None = None
        self.edit = EDITS[0][0]

    def compose(self) -> ComposeResult:
        with Vertical(id="video-edit-dialog"):
            yield Static(Text(literal(f"Edit {self.rel_path}")), id="video-edit-title")
            with EditChoice(id="video-edit-kind"):
                for index, (edit_id, label, _prompt, _default) in enumerate(EDITS):
                    yield RadioButton(label, value=index == 0, id=f"edit-{edit_id}")
            yield Static(EDITS[0][2], id="video-edit-prompt")
            yield Input(EDITS[0][3], id="video-edit-value", compact=True)
            with VerticalScroll(id="video-edit-plan"):
                yield Static("Enter shows what the edit writes.", id="video-edit-plan-text")
            with Horizontal(id="video-edit-buttons"):
                yield Button("Apply", id="apply", variant="warning", disabled=True, compact=True)
                yield Button("Cancel (Esc)", id="cancel", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one(EditChoice).focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.edit = EDITS[event.index][0]
        self.query_one("#video-edit-prompt", Static).update(EDITS[event.index][2])
        field = self.query_one("#video-edit-value", Input)
        field.value = EDITS[event.index][3]
        self._stale()
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._stale()

    def _stale(self) -> None:
        self.plan = None
        self.query_one("#apply", Button).disabled = True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_preview()

    def action_preview(self) -> None:
        """Plan the edit (in a thread) and show what it writes."""
        try:
            kind, params = edit_params(self.edit, self.query_one("#video-edit-value", Input).value, self.fps,
                                       self.marks)
        except InputError as exc:
            report_error(self, exc)
            return
        self.query_one("#video-edit-plan-text", Static).update("Planning...")
        self._plan(kind, params)

    @work(exclusive=True, group="video-plan")
    async def _plan(self, kind: str, params: dict) -> None:
        try:
            plan = await asyncio.to_thread(video_edit.plan_edit, self.dataset, kind, self.rel_path, **params)
        except Exception:
            self.query_one("#video-edit-plan-text", Static).update("")
            raise
        self.plan = plan
        self.query_one("#video-edit-plan-text", Static).update(plan_text(plan))
        apply = self.query_one("#apply", Button)
        apply.disabled = False
        apply.focus()
        if self.on_plan is not None:
            self.on_plan(plan)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply" and self.plan is not None:
            self.dismiss(self.plan)
        elif event.button.id == "cancel":
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class VideoScreen(Screen):
    """One video of the dataset, played or scrubbed, with its timeline; edits through `e`, undo with `u`."""

    CSS_PATH = TCSS
    HELP_SECTION = "video view"
    BINDINGS = [
        Binding("escape", "back", "Back", id="video.back"),
        Binding("e", "edit", "Edit", id="video.edit"),
        Binding("n,pagedown", "other(1)", "Next video", id="video.next_video", key_display="n", show=False),
        Binding("p,pageup", "other(-1)", "Previous video", id="video.previous_video", key_display="p", show=False),
        Binding("u", "undo", "Undo", id="video.undo", show=False),
    ]

    def __init__(self, store, dataset, start: str | None = None,
                 clips: dict[str, list[tuple[int, int]]] | None = None) -> None:
        super().__init__()
        self.store, self.dataset, self.start = store, dataset, start
        self.clips = clips or {}
        """Clip ranges (start frame, length) per video path, drawn on the timeline (a dataset's clip table)."""
        self._clips_given = clips is not None
        self.videos: list[str] = []
        self.index = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="video-title", markup=False)
        yield VideoPlayer(id="video-player")
        yield KeyFooter()

    async def on_mount(self) -> None:
        self.sub_title = self.dataset.name
        self.query_one(VideoPlayer).focus()
        await self.reload(self.start)

    async def reload(self, select: str | None = None) -> None:
        """List the dataset's videos again and show `select` (else the same position)."""
        self.videos = await asyncio.to_thread(video_edit.list_videos, self.dataset.path)
        if not self._clips_given:
            try:
                self.clips = await video_service.dataset_clip_ranges(self.store, self.dataset.id)
            except LoratuiError:
                self.clips = {}
        if select in self.videos:
            self.index = self.videos.index(select)
        self.index = max(0, min(self.index, len(self.videos) - 1))
        self._show()

    @property
    def current(self) -> str | None:
        """The video shown (relative to the dataset), or None."""
        return self.videos[self.index] if self.videos else None

    def _show(self) -> None:
        player = self.query_one(VideoPlayer)
        title = self.query_one("#video-title", Static)
        rel = self.current
        if rel is None:
            title.update("No videos in this dataset")
            player.open(None)
            return
        title.update(literal(f"{rel}  ({self.index + 1} of {len(self.videos)})"))
        if player.path != self.dataset.path / rel:
            player.open(self.dataset.path / rel, self.dataset.path, self.clips.get(rel))

    def apply_changes(self, changes: ChangeSet) -> None:
        """Another screen or process changed this dataset (an edit, an undo, a rescan): list its videos again,
        staying on the video shown while it is there."""
        if changes.full or self.dataset.id in changes.datasets or self.dataset.id in changes.images:
            self._reload_after_change()

    @work(exclusive=True, group="video-reload")
    async def _reload_after_change(self) -> None:
        current = self.current
        videos = await asyncio.to_thread(video_edit.list_videos, self.dataset.path)
        if videos != self.videos:
            await self.reload(current)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_other(self, delta: int) -> None:
        """Show the next (1) or previous (-1) video of the dataset."""
        if len(self.videos) > 1:
            self.index = (self.index + delta) % len(self.videos)
            self._show()

    @work(exclusive=True, group="video-op")
    async def action_edit(self) -> None:
        player = self.query_one(VideoPlayer)
        rel, info = self.current, player.info
        if rel is None or info is None:
            self.notify("No video to edit.", severity="warning")
            return
        player.pause()
        before = list(self.query_one("#video-timeline").clips)
        plan = await self.app.push_screen_wait(VideoEditDialog(
            self.dataset, rel, info.fps, (player.marks[0], player.marks[1]),
            on_plan=lambda p: player.set_clips([(o.start, o.stop - o.start) for o in p.outputs]
                                               if p.kind == "cut" else before)))
        if plan is None:
            player.set_clips(before)
            return
        title = self.query_one("#video-title", Static)
        loop = asyncio.get_running_loop()

        def progress(done: int, total: int) -> None:  # from the encoding thread
            if done == total or done % 10 == 0:
                line = f"Encoding {len(plan.outputs)} file(s): frame {done} of {total}"
                loop.call_soon_threadsafe(title.update, line)

        try:
            result = await video_edit.apply_edit(self.store, self.dataset, plan, progress=progress)
        finally:
            self._show()  # the title again (the player stays on its video)
        self.notify(literal(f"{result.description} (u undoes)"), markup=False)
        await self.reload(result.outputs[0] if result.outputs else None)

    @work(exclusive=True, group="video-op")
    async def action_undo(self) -> None:
        result = await history.undo(self.store, self.dataset)
        self.notify(literal(f"Undid {result.description}"), markup=False)
        await self.reload(self.current if self.current and (self.dataset.path / self.current).exists() else None)


def highlighted_video(app) -> str | None:
    """The path of the main screen's highlighted item when it is a video (relative to the dataset), else None."""
    main = getattr(app, "main_screen", None)
    image_list = getattr(main, "image_list", None)
    if image_list is None or not 0 <= image_list.cursor < len(image_list.view):
        return None
    name = image_list.rows.names[image_list.view[image_list.cursor]]
    return name if is_video_name(name) else None


def open_video(app) -> Screen | None:
    """ScreenAction factory: the video view of the open dataset, on the highlighted video (or the first)."""
    dataset = getattr(app, "current_dataset", None)
    if dataset is None or getattr(app, "store", None) is None:
        app.notify("Open a dataset first.", severity="warning")
        return None
    return VideoScreen(app.store, dataset, highlighted_video(app))


ACTIONS = [ScreenAction(id="video.open", key="V", description="Video view", factory=open_video)]
