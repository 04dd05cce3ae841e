"""`loratui video ...`: dry run writes nothing and shows the plan; apply, undo through `tags undo`; errors."""

from __future__ import annotations

import hashlib

from tests.video.conftest import make_video, ramp_frames


def _ds(cli, root):
    result = cli("dataset", "add", str(root), "--name", "vds")
    assert result.code == 0, result


def test_dry_run_shows_plan_and_writes_nothing(cli, video_dir):
    _ds(cli, video_dir)
    before = sorted(p.name for p in (video_dir / "10_clips").iterdir())
    result = cli("video", "cut", "vds", "10_clips/ramp.mp4", "--length", "2s", "--dry-run", "--json")
    assert result.code == 0, result
    plan = result.json()["plans"][0]
    assert [o["path"] for o in plan["outputs"]] == ["10_clips/ramp_001.mp4", "10_clips/ramp_002.mp4"]
    assert [o["frames"] for o in plan["outputs"]] == [24, 16]
    assert sorted(p.name for p in (video_dir / "10_clips").iterdir()) == before
    text = cli("video", "trim", "vds", "10_clips/ramp.mp4", "--start", "0.5s", "--end", "30", "--dry-run")
    assert text.code == 0, text
    assert "10_clips/ramp_trim.mp4" in text.out and "24" in text.out and "trash" in text.out


def test_apply_then_undo_restores_bytes(cli, video_dir):
    _ds(cli, video_dir)
    original = hashlib.sha256((video_dir / "10_clips/ramp.mp4").read_bytes()).hexdigest()
    result = cli("video", "resample", "vds", "10_clips/ramp.mp4", "--fps", "6", "--json")
    assert result.code == 0, result
    assert result.json()["results"][0]["outputs"] == ["10_clips/ramp_6fps.mp4"]
    assert not (video_dir / "10_clips/ramp.mp4").exists()
    history = cli("tags", "vds", "history", "--json")
    assert history.code == 0 and history.json()[0]["kind"] == "video-resample", history
    undo = cli("tags", "vds", "undo")
    assert undo.code == 0, undo
    assert hashlib.sha256((video_dir / "10_clips/ramp.mp4").read_bytes()).hexdigest() == original
    assert not (video_dir / "10_clips/ramp_6fps.mp4").exists()


def test_errors_are_one_line(cli, video_dir):
    _ds(cli, video_dir)
    (video_dir / "10_clips/broken.mp4").write_bytes(b"nope" * 100)
    result = cli("video", "resize", "vds", "10_clips/broken.mp4", "--width", "16")
    assert result.code == 2 and "Unreadable video" in result.err and "Traceback" not in result.err
    assert (video_dir / "10_clips/broken.mp4").read_bytes() == b"nope" * 100
    missing = cli("video", "trim", "vds", "10_clips/none.mp4", "--start", "3")
    assert missing.code == 2 and "not in dataset" in missing.err
    bad = cli("video", "trim", "vds", "10_clips/ramp.mp4", "--start", "x")
    assert bad.code == 2


def test_several_items_are_planned_before_any_is_written(cli, video_dir):
    _ds(cli, video_dir)
    make_video(video_dir / "10_clips/short.mp4", ramp_frames(4))
    result = cli("video", "trim", "vds", "10_clips/ramp.mp4", "10_clips/short.mp4", "--start", "10")
    assert result.code == 2 and "short.mp4" in result.err
    assert (video_dir / "10_clips/ramp.mp4").exists() and not (video_dir / "10_clips/ramp_trim.mp4").exists()


def test_trash_lists_what_undo_and_redo_need_and_cleans_the_rest(cli, video_dir):
    _ds(cli, video_dir)
    assert cli("video", "trim", "vds", "10_clips/ramp.mp4", "--start", "2").code == 0
    assert cli("video", "trim", "vds", "10_clips/scenes.mp4", "--start", "2").code == 0
    assert cli("tags", "vds", "undo").code == 0  # the scenes trim: undone, redoable
    (video_dir / ".loratui-trash/video/stray-from-a-crash").mkdir()
    listed = cli("video", "trash", "vds", "--json").json()["entries"]
    assert [e["needed_for"] for e in listed] == ["undo", "redo", None]
    cleaned = cli("video", "trash", "vds", "--clean", "--json").json()
    assert [e["folder"] for e in cleaned["removed"]] == [".loratui-trash/video/stray-from-a-crash"]
    assert [e["needed_for"] for e in cleaned["entries"]] == ["undo", "redo"]
    # a new operation ends the redo chain: the undone edit's new files are no longer needed
    assert cli("tags", "vds", "add", "x").code == 0
    cleaned = cli("video", "trash", "vds", "--clean", "--json").json()
    assert len(cleaned["removed"]) == 1 and [e["needed_for"] for e in cleaned["entries"]] == ["undo"]
    assert cli("tags", "vds", "undo").code == 0 and cli("tags", "vds", "undo").code == 0  # the ramp trim still undoes
    assert (video_dir / "10_clips/ramp.mp4").exists() and (video_dir / "10_clips/scenes.mp4").exists()
    text = cli("video", "trash", "vds")
    assert text.code == 0 and "redo" in text.out
    assert [e["needed_for"] for e in cli("video", "trash", "vds", "--json").json()["entries"]] == ["redo"]


def test_a_linked_trash_is_refused(cli, video_dir, tmp_path):
    _ds(cli, video_dir)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (video_dir / ".loratui-trash").symlink_to(outside)
    result = cli("video", "trim", "vds", "10_clips/ramp.mp4", "--start", "2")
    assert result.code == 2 and "link" in result.err
    assert (video_dir / "10_clips/ramp.mp4").exists() and list(outside.iterdir()) == []
    assert cli("video", "trash", "vds", "--clean").code == 2
