"""Frame sampling from video clips (PyAV): even spacing, short clips, broken and truncated files."""

from __future__ import annotations

import pytest

av = pytest.importorskip("av")

from loratui.tagging.video_sampling import VideoUnreadable, sample_frames, sample_times  # noqa: E402
from tests.tagging.test_video_caption import make_clip  # noqa: E402


def level(image) -> int:
    return image.getpixel((image.width // 2, image.height // 2))[0]


def test_sample_times_are_the_middles_of_equal_parts():
    assert sample_times(2.0, 4) == [0.25, 0.75, 1.25, 1.75]
    assert sample_times(1.0, 1, start_s=0.5) == [1.0]


def test_frames_are_spread_over_the_clip_and_shrunk(tmp_path):
    clip = tmp_path / "c.mkv"
    make_clip(clip, frames=48, size=(320, 160))
    frames = sample_frames(clip, 4, max_side=64, root=tmp_path)
    assert [f.size for f in frames] == [(64, 32)] * 4 and all(f.mode == "RGB" for f in frames)
    # 2 s at 24 fps: the middles of the quarters are frames 6, 18, 30 and 42 (grey level 5 k).
    assert all(abs(level(f) - 5 * k) <= 2 for f, k in zip(frames, (6, 18, 30, 42))), [level(f) for f in frames]


def test_broken_truncated_and_outside_files_are_unreadable(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 50)
    with pytest.raises(VideoUnreadable, match="cannot decode the video"):
        sample_frames(junk, 4)
    whole = tmp_path / "whole.mkv"
    make_clip(whole, frames=48)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(VideoUnreadable, match="truncated file"):
        sample_frames(cut, 8)
    inside = tmp_path / "dataset"
    inside.mkdir()
    (inside / "link.mkv").symlink_to(whole)
    with pytest.raises(VideoUnreadable, match="cannot open"):
        sample_frames(inside / "link.mkv", 2, root=inside)
    with pytest.raises(ValueError):
        sample_frames(whole, 0)


def test_a_stream_without_a_duration_is_sampled_by_frame_position(tmp_path):
    """A raw MPEG-4 elementary stream (.m4v) states no duration (and a wrong frame rate): frames are counted."""
    import numpy as np

    clip = tmp_path / "raw.m4v"
    with av.open(str(clip), "w", format="m4v") as out:
        stream = out.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.bit_rate, stream.codec_context.gop_size = 8_000_000, 1
        for k in range(48):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 5 * k, np.uint8),
                                                                   format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(clip)) as container:
        assert container.duration is None and container.streams.video[0].duration is None
    frames = sample_frames(clip, 4)
    assert all(abs(level(f) - 5 * k) <= 2 for f, k in zip(frames, (6, 18, 30, 42))), [level(f) for f in frames]


def test_long_clips_are_sampled_by_seeking_with_the_same_frames(tmp_path, monkeypatch):
    """Seeking to the key frame before each point (clips longer than SEEK_ABOVE_S) picks the frames that decoding
    the clip through picks, with key frames only every 12 frames."""
    import numpy as np

    from loratui.tagging import video_sampling

    clip = tmp_path / "gop.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.bit_rate, stream.codec_context.gop_size = 8_000_000, 12
        for k in range(96):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 2 * k, np.uint8),
                                                                   format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    through = [level(f) for f in sample_frames(clip, 7)]
    monkeypatch.setattr(video_sampling, "SEEK_ABOVE_S", 1.0)
    seeks = []
    real_seek = av.container.InputContainer.seek
    monkeypatch.setattr(av.container.InputContainer, "seek",
                        lambda self, *a, **k: (seeks.append(a), real_seek(self, *a, **k))[1])
    sought = [level(f) for f in sample_frames(clip, 7)]
    assert len(seeks) == 7
    assert sought == through
    # 4 s, 7 parts: the first frames shown at the middles are 7, 21, 34, 48, 62, 75, 89 (level 2 k).
    assert all(abs(got - 2 * k) <= 2 for got, k in zip(sought, (7, 21, 34, 48, 62, 75, 89))), sought


def test_a_truncated_long_clip_is_unreadable_when_seeking(tmp_path, monkeypatch):
    from loratui.tagging import video_sampling

    whole = tmp_path / "whole.mkv"
    make_clip(whole, frames=48)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    monkeypatch.setattr(video_sampling, "SEEK_ABOVE_S", 1.0)
    with pytest.raises(VideoUnreadable, match="truncated file"):
        sample_frames(cut, 6)
