"""Videos indexed beside images: the probe's facts, broken files with reasons, thumbnails, `dataset add`/`show`."""

from __future__ import annotations

import io
from fractions import Fraction

from PIL import Image

from loratui.datasets.video_probe import probe_video
from tests.conftest import make_image
from tests.videos.videofiles import make_audio_only, make_video, truncate


def _probe(path):
    return probe_video(path.name, path.stat().st_size, path.stat().st_mtime_ns, root=str(path.parent))


def test_probe_reads_container_facts(tmp_path):
    mp4 = _probe(make_video(tmp_path / "a.mp4", 10, 24))
    assert (mp4["status"], mp4["media_kind"], mp4["frames"], mp4["width"], mp4["height"]) == ("ok", "video", 10, 32, 32)
    video = mp4["video"]
    assert (video["frame_count"], video["frame_count_source"], video["fps_num"], video["fps_den"]) == (10, "container",
                                                                                                       24, 1)
    assert abs(video["duration_s"] - 10 / 24) < 1e-9 and video["codec"] == "h264" and video["has_audio"] is False
    assert len(video["keyframe_hashes"].split(",")) == 3 and mp4["sha256"] and mp4["phash"] is None

    webm = _probe(make_video(tmp_path / "b.webm", 12, Fraction(30000, 1001)))
    assert (webm["video"]["frame_count"], webm["video"]["frame_count_source"]) == (12, "packets")
    assert Fraction(webm["video"]["fps_num"], webm["video"]["fps_den"]) == Fraction(30000, 1001)
    assert webm["video"]["codec"] == "vp9"

    mkv = _probe(make_video(tmp_path / "c.mkv", 7, 25, audio=True))
    assert (mkv["status"], mkv["video"]["frame_count"], mkv["video"]["has_audio"]) == ("ok", 7, True)
    mov = _probe(make_video(tmp_path / "d.mov", 5, 12))
    assert (mov["status"], mov["frames"]) == ("ok", 5)


def test_rotation_swaps_displayed_size_and_thumbnail_is_upright(tmp_path):
    result = _probe(make_video(tmp_path / "r.mp4", 6, 30, size=(32, 16), rotation=90))
    assert result["video"]["rotation"] == 90
    assert (result["video"]["coded_width"], result["video"]["coded_height"]) == (32, 16)
    assert (result["width"], result["height"]) == (16, 32)  # displayed
    assert result["orientation"] == 8  # EXIF "rotate 90 counter-clockwise": buckets.raw_size gives back 32x16
    with Image.open(io.BytesIO(result["thumbnail"])) as thumb:
        assert thumb.size == (16, 32) == (result["thumb_width"], result["thumb_height"])


def test_broken_and_unsupported_files_have_reasons(tmp_path):
    audio = _probe(make_audio_only(tmp_path / "audio.mp4"))
    assert audio["status"] == "broken" and "no video stream" in audio["reason"] and "audio" in audio["reason"]
    text = tmp_path / "text.mp4"
    text.write_text("not a video at all")
    assert _probe(text)["status"] == "broken" and "not a video" in _probe(text)["reason"]
    empty = tmp_path / "empty.webm"
    empty.write_bytes(b"")
    assert _probe(empty)["reason"] == "empty file (0 bytes)"
    cut_mp4 = _probe(truncate(make_video(tmp_path / "cut.mp4", 40, 24), 0.6))  # index at the end: gone
    assert cut_mp4["status"] == "broken" and cut_mp4["thumbnail"] is None
    cut_webm = _probe(truncate(make_video(tmp_path / "cut.webm", 40, 24, pattern=3), 0.6))
    assert cut_webm["status"] == "broken" and "truncated" in cut_webm["reason"]
    link = tmp_path / "inside" / "link.mp4"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "cut.mp4")
    outside = probe_video("link.mp4", 1, 0, root=str(link.parent))
    assert outside["status"] == "broken" and outside["reason"].startswith("file ")


def test_dataset_add_indexes_videos_and_images(cli, tmp_path):
    root = tmp_path / "data"
    make_video(root / "5_clips" / "a.mp4", 30, 24)
    (root / "5_clips" / "a.txt").write_text("a dancer")
    make_video(root / "5_clips" / "b.webm", 9, 30, pattern=2)
    make_audio_only(root / "5_clips" / "sound.mp4")
    (root / "5_clips" / "fake.mkv").write_text("text")
    make_image(root / "5_clips" / "still.png")
    report = cli("dataset", "add", root, "--name", "mixed", "--json").json()
    assert (report["total"], report["videos"], report["broken_videos"], report["broken"]) == (5, 4, 2, 2)
    images = {i["path"]: i for i in cli("dataset", "images", "mixed", "--json").json()}
    assert images["5_clips/a.mp4"]["frames"] == 30 and images["5_clips/a.mp4"]["has_caption"] is True
    assert images["5_clips/still.png"]["status"] == "ok"
    orphans = cli("dataset", "show", "mixed", "--json").json()["orphan_captions"]
    assert orphans == []  # a.txt belongs to a.mp4

    show = cli("dataset", "show", "mixed", "--json", "--target-frames", "1,13,25", "--frame-extraction", "chunk")
    tables = show.json()["video_clips"]
    # a.mp4, 30 frames: 30 one-frame chunks, 13-frame chunks at 0 and 13, one 25; b.webm, 9 frames: 9 one-frame
    assert tables["totals"] == {"videos": 4, "broken": 2, "clips": 30 + 2 + 1 + 9, "too_short": 0, "resampled": 0,
                                "cut": 0}
    videos = {v["path"]: v for v in tables["videos"]}
    a = videos["5_clips/a.mp4"]
    assert [(c["start"], c["length"]) for c in a["clips"] if c["length"] > 1] == [(0, 13), (13, 13), (0, 25)]
    assert a["flags"] == [] and a["fps"] == "24/1" and a["unused_frames"] == 0
    assert videos["5_clips/b.webm"]["flags"] == [] and len(videos["5_clips/b.webm"]["clips"]) == 9
    assert videos["5_clips/sound.mp4"]["flags"] == ["broken"]
    text = cli("dataset", "show", "mixed", "--target-frames", "25")
    assert text.code == 0 and "too short" in text.out and "25f@0" in text.out

    unchanged = cli("dataset", "scan", "mixed", "--json").json()
    assert (unchanged["unchanged"], unchanged["added"]) == (5, 0)


def test_video_thumbnail_is_stored_for_the_preview(cli, tmp_path, home):
    from loratui.config import Paths
    from loratui.datasets.image_repo import ThumbnailReader

    root = tmp_path / "data"
    make_video(root / "clip.mp4", 8, 24, size=(32, 16), pattern=5)
    assert cli("dataset", "add", root, "--name", "one").code == 0
    reader = ThumbnailReader(Paths(home).db)
    try:
        thumb = reader.get(1)
    finally:
        reader.close()
    assert thumb is not None and (thumb.width, thumb.height) == (32, 16)
    assert (thumb.image_width, thumb.image_height) == (32, 16)
    assert thumb.matches(root / "clip.mp4")
    from loratui.tui.preview_render import decode_pixels

    pixels = decode_pixels(root / "clip.mp4", 160, 80, thumb, root)  # a box larger than the thumbnail
    assert (pixels.width, pixels.height) == (32, 16) and pixels.cols > 32  # the thumbnail, scaled up


def test_dupes_groups_videos_by_keyframes(cli, tmp_path):
    root = tmp_path / "data"
    make_video(root / "a.mp4", 12, 24, size=(64, 64), pattern=1)
    make_video(root / "a_again.mkv", 12, 24, size=(64, 64), pattern=1)  # same pictures, another container
    make_video(root / "other.mp4", 12, 24, size=(64, 64), pattern=2)
    make_image(root / "still.png", size=(64, 64))
    (root / "copy.mp4").write_bytes((root / "other.mp4").read_bytes())
    assert cli("dataset", "add", root, "--name", "d").code == 0
    groups = cli("dataset", "dupes", "d", "--json").json()["groups"]
    kinds = sorted((g["kind"], sorted(i["rel_path"] for i in g["images"])) for g in groups)
    assert kinds == [("exact", ["copy.mp4", "other.mp4"]), ("near", ["a.mp4", "a_again.mkv"])]


def test_clip_ranges_for_the_timeline(cli, tmp_path, home):
    import asyncio

    from loratui.config import Paths
    from loratui.datasets import image_repo, service, video_service
    from loratui.datasets.video_clips import ClipSettings
    from loratui.store import Store

    root = tmp_path / "data"
    make_video(root / "a.mp4", 30, 30)
    make_image(root / "b.png")
    assert cli("dataset", "add", root, "--name", "t").code == 0
    images = {i["path"]: i for i in cli("dataset", "images", "t", "--json").json()}
    assert (images["a.mp4"]["kind"], images["b.png"]["kind"]) == ("video", "image")
    settings = ClipSettings(target_frames=(9,), frame_extraction="chunk", source_fps=30.0, target_fps=16.0)

    async def ranges_of():
        async with Store.open(Paths(home).db) as store:
            dataset = await service.get_dataset(store, "t")
            video_id, image_id = await store.run(image_repo.select_ids, dataset.id)
            return (await video_service.clip_ranges_for(store, video_id, settings),
                    await video_service.clip_ranges_for(store, image_id, settings),
                    await video_service.dataset_clip_ranges(store, dataset.id, settings),
                    await video_service.dataset_clip_ranges(store, dataset.id))

    # 30 -> 16 fps keeps 16 of the 30 frames (0, 2, 4, ... 16, 17, 19, ...): one chunk of 9, file frames 0 to 16;
    # the video view's timeline takes (first, length) per path; musubi's defaults take frame 0 alone.
    assert asyncio.run(ranges_of()) == ([(0, 17)], [], {"a.mp4": [(0, 17)]}, {"a.mp4": [(0, 1)]})


def test_export_copies_videos_and_taggers_skip_them(cli, tmp_path, home):
    import asyncio

    from loratui.config import Paths
    from loratui.datasets import image_repo, service
    from loratui.store import Store

    root = tmp_path / "data"
    make_video(root / "1_x" / "a.mp4", 6, 24)
    (root / "1_x" / "a.txt").write_text("a clip")
    make_image(root / "1_x" / "b.png", size=(300, 200))
    assert cli("dataset", "add", root, "--name", "e").code == 0
    out = tmp_path / "out"
    report = cli("dataset", "export", "e", str(out), "--max-side", "100", "--json").json()
    assert (report["images"], report["resized"], report["skipped"]) == (2, 1, [])
    assert (out / "1_x" / "a.mp4").read_bytes() == (root / "1_x" / "a.mp4").read_bytes()

    async def tagged():
        async with Store.open(Paths(home).db) as store:
            dataset = await service.get_dataset(store, "e")
            return [row["rel_path"] for row in await store.run(image_repo.tagging_rows, dataset.id)]

    assert asyncio.run(tagged()) == ["1_x/b.png"]


def test_query_terms_for_videos(cli, tmp_path, home):
    import asyncio

    from loratui.config import Paths
    from loratui.datasets import image_repo, service
    from loratui.store import Store

    root = tmp_path / "data"
    make_video(root / "long.mp4", 30, 24)
    make_video(root / "short.webm", 6, 24, pattern=2)
    make_image(root / "still.png")
    assert cli("dataset", "add", root, "--name", "q").code == 0

    async def paths(*queries):
        async with Store.open(Paths(home).db) as store:
            dataset = await service.get_dataset(store, "q")
            found = []
            for query in queries:
                ids = await store.run(image_repo.select_ids, dataset.id, query)
                rows = await store.run(image_repo.list_rows, dataset.id, None, None, ids)
                found.append(sorted(rows.names))
            return found

    assert asyncio.run(paths("video", "image", "video frames>=10", "-video")) == [
        ["long.mp4", "short.webm"], ["still.png"], ["long.mp4"], ["still.png"]]
