"""The video view: keys step frames, space plays, the timeline marks clips, the edit dialog previews and applies,
u undoes; snapshots at 80x24 and 160x48."""

from __future__ import annotations

import asyncio

import pytest

from loratui.config import Context
from loratui.datasets.service import add_dataset
from loratui.store import Store
from loratui.tui.app import LoratuiApp
from loratui.tui.screens.video import VideoEditDialog, VideoScreen, edit_params
from loratui.tui.widgets.video_player import Timeline, VideoPlayer
from loratui.errors import InputError

from tests.tui.conftest import settle
from tests.video.conftest import level


@pytest.fixture
def video_ctx(home, video_dir) -> Context:
    ctx = Context.load(home)

    async def create():
        async with Store.open(ctx.paths.db) as store:
            await add_dataset(store, video_dir, name="vds", workers=1)

    asyncio.run(create())
    return ctx


async def idle(pilot, player: VideoPlayer, timeout: float = 5.0) -> None:
    """Wait until the player shows the frame it was asked for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await pilot.pause(0.02)
        if player.info is not None and not player.busy:
            return
    raise AssertionError("the player did not settle")


def shown_level(player: VideoPlayer) -> int:
    """The grey level of the middle cell of the frame on screen (foreground = the upper pixel)."""
    preview = player.query_one("#video-frame").preview
    strip = preview.strips[len(preview.strips) // 2]
    colour = next(iter(strip)).style.color.triplet
    return colour.red


async def open_view(pilot) -> tuple[VideoScreen, VideoPlayer]:
    app = pilot.app
    await settle(pilot, app)
    await pilot.press("V")
    await pilot.pause(0.1)
    screen = app.screen
    assert isinstance(screen, VideoScreen)
    player = screen.query_one(VideoPlayer)
    await idle(pilot, player)
    return screen, player


async def test_keys_step_jump_and_play(video_ctx):
    app = LoratuiApp(video_ctx, "vds")
    async with app.run_test(size=(80, 24)) as pilot:
        screen, player = await open_view(pilot)
        assert screen.current == "10_clips/ramp.mp4"
        assert player.shown == 0 and abs(shown_level(player) - level(0)) < 5
        for key, frame in [("full_stop", 1), ("right", 2), ("comma", 1), ("end", 39), ("left", 38), ("home", 0),
                           ("right_square_bracket", 12), ("left_square_bracket", 0)]:
            await pilot.press(key)
            await idle(pilot, player)
            assert player.shown == frame, key
            assert abs(shown_level(player) - level(frame)) < 5, key
        assert "frame 0/39" in player.status_text() and "12 fps" in player.status_text()

        await pilot.press("space")
        assert player.playing
        await pilot.pause(0.6)
        await pilot.press("space")
        assert not player.playing
        await idle(pilot, player)
        assert 3 <= player.shown <= 39  # about 7 frames in 0.6 s at 12 fps; never behind by more than the clock
        timeline = screen.query_one(Timeline)
        assert timeline.cell_kinds(78).index("cursor") == int(player.shown * 78 / 40)

        await pilot.press("n")
        await idle(pilot, player)
        assert screen.current == "10_clips/scenes.mp4" and player.info.frames == 36

        # `?` lists the player's and the view's keys with their ids
        ids = {entry.id for entry in app.keys_for(screen)}
        assert {"video.play", "video.previous_frame", "video.next_frame", "video.back_second", "video.first_frame",
                "video.last_frame", "video.mark_in", "video.edit", "video.next_video", "video.undo"} <= ids


def test_timeline_marks_clips_and_cursor():
    timeline = Timeline()
    timeline.frames, timeline.current = 40, 25
    timeline.clips = [(0, 10), (20, 10)]
    timeline.marks = (4, None)
    kinds = timeline.cell_kinds(40)
    assert kinds[:4] == ["clip"] * 4 and kinds[4] == "in" and kinds[5:10] == ["clip"] * 5
    assert kinds[10:20] == ["gap"] * 10
    assert kinds[20:25] == ["clip-alt"] * 5 and kinds[25] == "cursor" and kinds[26:30] == ["clip-alt"] * 4
    assert kinds[30:] == ["gap"] * 10
    assert timeline.cell_kinds(20)[12] == "cursor"


def test_edit_params():
    assert edit_params("length", "2s", 12, (None, None)) == ("cut", {"length": 24})
    assert edit_params("trim", "", 12, (5, 20)) == ("trim", {"start": 5, "end": 21})
    assert edit_params("trim", "1s-30", 12, (None, None)) == ("trim", {"start": 12, "end": 30})
    assert edit_params("resize", "16x", 12, (None, None)) == ("resize", {"width": 16, "height": None})
    with pytest.raises(InputError):
        edit_params("trim", "", 12, (None, None))
    with pytest.raises(InputError):
        edit_params("resample", "fast", 12, (None, None))


async def test_edit_dialog_previews_cut_on_timeline_applies_and_undo(video_ctx, video_dir):
    original = (video_dir / "10_clips/scenes.mp4").read_bytes()
    app = LoratuiApp(video_ctx, "vds")
    async with app.run_test(size=(80, 24)) as pilot:
        screen, player = await open_view(pilot)
        await pilot.press("n")
        await idle(pilot, player)
        await pilot.press("e")
        await pilot.pause(0.1)
        assert isinstance(app.screen, VideoEditDialog)
        await pilot.press("enter")  # choose "cut at scene changes" in the list: focus goes to the value
        await pilot.press("enter")  # preview
        for _ in range(100):
            await pilot.pause(0.05)
            if app.screen.plan is not None:
                break
        assert [(o.start, o.stop) for o in app.screen.plan.outputs] == [(0, 20), (20, 36)]
        assert screen.query_one(Timeline).clips == [(0, 20), (20, 16)]  # the cut is drawn before it is applied
        assert not (video_dir / "10_clips/scenes_001.mp4").exists()  # nothing written by the preview
        await pilot.press("enter")  # Apply (focused)
        for _ in range(100):
            await pilot.pause(0.05)
            if screen.current == "10_clips/scenes_001.mp4":
                break
        assert screen.current == "10_clips/scenes_001.mp4"
        assert not (video_dir / "10_clips/scenes.mp4").exists()
        assert (video_dir / "10_clips/scenes_002.txt").read_text() == "two scenes"
        await pilot.press("u")
        for _ in range(100):
            await pilot.pause(0.05)
            if (video_dir / "10_clips/scenes.mp4").exists() and not (video_dir / "10_clips/scenes_001.mp4").exists():
                break
        assert (video_dir / "10_clips/scenes.mp4").read_bytes() == original
        assert not (video_dir / "10_clips/scenes_001.txt").exists()


async def test_unreadable_video_shows_why(video_ctx, video_dir):
    (video_dir / "10_clips/aaa_broken.mp4").write_bytes(b"not a video" * 30)
    app = LoratuiApp(video_ctx, "vds")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("V")
        await pilot.pause(0.5)
        # V opens the highlighted video of the index; the broken file came after the scan: step to it.
        for _ in range(len(app.screen.videos)):
            if app.screen.current == "10_clips/aaa_broken.mp4":
                break
            await pilot.press("n")
            await pilot.pause(0.2)
        assert app.screen.current == "10_clips/aaa_broken.mp4"
        await pilot.pause(0.3)
        view = app.screen.query_one("#video-frame")
        assert view.preview is None and "not a readable video" in view.message
        await pilot.press("n")
        await idle(pilot, app.screen.query_one(VideoPlayer))


def _snap_before(keys):
    async def run_before(pilot) -> None:
        screen, player = await open_view(pilot)
        player.set_clips([(0, 16), (16, 16), (32, 8)])
        for key in keys:
            await pilot.press(key)
            await idle(pilot, player)
        await pilot.pause(0.2)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_video_view_snapshot(size, video_ctx, snap_compare, monkeypatch):
    monkeypatch.setattr("loratui.datasets.image_repo.ThumbnailReader.get", lambda self, image_id: None)
    assert snap_compare(LoratuiApp(video_ctx, "vds"), terminal_size=size,
                        run_before=_snap_before(["right"] * 3 + ["i", "end", "o", "home", "right_square_bracket"]))


def test_edit_dialog_snapshot_80x24(video_ctx, snap_compare, monkeypatch):
    monkeypatch.setattr("loratui.datasets.image_repo.ThumbnailReader.get", lambda self, image_id: None)

    async def run_before(pilot) -> None:
        app = pilot.app
        await open_view(pilot)
        await pilot.press("e", "down", "enter", "enter")  # cut every N frames, default 2s: preview
        for _ in range(100):
            await pilot.pause(0.05)
            if getattr(app.screen, "plan", None) is not None:
                break
        for field in app.screen.query("Input"):
            field.cursor_blink = False
        await pilot.pause(0.3)

    assert snap_compare(LoratuiApp(video_ctx, "vds"), terminal_size=(80, 24), run_before=run_before)


async def test_playback_sampled_at_a_trainer_fps(video_ctx):
    """`f` samples playback as a video resampled to 8 fps would show it: real time, frames 0, 1, 3, 4, 6 ..."""
    app = LoratuiApp(video_ctx, "vds")
    async with app.run_test(size=(80, 24)) as pilot:
        _screen, player = await open_view(pilot)
        await pilot.press("f")
        assert player.play_fps == 8 and "12 fps shown at 8" in player.status_text()
        seen = set()
        await pilot.press("space")
        for _ in range(25):
            await pilot.pause(0.04)
            seen.add(player.frame)
        await pilot.press("space")
        assert max(seen) >= 3
        assert all(n % 3 != 2 for n in seen), seen  # 12 -> 8 fps keeps floor(k * 1.5): never 2, 5, 8 ...
        await pilot.press("f")
        assert player.play_fps is None  # 12 fps video: 8 is the only lower rate


async def test_slow_drawing_skips_frames_instead_of_lagging(video_ctx, monkeypatch):
    """Each frame taking 150 ms to render (a slow terminal) at 12 fps: playback keeps to the clock and skips."""
    import time as _time

    from loratui.tui.widgets.video_player import FrameDecoder

    real_render = FrameDecoder.render

    def slow_render(reader, key):
        _time.sleep(0.15)
        return real_render(reader, key)

    app = LoratuiApp(video_ctx, "vds")
    async with app.run_test(size=(80, 24)) as pilot:
        _screen, player = await open_view(pilot)
        monkeypatch.setattr(FrameDecoder, "render", staticmethod(slow_render))
        shown = []
        started = _time.monotonic()
        await pilot.press("space")
        while _time.monotonic() - started < 1.5:
            await pilot.pause(0.03)
            if player.shown is not None and (not shown or shown[-1] != player.shown):
                shown.append(player.shown)
        elapsed = _time.monotonic() - started
        await pilot.press("space")
        assert player.frame >= int(elapsed * 12) - 6  # on time (within half a second), not behind
        assert len(shown) < player.frame  # fewer frames drawn than played: the rest were skipped
        assert player.dropped > 0


async def test_view_follows_edits_made_elsewhere(video_ctx, video_dir, cli):
    """A `loratui video` command in another shell: the open view lists the new videos within a second or two."""
    app = LoratuiApp(video_ctx, "vds")
    async with app.run_test(size=(80, 24)) as pilot:
        screen, player = await open_view(pilot)
        assert screen.videos == ["10_clips/ramp.mp4", "10_clips/scenes.mp4"]
        result = await asyncio.to_thread(cli, "video", "trim", "vds", "10_clips/scenes.mp4", "--start", "4")
        assert result.code == 0, result
        for _ in range(100):
            await pilot.pause(0.05)
            if "10_clips/scenes_trim.mp4" in screen.videos:
                break
        assert screen.videos == ["10_clips/ramp.mp4", "10_clips/scenes_trim.mp4"]
        assert screen.current == "10_clips/ramp.mp4"  # still on the video that was shown
