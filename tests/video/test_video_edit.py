"""Video edits: each operation's outputs (frames, fps, size, captions), undo byte-identical, redo, refusals."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from loratui.datasets import history
from loratui.datasets.video_edit import (
    VIDEO_TRASH, apply_edit, plan_cut, plan_edit, plan_resample, plan_resize, plan_trim,
)
from loratui.datasets.video_frames import VideoError, VideoReader, probe
from loratui.errors import InputError

from tests.video.conftest import grey, level


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files(root) -> dict[str, str]:
    """Every file under the dataset outside the trash -> sha256."""
    found = {}
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in names:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, root)] = sha(Path(path))
    return found


async def test_cut_fixed_length_writes_clips_with_captions_and_undo_restores(vopened):
    store, dataset = vopened
    root = dataset.path
    before = files(root)
    plan = plan_cut(dataset, "10_clips/ramp.mp4", length=16)
    assert [(o.rel_path, o.start, o.stop, o.frames) for o in plan.outputs] == [
        ("10_clips/ramp_001.mp4", 0, 16, 16), ("10_clips/ramp_002.mp4", 16, 32, 16),
        ("10_clips/ramp_003.mp4", 32, 40, 8)]
    assert files(root) == before  # planning writes nothing
    result = await apply_edit(store, dataset, plan)
    assert not (root / "10_clips/ramp.mp4").exists() and not (root / "10_clips/ramp.txt").exists()
    for i, (start, count) in enumerate([(0, 16), (16, 16), (32, 8)], start=1):
        clip = root / f"10_clips/ramp_{i:03d}.mp4"
        info = probe(clip)
        assert (info.frames, info.width, info.height, round(info.fps)) == (count, 32, 32, 12)
        with VideoReader(clip) as reader:
            assert abs(grey(reader.frame(0)) - level(start)) < 4
            assert abs(grey(reader.frame(count - 1)) - level(start + count - 1)) < 4
        # the caption is a byte-for-byte copy (CRLF and UTF-8 kept)
        assert sha(root / f"10_clips/ramp_{i:03d}.txt") == before["10_clips/ramp.txt"]
    trashed = [root / t for t in result.trashed]
    assert [sha(p) for p in trashed] == [before["10_clips/ramp.mp4"], before["10_clips/ramp.txt"]]
    assert all(str(t).startswith(str(root / VIDEO_TRASH)) for t in trashed)

    undone = await history.undo(store, dataset)
    assert undone.state == "undone"
    assert files(root) == before  # the original byte for byte, the outputs and their captions gone

    redone = await history.redo(store, dataset)
    assert redone.state == "applied"
    assert probe(root / "10_clips/ramp_002.mp4").frames == 16
    assert not (root / "10_clips/ramp.mp4").exists()
    await history.undo(store, dataset)
    assert files(root) == before


async def test_cut_at_scene_changes(vopened):
    store, dataset = vopened
    plan = plan_cut(dataset, "10_clips/scenes.mp4", scenes=True)
    assert [(o.start, o.stop) for o in plan.outputs] == [(0, 20), (20, 36)]
    await apply_edit(store, dataset, plan)
    root = dataset.path
    first, second = root / "10_clips/scenes_001.mp4", root / "10_clips/scenes_002.mp4"
    assert probe(first).frames == 20 and probe(second).frames == 16
    with VideoReader(second) as reader:
        r, g, b = reader.frame(0)[20:28, 20:28].reshape(-1, 3).mean(axis=0)
    assert b > 150 and r < 80  # the blue scene
    assert (root / "10_clips/scenes_002.txt").read_text() == "two scenes"


async def test_trim_keeps_the_chosen_frames(vopened):
    store, dataset = vopened
    await apply_edit(store, dataset, plan_trim(dataset, "10_clips/ramp.mp4", start=5, end=25))
    out = dataset.path / "10_clips/ramp_trim.mp4"
    assert probe(out).frames == 20
    with VideoReader(out) as reader:
        assert abs(grey(reader.frame(0)) - level(5)) < 4
        assert abs(grey(reader.frame(19)) - level(24)) < 4


async def test_resample_changes_fps_and_keeps_duration(vopened):
    store, dataset = vopened
    await apply_edit(store, dataset, plan_resample(dataset, "10_clips/ramp.mp4", fps=6))
    out = dataset.path / "10_clips/ramp_6fps.mp4"
    info = probe(out)
    assert (info.frames, round(info.fps)) == (20, 6)
    assert info.duration_s == pytest.approx(40 / 12)
    with VideoReader(out) as reader:
        assert abs(grey(reader.frame(3)) - level(6)) < 4  # every second source frame


async def test_resize_changes_size_keeping_aspect(vopened):
    store, dataset = vopened
    plan = plan_resize(dataset, "10_clips/ramp.mp4", width=16)
    assert (plan.outputs[0].width, plan.outputs[0].height) == (16, 16)
    await apply_edit(store, dataset, plan)
    info = probe(dataset.path / "10_clips/ramp_16x16.mp4")
    assert (info.width, info.height, info.frames) == (16, 16, 40)


async def test_names_never_replace_existing_files(vopened):
    store, dataset = vopened
    (dataset.path / "10_clips/ramp_trim.mp4").write_bytes(b"someone else's")
    plan = plan_trim(dataset, "10_clips/ramp.mp4", start=1)
    assert plan.outputs[0].rel_path == "10_clips/ramp_trim-2.mp4"
    await apply_edit(store, dataset, plan)
    assert (dataset.path / "10_clips/ramp_trim.mp4").read_bytes() == b"someone else's"


async def test_corrupt_video_refused_and_nothing_lost(vopened):
    store, dataset = vopened
    bad = dataset.path / "10_clips/bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    (dataset.path / "10_clips/bad.txt").write_text("bad")
    before = files(dataset.path)
    for kind, params in [("cut", {"length": 4}), ("trim", {"start": 1}), ("resample", {"fps": 5}),
                         ("resize", {"width": 8})]:
        with pytest.raises(VideoError, match="bad.mp4"):
            plan_edit(dataset, kind, "10_clips/bad.mp4", **params)
    assert files(dataset.path) == before
    assert await history.history(store, dataset) == []


async def test_changed_source_since_planning_is_refused(vopened):
    store, dataset = vopened
    plan = plan_trim(dataset, "10_clips/ramp.mp4", start=1)
    os.utime(dataset.path / "10_clips/ramp.mp4", ns=(1, 1))
    with pytest.raises(Exception, match="changed since"):
        await apply_edit(store, dataset, plan)
    assert not (dataset.path / "10_clips/ramp_trim.mp4").exists()
    assert not any((dataset.path / VIDEO_TRASH).glob("*/new/*/*.mp4"))


@pytest.mark.parametrize("kind, params, match", [
    ("cut", {}, "scene changes or at a fixed length"),
    ("trim", {"start": 30, "end": 10}, "cannot keep frames"),
    ("trim", {"start": 0}, "nothing to do"),
    ("resample", {"fps": 12}, "already 12 fps"),
    ("resize", {}, "width, height"),
])
async def test_bad_parameters_are_input_errors(vopened, kind, params, match):
    _store, dataset = vopened
    with pytest.raises(InputError, match=match):
        plan_edit(dataset, kind, "10_clips/ramp.mp4", **params)


async def test_items_outside_the_dataset_or_not_videos_are_refused(vopened):
    _store, dataset = vopened
    with pytest.raises(InputError, match="not inside"):
        plan_trim(dataset, "../x.mp4", start=1)
    with pytest.raises(InputError, match="not a video"):
        plan_trim(dataset, "10_clips/still.png", start=1)


async def test_odd_sizes_are_written_even(vopened):
    from tests.video.conftest import make_video, ramp_frames

    store, dataset = vopened
    make_video(dataset.path / "10_clips/odd.mp4", ramp_frames(10, size=(34, 18)), size=(34, 18))
    plan = plan_resize(dataset, "10_clips/odd.mp4", width=17)
    assert (plan.outputs[0].width, plan.outputs[0].height) == (16, 8)  # 17x9 rounded down to even
    await apply_edit(store, dataset, plan)
    info = probe(dataset.path / plan.outputs[0].rel_path)
    assert (info.width, info.height, info.frames) == (16, 8, 10)
    assert plan.outputs[0].caption_rel is None  # no caption to copy
    assert not (dataset.path / "10_clips/odd_16x8.txt").exists()


async def test_progress_counts_every_frame_written(vopened):
    store, dataset = vopened
    seen = []
    await apply_edit(store, dataset, plan_cut(dataset, "10_clips/ramp.mp4", length=16),
                     progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (1, 40) and seen[-1] == (40, 40) and len(seen) == 40


async def test_a_failed_move_leaves_the_dataset_as_it_was(vopened, monkeypatch):
    from loratui.datasets import video_edit

    store, dataset = vopened
    before = files(dataset.path)
    real, calls = video_edit.rename_file, []

    def fail_third(root, src, dst):
        calls.append(src)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(root, src, dst)

    monkeypatch.setattr(video_edit, "rename_file", fail_third)
    with pytest.raises(InputError, match="No space left"):
        await apply_edit(store, dataset, plan_cut(dataset, "10_clips/ramp.mp4", length=16))
    assert files(dataset.path) == before
    assert (await history.history(store, dataset))[0]["state"] == "failed"
    assert not any((dataset.path / VIDEO_TRASH).rglob("*.mp4"))
