"""Clip tables: musubi-tuner's and diffusion-pipe's clips for hand-worked cases (the `musubi` marker test in
test_video_clips_musubi.py compares with musubi-tuner's own dataset code)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from loratui.datasets.video_clips import ClipSettings, VideoInfo, clip_ranges, clips_for, musubi_sequence, plan_clips
from loratui.errors import InputError


def _musubi(**kw) -> ClipSettings:
    return ClipSettings(trainer="musubi", **kw)


def _starts(info, settings):
    return [(c.start, c.length) for c in clips_for(info, settings)]


def test_head_takes_each_target_that_fits_and_rounds_to_4n1():
    video = VideoInfo("a.mp4", 30, Fraction(24))
    plan = plan_clips(video, _musubi(target_frames=(45, 1, 25, 24)))
    assert [(c.start, c.length) for c in plan.clips] == [(0, 1), (0, 21), (0, 25)]  # 24 -> 21; 45 does not fit
    assert plan.notes[0] == "target_frames rounded to 4N+1: 1, 21, 25, 45"
    assert plan.sequence_frames == 30 and plan.unused_frames == 5 and plan.flags == ["cut"]
    assert plan.clips[2].fps == 24.0 and (plan.clips[2].source_start, plan.clips[2].source_end) == (0, 25)
    short = plan_clips(VideoInfo("s.mp4", 10, Fraction(24)), _musubi(target_frames=(25,)))
    assert short.clips == [] and short.flags == ["too short"]


def test_chunk_slide_uniform_full():
    video = VideoInfo("v.mp4", 30, Fraction(30))
    assert _starts(video, _musubi(target_frames=(9,), frame_extraction="chunk")) == [(0, 9), (9, 9), (18, 9)]
    assert _starts(VideoInfo("v", 20), _musubi(target_frames=(9,), frame_extraction="slide", frame_stride=5)) == [
        (0, 9), (5, 9), (10, 9)]
    assert _starts(VideoInfo("v", 20), _musubi(target_frames=(9,), frame_extraction="uniform", frame_sample=4)) == [
        (0, 9), (3, 9), (7, 9), (11, 9)]
    # linspace(0, 1, 4) truncated is 0, 0, 0, 1: three clips share a cache file, so two items
    plan = plan_clips(VideoInfo("v", 10), _musubi(target_frames=(9,), frame_extraction="uniform", frame_sample=4))
    assert [(c.start, c.length) for c in plan.clips] == [(0, 9), (1, 9)] and "cached once" in plan.notes[-1]
    # uniform with frame_sample 1 is head
    assert _starts(video, _musubi(target_frames=(9,), frame_extraction="uniform")) == [(0, 9)]
    assert _starts(video, _musubi(frame_extraction="full")) == [(0, 29)]
    assert _starts(video, _musubi(frame_extraction="full", max_frames=20)) == [(0, 17)]
    assert clip_ranges(video, _musubi(target_frames=(9,), frame_extraction="chunk")) == [(0, 9), (9, 18), (18, 27)]


def test_source_fps_resampling_drops_frames_like_musubi():
    kept = musubi_sequence(30, 30.0, 16.0)
    assert len(kept) == 16 and kept[:5] == [0, 2, 4, 6, 8]  # int(i * 16/30) changes every ~1.9 frames
    assert musubi_sequence(30, 30.0, 16.0, end_frame=5) == kept[:5]
    assert musubi_sequence(10, 8.0, 16.0) == list(range(10))  # slower sources: every frame kept...
    assert musubi_sequence(10, 8.0, 16.0, end_frame=9) == [0, 1, 2, 3, 4]  # ...at every other target index
    plan = plan_clips(VideoInfo("v.mp4", 60, Fraction(30)),
                      _musubi(target_frames=(9,), frame_extraction="chunk", source_fps=30.0, target_fps=16.0))
    assert [(c.start, c.length) for c in plan.clips] == [(0, 9), (9, 9), (18, 9)]
    assert plan.sequence_frames == 32 and "resampled" in plan.flags and "fps mismatch" not in plan.flags
    assert (plan.clips[1].source_start, plan.clips[1].source_end) == (kept_at(60, 9), kept_at(60, 17) + 1)
    assert plan.clips[0].fps == 16.0
    wrong = plan_clips(VideoInfo("v.mp4", 60, Fraction(24)), _musubi(target_frames=(9,), source_fps=30.0))
    assert "fps mismatch" in wrong.flags and "1.25x speed" in wrong.notes[-1]


def kept_at(frame_count: int, index: int) -> int:
    return musubi_sequence(frame_count, 30.0, 16.0)[index]


def test_diffusion_pipe_buckets_and_modes():
    video = VideoInfo("a.mp4", 30, Fraction(24))
    begin = ClipSettings(trainer="diffusion-pipe", frame_buckets=(1, 9, 17, 33), target_fps=16.0)
    plan = plan_clips(video, begin)
    # int(30 * 16 / 24) = 20 frames at 16 fps; largest bucket <= 20 is 17 (already 4N+1)
    assert plan.sequence_frames == 20 and [(c.start, c.length) for c in plan.clips] == [(0, 17)]
    assert "resampled" in plan.flags and plan.clips[0].fps == 16.0
    middle = plan_clips(video, ClipSettings(trainer="diffusion-pipe", frame_buckets=(1, 9, 17, 33),
                                            video_clip_mode="single_middle", target_fps=16.0))
    # start int((20 - 17) / 2) = 1; resampled frames 1 and 17 are file frames 1 and int(17 * 29 / 19) = 25
    assert [(c.start, c.length, c.source_start, c.source_end) for c in middle.clips] == [(1, 17, 1, 26)]
    assert plan_clips(VideoInfo("b", 20, Fraction(16)),
                      ClipSettings(trainer="diffusion-pipe", frame_buckets=(33,))).flags == ["too short"]
    rounded = ClipSettings(trainer="diffusion-pipe", frame_buckets=(1, 32), target_fps=16.0)
    assert _starts(VideoInfo("c", 40, Fraction(16)), rounded) == [(0, 29)]  # bucket 32 -> 29 frames (4N+1)
    with pytest.raises(InputError, match="NotImplementedError"):
        plan_clips(video, ClipSettings(trainer="diffusion-pipe", video_clip_mode="multiple_overlapping"))


def test_bad_settings_are_user_errors():
    video = VideoInfo("a.mp4", 30, Fraction(24))
    for bad in (_musubi(target_frames=(0,)), _musubi(frame_extraction="middle"), _musubi(frame_stride=0),
                ClipSettings(trainer="kohya"), ClipSettings(trainer="diffusion-pipe", video_clip_mode="x")):
        with pytest.raises(InputError):
            plan_clips(video, bad)
