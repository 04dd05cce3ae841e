"""A video player for the terminal: frames in half-blocks, a timeline with clips, stepping, jumps and playback.

``VideoPlayer`` holds the frame (a ``HalfBlockView``: the half-block renderer every image view uses), the
``Timeline`` under it and a status line (frame number, time, fps, size). Frames are decoded by ``FrameDecoder``,
a thread of its own that owns the ``VideoReader``: the UI thread only asks for a frame number and draws the
strips that come back. The decoder always takes the newest request, so when decoding or the terminal is slower
than the video, playback skips frames and keeps to the clock instead of falling behind.

Where the terminal has a graphics protocol (kitty, sixel, iTerm2), a frame could be sent as an image instead of
half-blocks: ``FrameDecoder.render`` is the one place that turns decoded pixels into what the frame view shows.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from loratui.text import literal
from loratui.tui.preview_render import Preview, fit_cells, strips_from_rgb
from loratui.tui.widgets.halfblock import HalfBlockView

SAMPLE_RATES = (8.0, 12.0, 16.0, 24.0)
"""Playback sampling rates `f` cycles through (those below the video's fps): what trainers resample clips to."""
MAX_PLAY_HZ = 30.0
"""Playback ticks at the video's fps, at most this often (a terminal redraws no faster usefully)."""


class FrameDecoder:
    """The player's background thread: opens the video, decodes the newest requested frame, renders it.

    Results go back to the UI thread with ``loop.call_soon_threadsafe`` as ``deliver(key, preview, message)``:
    key is (frame, cols, rows); preview None with a message when the frame cannot be shown.
    """

    def __init__(self, path: Path, root: Path | None, loop: asyncio.AbstractEventLoop, deliver) -> None:
        self.path, self.root, self.loop, self.deliver = path, root, loop, deliver
        self._cond = threading.Condition()
        self._request: tuple[int, int, int] | None = None
        self._busy = False
        self._stopped = False
        self.info = None
        """The video's VideoInfo once opened (set by the thread)."""
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="loratui-video", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True while a frame is queued or being decoded."""
        with self._cond:
            return self._busy or self._request is not None

    def request(self, frame: int, cols: int, rows: int) -> None:
        """Decode `frame` for a `cols` x `rows` box next (replacing a request not yet started)."""
        with self._cond:
            self._request = (frame, cols, rows)
            self._cond.notify()

    def stop(self) -> None:
        """End the thread (it closes the video)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        from loratui.datasets.video_frames import VideoError, VideoReader

        reader = None
        try:
            try:
                reader = VideoReader(self.path, root=self.root)
                self.info = reader.info
            except VideoError as exc:
                self.error = exc.message
            self._send(None, None, self.error or "")
            while True:
                with self._cond:
                    while self._request is None and not self._stopped:
                        self._cond.wait()
                    if self._stopped:
                        return
                    key, self._request, self._busy = self._request, None, True
                try:
                    preview, message = self.render(reader, key) if reader is not None else (None, self.error or "")
                except VideoError as exc:
                    preview, message = None, exc.message
                except Exception as exc:  # anything FFmpeg throws for a damaged frame: say so in the box
                    preview, message = None, f"cannot show frame {key[0]}: {exc}"
                with self._cond:
                    self._busy = False
                self._send(key, preview, message)
        finally:
            if reader is not None:
                reader.close()

    @staticmethod
    def render(reader, key: tuple[int, int, int]) -> tuple[Preview, str]:
        """Frame `key[0]` fitted to a `key[1]` x `key[2]` cell box, as half-block strips."""
        frame, cols, rows = key
        info = reader.info
        px_w, px_h = fit_cells(info.width, info.height, cols, rows)
        rgb = reader.frame(frame, (px_w, px_h))
        return Preview(strips_from_rgb(rgb.tobytes(), px_w, px_h), px_w, info.width, info.height), ""

    def _send(self, key, preview, message) -> None:
        try:
            self.loop.call_soon_threadsafe(self.deliver, key, preview, message)
        except RuntimeError:  # the app's loop is closed
            pass


class Timeline(Widget):
    """One line: the video's length, its clips highlighted (alternating colours), marks and the current frame."""

    COMPONENT_CLASSES = {"timeline--clip", "timeline--clip-alt", "timeline--gap", "timeline--cursor",
                         "timeline--mark"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.frames = 0
        self.current = 0
        self.clips: list[tuple[int, int]] = []
        self.marks: tuple[int | None, int | None] = (None, None)

    def cell_kinds(self, width: int) -> list[str]:
        """What each of `width` cells shows: 'cursor', 'in', 'out', 'clip' / 'clip-alt' (by clip order) or 'gap'."""
        if self.frames <= 0 or width <= 0:
            return ["gap"] * max(width, 0)
        kinds = []
        for cell in range(width):
            centre = min(self.frames - 1, int((cell + 0.5) * self.frames / width))
            kind = "gap"
            for index, (start, length) in enumerate(self.clips):
                if start <= centre < start + length:
                    kind = "clip" if index % 2 == 0 else "clip-alt"
                    break
            kinds.append(kind)
        for name, frame in zip(("in", "out"), self.marks):
            if frame is not None:
                kinds[self._cell_of(min(frame, self.frames - 1), width)] = name
        kinds[self._cell_of(self.current, width)] = "cursor"
        return kinds

    def _cell_of(self, frame: int, width: int) -> int:
        return min(width - 1, max(0, int(frame * width / max(self.frames, 1))))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y != 0:
            return Strip.blank(width, self.rich_style)
        styles = {kind: self.get_component_rich_style(f"timeline--{kind}") for kind in ("clip", "clip-alt", "gap",
                                                                                         "cursor")}
        styles["in"] = styles["out"] = self.get_component_rich_style("timeline--mark")
        glyphs = {"clip": "█", "clip-alt": "█", "gap": "─", "cursor": "┃", "in": "[", "out": "]"}
        segments: list[Segment] = []
        for kind in self.cell_kinds(width):
            style: Style = self.rich_style + styles[kind]
            if segments and segments[-1].style == style:
                last = segments.pop()
                segments.append(Segment(last.text + glyphs[kind], style))
            else:
                segments.append(Segment(glyphs[kind], style))
        return Strip(segments, width)


class VideoPlayer(Vertical, can_focus=True):
    """A video's frames, timeline and status line; keys step, jump and play (see BINDINGS)."""

    HELP_SECTION = "video player"
    HELP_NOTES = ["The line under the frame is the timeline: the clips highlighted in turn, [ and ] the marks set "
                  "with i and o (a trim keeps the frames between them), ┃ the frame shown. Playback skips frames "
                  "rather than fall behind when decoding or the terminal is slow."]
    BINDINGS = [
        Binding("space", "toggle_play", "Play", id="video.play"),
        Binding("comma,left", "step(-1)", "Prev frame", id="video.previous_frame", key_display=", ←"),
        Binding("full_stop,right", "step(1)", "Next frame", id="video.next_frame", key_display=". →"),
        Binding("left_square_bracket,shift+left", "seconds(-1)", "Back 1 s", id="video.back_second",
                key_display="[", show=False),
        Binding("right_square_bracket,shift+right", "seconds(1)", "Forward 1 s", id="video.forward_second",
                key_display="]", show=False),
        Binding("home", "jump(0)", "First frame", id="video.first_frame", show=False),
        Binding("end", "jump(-1)", "Last frame", id="video.last_frame", show=False),
        Binding("f", "cycle_fps", "Sample fps", id="video.sample_fps", show=False),
        Binding("i", "mark('in')", "Mark in", id="video.mark_in", show=False),
        Binding("o", "mark('out')", "Mark out", id="video.mark_out", show=False),
    ]

    playing: reactive[bool] = reactive(False, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.path: Path | None = None
        self.root: Path | None = None
        self.frame = 0
        """The frame asked for (the one shown once the decoder delivers it)."""
        self.shown: int | None = None
        """The frame on screen."""
        self.play_fps: float | None = None
        """Sampling rate of playback (None: every frame). At a clip's or trainer's fps (16 for Wan), playback runs
        in real time but shows only the frames a video resampled to that rate keeps (`f` cycles it)."""
        self.dropped = 0
        """Frames skipped by playback to keep to the clock."""
        self._decoder: FrameDecoder | None = None
        self._timer: Timer | None = None
        self._clock: tuple[float, int] = (0.0, 0)
        self.marks: list[int | None] = [None, None]

    def compose(self) -> ComposeResult:
        yield HalfBlockView(id="video-frame")
        yield Timeline(id="video-timeline")
        yield Static("", id="video-status", markup=False)

    @property
    def info(self):
        """The open video's VideoInfo (None until it is open, or when it cannot be)."""
        return self._decoder.info if self._decoder is not None else None

    @property
    def busy(self) -> bool:
        """True while the video is opening or a frame is being decoded."""
        return self._decoder is not None and (self._decoder.busy or (self.info is None and self._decoder.error is None)
                                              or (self.info is not None and self.shown != self.frame))

    # -- opening -------------------------------------------------------------------------------------------

    def open(self, path: Path | None, root: Path | None = None, clips: list[tuple[int, int]] | None = None) -> None:
        """Show another video from its first frame (None: none); `clips` (start frame, length) on the timeline."""
        self.pause()
        if self._decoder is not None:
            self._decoder.stop()
            self._decoder = None
        self.path, self.root, self.frame, self.shown, self.dropped = path, root, 0, None, 0
        self.marks = [None, None]
        view = self.query_one(HalfBlockView)
        view.preview, view.message = None, "Opening video..." if path is not None else "No video"
        view.refresh()
        timeline = self.query_one(Timeline)
        timeline.frames, timeline.current, timeline.clips, timeline.marks = 0, 0, list(clips or []), (None, None)
        timeline.refresh()
        self._status()
        if path is not None:
            self._decoder = FrameDecoder(path, root, asyncio.get_running_loop(), self._deliver)

    def set_clips(self, clips: list[tuple[int, int]]) -> None:
        """Highlight these clips (start frame, length) on the timeline."""
        timeline = self.query_one(Timeline)
        timeline.clips = list(clips)
        timeline.refresh()

    def on_unmount(self) -> None:
        if self._decoder is not None:
            self._decoder.stop()

    def on_resize(self) -> None:
        self._request()

    def _deliver(self, key, preview: Preview | None, message: str) -> None:
        if self._decoder is None or not self.is_attached:
            return
        view = self.query_one(HalfBlockView)
        if key is None:  # the video opened (or could not be)
            info = self.info
            if info is None:
                view.preview, view.message = None, message or "Cannot open the video"
                view.refresh()
            else:
                timeline = self.query_one(Timeline)
                timeline.frames = info.frames
                timeline.refresh()
                self._request()
            self._status()
            return
        if self.playing and self.shown is not None and key[0] > self.shown + 1:
            self.dropped += key[0] - self.shown - 1
        self.shown = key[0]
        view.preview, view.message = preview, message
        view.refresh()
        self._status()
        if key[0] != self.frame or key[1:] != self._box():
            self._request()

    def _box(self) -> tuple[int, int]:
        view = self.query_one(HalfBlockView)
        return view.size.width, view.size.height

    def _request(self) -> None:
        cols, rows = self._box()
        if self._decoder is None or self.info is None or cols < 1 or rows < 1:
            return
        self._decoder.request(self.frame, cols, rows)

    # -- moving --------------------------------------------------------------------------------------------

    def seek(self, frame: int) -> None:
        """Show frame `frame` (clamped to the video)."""
        info = self.info
        if info is None:
            return
        self.frame = max(0, min(info.frames - 1, frame))
        timeline = self.query_one(Timeline)
        timeline.current = self.frame
        timeline.refresh()
        self._status()
        if self._decoder is not None and not self._decoder.busy:
            self._request()  # when busy, the delivery of the frame in progress asks for this one

    def action_step(self, delta: int) -> None:
        """Step `delta` frames (pauses playback)."""
        self.pause()
        self.seek(self.frame + delta)

    def action_seconds(self, delta: int) -> None:
        """Jump `delta` seconds."""
        if self.info is not None:
            self.pause()
            self.seek(self.frame + round(delta * self.info.fps))

    def action_jump(self, frame: int) -> None:
        """Jump to frame `frame` (-1: the last)."""
        if self.info is not None:
            self.pause()
            self.seek(self.info.frames - 1 if frame < 0 else frame)

    def action_mark(self, which: str) -> None:
        """Set the in or out mark at the current frame (a trim keeps [in, out])."""
        index = 0 if which == "in" else 1
        self.marks[index] = None if self.marks[index] == self.frame else self.frame
        timeline = self.query_one(Timeline)
        timeline.marks = (self.marks[0], self.marks[1])
        timeline.refresh()
        self._status()

    # -- playback ------------------------------------------------------------------------------------------

    def action_toggle_play(self) -> None:
        """Play from the current frame (from the start when at the end), or pause."""
        if self.playing:
            self.pause()
            return
        info = self.info
        if info is None:
            return
        if self.frame >= info.frames - 1:
            self.seek(0)
        fps = self.play_fps or info.fps
        self._clock = (time.monotonic(), self.frame)
        self.dropped = 0
        self.playing = True
        self._timer = self.set_interval(1.0 / min(fps, MAX_PLAY_HZ), self._tick)
        self._status()

    def pause(self) -> None:
        """Stop playback where it is."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.playing:
            self.playing = False
            self._status()

    def _tick(self) -> None:
        info = self.info
        if info is None:
            self.pause()
            return
        started, first = self._clock
        elapsed = time.monotonic() - started
        if self.play_fps:
            # The frame a video resampled to play_fps shows now (sample and hold, as `video resample` writes).
            target = first + math.floor(int(elapsed * self.play_fps) * info.fps / self.play_fps + 1e-9)
        else:
            target = first + int(elapsed * info.fps)
        if target >= info.frames - 1:
            self.seek(info.frames - 1)
            self.pause()
            return
        self.seek(target)

    def action_cycle_fps(self) -> None:
        """Sample playback at the next rate of SAMPLE_RATES below the video's fps (then every frame again)."""
        info = self.info
        if info is None:
            return
        rates = [None] + [r for r in SAMPLE_RATES if r < info.fps - 1e-6]
        position = rates.index(self.play_fps) if self.play_fps in rates else 0
        was_playing = self.playing
        self.pause()
        self.play_fps = rates[(position + 1) % len(rates)]
        if was_playing:
            self.action_toggle_play()
        self._status()

    # -- status ------------------------------------------------------------------------------------------

    def status_text(self) -> str:
        """The status line: state, frame, time, fps, size, marks."""
        from loratui.datasets.video_frames import time_text

        info = self.info
        if info is None:
            return literal(self.path.name) if self.path is not None else ""
        rate = f"{info.fps:g} fps" + (f" shown at {self.play_fps:g}" if self.play_fps else "")
        parts = [("▶" if self.playing else "❚❚") + f" frame {self.frame}/{info.frames - 1}",
                 f"{time_text(self.frame, info.fps)} / {time_text(info.frames, info.fps)}",
                 rate, f"{info.width}x{info.height}"]
        if self.marks[0] is not None or self.marks[1] is not None:
            parts.append(f"in {self.marks[0] if self.marks[0] is not None else '-'} "
                         f"out {self.marks[1] if self.marks[1] is not None else '-'}")
        clips = self.query_one(Timeline).clips
        if clips:
            parts.append(f"{len(clips)} clip{'' if len(clips) == 1 else 's'}")
        if self.playing and self.dropped:
            parts.append(f"skipped {self.dropped}")
        return "  ".join(parts)

    def _status(self) -> None:
        self.query_one("#video-status", Static).update(self.status_text())
