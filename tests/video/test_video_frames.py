"""Frame access: frame N is exactly frame N (seeking and stepping), iteration, and bad files refused clearly."""

from __future__ import annotations

import pytest

from loratui.datasets.video_frames import VideoError, VideoReader, probe, time_text
from loratui.datasets.video_scenes import detect_scenes

from tests.video.conftest import grey, level, make_video, ramp_frames, scene_frames


@pytest.fixture
def ramp(tmp_path):
    return make_video(tmp_path / "ramp.mp4", ramp_frames(30), fps=10)


def test_probe_reports_size_fps_and_frames(ramp):
    info = probe(ramp)
    assert (info.width, info.height, info.frames) == (32, 32, 30)
    assert info.fps == pytest.approx(10.0)
    assert info.duration_s == pytest.approx(3.0)


def test_frame_n_is_exact_in_any_order(ramp):
    with VideoReader(ramp) as reader:
        for n in (0, 29, 7, 8, 6, 15, 1, 28, 0):
            assert abs(grey(reader.frame(n)) - level(n)) < 4, n


def test_frames_iterates_in_order_from_a_start(ramp):
    with VideoReader(ramp) as reader:
        got = [(n, round(grey(rgb))) for n, rgb in reader.frames(12, 18, size=(8, 8))]
    assert [n for n, _ in got] == list(range(12, 18))
    assert all(abs(g - level(n)) < 4 for n, g in got)


def test_frame_scaled_and_cached(ramp):
    with VideoReader(ramp) as reader:
        small = reader.frame(3, (8, 6))
        assert small.shape == (6, 8, 3)
        assert reader.frame(3, (8, 6)) is small


def test_frame_out_of_range_is_a_clear_error(ramp):
    with VideoReader(ramp) as reader, pytest.raises(VideoError, match="no frame 30"):
        reader.frame(30)


def test_not_a_video_is_refused(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video at all" * 50)
    with pytest.raises(VideoError, match="not a readable video"):
        VideoReader(bad)


def test_truncated_video_is_refused_or_ends_early(tmp_path, ramp):
    data = ramp.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError):
        with VideoReader(cut) as reader:
            for _ in reader.frames():
                pass


def test_fifo_is_never_opened(tmp_path):
    import os
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(VideoError, match="FIFO"):
        VideoReader(fifo)


def test_scene_detection_finds_the_colour_change(tmp_path):
    video = make_video(tmp_path / "s.mp4", scene_frames(20, 16))
    with VideoReader(video) as reader:
        scenes = detect_scenes(reader)
    assert [(s.start, s.length) for s in scenes] == [(0, 20), (20, 16)]


def test_time_text():
    assert time_text(125, 10) == "0:12.500"
    assert time_text(900, 12) == "1:15.000"


def test_still_previews_show_a_videos_first_frame(tmp_path):
    """The main screen's preview (and every still image view) draws a video item as its first frame."""
    from loratui.tui.preview_render import render_preview

    video = make_video(tmp_path / "v" / "ramp.mp4", ramp_frames(10, size=(32, 16)), fps=10, size=(32, 16))
    preview = render_preview(video, 20, 10, root=tmp_path / "v")
    assert (preview.width, preview.height, preview.cells_w) == (32, 16, 20)
    first = next(iter(preview.strips[2])).style.color.triplet
    assert abs(first.red - level(0)) < 4


def test_encoding_is_atomic_when_interrupted(tmp_path):
    """A failure mid-encode (here: the frames' source fails) leaves no file under the name and no temp file."""
    from loratui.datasets.video_encode import write_video

    def frames():
        yield from ramp_frames(5)
        raise KeyboardInterrupt

    target = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        write_video(target, frames(), fps=10, size=(32, 32))
    assert list(tmp_path.iterdir()) == []


def test_frames_at_another_fps_drop_or_repeat_source_frames(ramp):
    from loratui.datasets.video_frames import sample_indices

    assert sample_indices(0, 10, 10, 5) == [0, 2, 4, 6, 8]
    assert sample_indices(4, 8, 10, 20) == [4, 4, 5, 5, 6, 6, 7, 7]
    with VideoReader(ramp) as reader:
        levels = [round(grey(rgb)) for rgb in reader.frames_at(5, 10, 20, size=(8, 8))]
    assert len(levels) == 5
    assert all(abs(g - level(n)) < 4 for g, n in zip(levels, [10, 12, 14, 16, 18]))


@pytest.mark.parametrize("name, fmt, codec", [("a.mkv", "matroska", "mpeg4"), ("a.webm", "webm", "libvpx-vp9"),
                                              ("a.avi", "avi", "mpeg4")])
def test_other_containers_and_ntsc_rate(tmp_path, name, fmt, codec):
    """Containers that record no frame count (MKV, WebM: counted from packets), 30000/1001 fps, odd codecs."""
    from fractions import Fraction

    import av
    import numpy as np

    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec}")
    path = tmp_path / name
    container = av.open(str(path), "w", format=fmt)
    stream = container.add_stream(codec, rate=Fraction(30000, 1001))
    stream.width, stream.height, stream.pix_fmt = 34, 18, "yuv420p"
    for n in range(30):
        frame = av.VideoFrame.from_ndarray(np.full((18, 34, 3), level(n), np.uint8), format="rgb24")
        frame.pts = n
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    with VideoReader(path) as reader:
        assert (reader.info.frames, reader.info.width, reader.info.height) == (30, 34, 18)
        assert reader.info.fps == pytest.approx(29.97, abs=0.01)
        for n in (0, 13, 29, 5):
            assert abs(grey(reader.frame(n)) - level(n)) < 5, n
