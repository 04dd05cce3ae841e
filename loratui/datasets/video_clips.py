"""Clip tables: exactly which clips (start frame, length, frame rate) a trainer takes from each video.

Pure functions; the numbers are those the trainers' own dataset code computes (read, not copied):

musubi-tuner (30c658c, ``dataset/image_video_dataset.py`` ``VideoDataset``, ``dataset/media_utils.py``
``load_video``):

* ``target_frames`` are de-duplicated, sorted, and each rounded down to 4N+1 (``(f - 1) // 4 * 4 + 1``: every
  video VAE needs it), then de-duplicated again;
* ``frame_extraction='uniform'`` with ``frame_sample`` 1 becomes ``head``; ``head`` decodes only the first
  ``max(target_frames)`` frames;
* with ``source_fps`` set, frames are dropped to reach the architecture's rate (Wan 16, HunyuanVideo 24, FramePack
  30, Kandinsky 5 / HunyuanVideo 1.5 24): a running sum adds ``target_fps / source_fps`` per decoded frame and a
  frame is kept when the sum's integer part changes (the float sum is replayed here step by step, as musubi adds
  it). ``source_fps`` is the configured value, the same for every video: a video of another rate is resampled by
  the wrong ratio (flagged);
* on the ``n`` frames kept: ``head`` one clip ``(0, t)`` per target ``t <= n``; ``chunk`` clips ``(i, t)`` for
  ``i`` in ``range(0, n, t)`` that fit; ``slide`` ``range(0, n - t + 1, frame_stride)``; ``uniform``
  ``numpy.linspace(0, n - t, frame_sample, dtype=int)``; ``full`` one clip of ``min(n, max_frames)`` rounded down
  to 4N+1;
* each clip is cached as ``<stem>_<start:05d>-<length:03d>_<W>x<H>_<arch>.safetensors``: clips with the same start
  and length (``uniform`` on a short video) are one file, so one training item.

diffusion-pipe (``utils/dataset.py``, ``models/base.py`` ``PreprocessMediaFile``):

* the video is resampled to the model's frame rate first: ``int(frames * framerate / fps)`` frames, taken at
  ``linspace(0, frames - 1, new_count)`` (truncated to integers);
* it goes into the largest ``frame_buckets`` entry not above that count (1 is always added; a video never goes
  into bucket 1 unless it has a single frame), else it is skipped as too short;
* the clip length is the bucket rounded down to 4N+1; ``single_beginning`` starts at 0, ``single_middle`` at
  ``int((count - length) / 2)``. ``multiple_overlapping`` is commented out in diffusion-pipe (it raises
  NotImplementedError), so it is refused here too.

A clip's ``start``/``length`` count frames of the sequence the trainer cuts from (after resampling);
``source_start``/``source_end`` are the frames of the file it covers (for a timeline), ``fps`` the real rate of
its frames. Flags: ``too short`` (no clip), ``resampled``, ``cut`` (frames of the file in no clip), ``fps
mismatch`` (musubi's ``source_fps`` differs from the video's own rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from loratui.errors import InputError

VAE_FRAME_STRIDE = 4
FRAME_EXTRACTIONS = ("head", "chunk", "slide", "uniform", "full")
CLIP_MODES = ("single_beginning", "single_middle")
REFUSED_CLIP_MODES = {"multiple_overlapping": "commented out in diffusion-pipe (it raises NotImplementedError)"}

MUSUBI_TARGET_FPS = {"wan": 16.0, "hv": 24.0, "fp": 30.0, "k5": 24.0, "hv15": 24.0}
"""musubi-tuner's ``VideoDataset`` target rate per architecture code (what ``source_fps`` resamples to)."""
DIFFUSION_PIPE_FPS = {"wan": 16.0, "wan2.2-5b": 24.0, "hunyuan-video": 24.0, "hunyuan-video-1.5": 24.0,
                      "ltx-video": 25.0, "cosmos-predict2": 16.0}
"""diffusion-pipe's model frame rates (``framerate`` of each model class)."""


@dataclass(frozen=True)
class VideoInfo:
    """What the clip computation needs about one video."""

    name: str
    frame_count: int
    fps: Fraction | None = None


@dataclass(frozen=True)
class Clip:
    """One clip a trainer takes: `length` frames from `start` of its (resampled) frame sequence."""

    start: int
    length: int
    fps: float | None
    source_start: int
    source_end: int
    """Frames ``source_start`` to ``source_end - 1`` of the file."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"start": self.start, "length": self.length, "fps": self.fps, "source_start": self.source_start,
                "source_end": self.source_end}


@dataclass(frozen=True)
class ClipSettings:
    """A video dataset's clip options, for musubi-tuner or diffusion-pipe."""

    trainer: str = "musubi"
    target_frames: tuple[int, ...] = (1,)
    frame_extraction: str = "head"
    frame_stride: int = 1
    frame_sample: int = 1
    max_frames: int = 129
    source_fps: float | None = None
    target_fps: float = 16.0
    """musubi: the architecture's rate (``MUSUBI_TARGET_FPS``); diffusion-pipe: the model's ``framerate``."""
    frame_buckets: tuple[int, ...] = (1,)
    video_clip_mode: str = "single_beginning"
    round_frames: int = VAE_FRAME_STRIDE

    def validated(self) -> ClipSettings:
        """These settings, or InputError naming the bad one."""
        if self.trainer not in ("musubi", "diffusion-pipe"):
            raise InputError(f"unknown trainer {self.trainer!r} for clip tables", hint="musubi or diffusion-pipe")
        if self.trainer == "musubi":
            if not self.target_frames or min(self.target_frames) < 1:
                raise InputError("target_frames must be whole numbers of at least 1", hint="e.g. 1,25,45")
            if self.frame_extraction not in FRAME_EXTRACTIONS:
                raise InputError(f"frame_extraction {self.frame_extraction!r} is not one of musubi-tuner's",
                                 hint=", ".join(FRAME_EXTRACTIONS))
            if self.frame_stride < 1 or self.frame_sample < 1 or self.max_frames < 1:
                raise InputError("frame_stride, frame_sample and max_frames must be at least 1")
            if self.source_fps is not None and self.source_fps <= 0:
                raise InputError("source_fps must be above 0")
        else:
            if self.video_clip_mode in REFUSED_CLIP_MODES:
                raise InputError(f"video_clip_mode {self.video_clip_mode} is "
                                 f"{REFUSED_CLIP_MODES[self.video_clip_mode]}", hint=" or ".join(CLIP_MODES))
            if self.video_clip_mode not in CLIP_MODES:
                raise InputError(f"video_clip_mode {self.video_clip_mode!r} is not one of diffusion-pipe's",
                                 hint=" or ".join(CLIP_MODES))
            if not self.frame_buckets or min(self.frame_buckets) < 1:
                raise InputError("frame_buckets must be whole numbers of at least 1", hint="e.g. 1,33,65")
        if self.target_fps <= 0:
            raise InputError("the target frame rate must be above 0")
        return self

    def musubi_target_frames(self) -> tuple[int, ...]:
        """``target_frames`` as musubi-tuner uses them: unique, sorted, each rounded down to 4N+1."""
        return tuple(sorted({round_4n1(f) for f in self.target_frames}))


@dataclass
class ClipPlan:
    """The clips of one video and what to tell the user about them."""

    name: str
    frame_count: int
    clips: list[Clip] = field(default_factory=list)
    sequence_frames: int = 0
    """Frames in the sequence the clips are cut from (after resampling; musubi's head: at most the largest target)."""
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unused_frames: int = 0
    """Frames of the file in no clip."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"name": self.name, "frame_count": self.frame_count, "sequence_frames": self.sequence_frames,
                "clips": [c.to_dict() for c in self.clips], "flags": list(self.flags), "notes": list(self.notes),
                "unused_frames": self.unused_frames}


def round_4n1(frames: int) -> int:
    """Round down to 4N+1 (1, 5, 9, ... 81): the frame counts every video VAE accepts."""
    return (frames - 1) // VAE_FRAME_STRIDE * VAE_FRAME_STRIDE + 1


def clips_for(info: VideoInfo, settings: ClipSettings) -> list[Clip]:
    """The clips `settings`' trainer takes from the video `info`, in the trainer's order."""
    return plan_clips(info, settings).clips


def clip_ranges(info: VideoInfo, settings: ClipSettings) -> list[tuple[int, int]]:
    """Each clip as ``(first, end)`` frames of the file (end exclusive): what a timeline draws."""
    return [(clip.source_start, clip.source_end) for clip in clips_for(info, settings)]


def plan_clips(info: VideoInfo, settings: ClipSettings) -> ClipPlan:
    """The clips of one video with its flags (see the module docstring)."""
    settings = settings.validated()
    if settings.trainer == "musubi":
        plan = _musubi(info, settings)
    else:
        plan = _diffusion_pipe(info, settings)
    if not plan.clips:
        plan.flags.insert(0, "too short")
    covered = set()
    for clip in plan.clips:
        covered.update(range(clip.source_start, clip.source_end))
    plan.unused_frames = info.frame_count - len(covered)
    if plan.clips and plan.unused_frames > 0:
        plan.flags.append("cut")
    return plan


# -- musubi-tuner ----------------------------------------------------------------------------------------------


def musubi_sequence(frame_count: int, source_fps: float | None, target_fps: float,
                    end_frame: int | None = None) -> list[int]:
    """The file's frame index of each frame musubi-tuner's ``load_video`` keeps, in order."""
    if source_fps is None:
        stop = frame_count if end_frame is None else min(frame_count, end_frame)
        return list(range(stop))
    delta = target_fps / source_fps
    kept: list[int] = []
    position = 0.0
    previous = -1
    for index in range(frame_count):
        target_index = int(position)
        position += delta  # summed step by step, as musubi does: its float rounding decides which frames stay
        if target_index == previous:
            continue
        previous = target_index
        if end_frame is not None and target_index >= end_frame:
            break
        kept.append(index)
    return kept


def _musubi(info: VideoInfo, settings: ClipSettings) -> ClipPlan:
    plan = ClipPlan(info.name, info.frame_count)
    targets = settings.musubi_target_frames()
    if tuple(sorted(set(settings.target_frames))) != targets:
        plan.notes.append(f"target_frames rounded to 4N+1: {', '.join(map(str, targets))}")
    mode = settings.frame_extraction
    if mode == "uniform" and settings.frame_sample == 1:
        mode = "head"
        plan.notes.append("frame_extraction uniform with frame_sample 1 is head (as musubi-tuner does)")
    end_frame = max(targets) if mode == "head" else None
    sequence = musubi_sequence(info.frame_count, settings.source_fps, settings.target_fps, end_frame)
    count = len(sequence)
    plan.sequence_frames = count
    rate = float(info.fps) if info.fps else None
    if settings.source_fps is not None:
        ratio = settings.target_fps / settings.source_fps
        if ratio != 1:
            plan.flags.append("resampled")
            plan.notes.append(f"source_fps {settings.source_fps:g} -> {settings.target_fps:g} fps: "
                              f"{_keep_share(ratio)} of the frames kept")
        if rate is not None and abs(rate - settings.source_fps) > 0.01 * settings.source_fps:
            plan.flags.append("fps mismatch")
            plan.notes.append(f"the video is {rate:.3f} fps, source_fps says {settings.source_fps:g}: "
                              f"its motion trains at {settings.target_fps / (rate * min(ratio, 1)):.2f}x speed")
        if rate is not None:
            rate = rate * min(ratio, 1.0)
    positions: list[tuple[int, int]] = []
    if mode == "head":
        positions = [(0, t) for t in targets if count >= t]
    elif mode == "chunk":
        positions = [(i, t) for t in targets for i in range(0, count, t) if i + t <= count]
    elif mode == "slide":
        positions = [(i, t) for t in targets if count >= t for i in range(0, count - t + 1, settings.frame_stride)]
    elif mode == "uniform":
        import numpy as np

        for t in targets:
            if count >= t:
                positions += [(int(i), t) for i in np.linspace(0, count - t, settings.frame_sample, dtype=int)]
    else:  # full
        if count >= 1:
            positions = [(0, round_4n1(min(count, settings.max_frames)))]
    seen: set[tuple[int, int]] = set()
    for start, length in positions:
        if (start, length) in seen:
            continue  # the same cache file: one training item
        seen.add((start, length))
        plan.clips.append(Clip(start, length, rate, sequence[start], sequence[start + length - 1] + 1))
    if len(seen) < len(positions):
        plan.notes.append(f"{len(positions) - len(seen)} clip(s) repeat a start and length: cached once, "
                          "trained once")
    return plan


def _keep_share(ratio: float) -> str:
    return "all" if ratio >= 1 else f"{ratio:.0%}"


# -- diffusion-pipe --------------------------------------------------------------------------------------------


def _diffusion_pipe(info: VideoInfo, settings: ClipSettings) -> ClipPlan:
    plan = ClipPlan(info.name, info.frame_count)
    if not info.fps:
        plan.notes.append("the video's frame rate is unknown: diffusion-pipe cannot resample it")
        return plan
    source_fps = float(info.fps)
    count = int(info.frame_count * settings.target_fps / source_fps)
    plan.sequence_frames = count
    if count != info.frame_count or abs(source_fps - settings.target_fps) > 1e-9:
        plan.flags.append("resampled")
        plan.notes.append(f"{source_fps:.3f} -> {settings.target_fps:g} fps: {info.frame_count} -> {count} frames")
    buckets = sorted(set(settings.frame_buckets) | {1})
    is_video = count > 1
    fitting = [b for b in buckets if b <= count]
    if not fitting or (is_video and fitting[-1] == 1):
        plan.notes.append(f"{count} frames at {settings.target_fps:g} fps: no frame bucket fits "
                          f"({', '.join(map(str, buckets))})")
        return plan
    bucket = fitting[-1]
    length = (bucket - 1) // settings.round_frames * settings.round_frames + 1
    if settings.video_clip_mode == "single_beginning":
        start = 0
    else:
        start = int((count - length) / 2)
    mapping = _linspace_indices(info.frame_count, count)
    plan.notes.append(f"frame bucket {bucket}")
    plan.clips.append(Clip(start, length, settings.target_fps, mapping[start], mapping[start + length - 1] + 1))
    return plan


def _linspace_indices(frame_count: int, count: int) -> list[int]:
    """The file frame of each resampled frame: ``torch.linspace(0, n - 1, count)`` cut to integers, computed as
    torch's CPU kernel does in float32 (from the start for the first half, from the end for the rest)."""
    import numpy as np

    if count <= 0:
        return []
    if count == 1:
        return [0]
    start, end = np.float32(0), np.float32(frame_count - 1)
    step = (end - start) / np.float32(count - 1)
    half = count // 2
    values = []
    for index in range(count):
        if index < half:
            value = start + step * np.float32(index)
        else:
            value = end - step * np.float32(count - index - 1)
        values.append(int(np.float32(value)))
    return values
