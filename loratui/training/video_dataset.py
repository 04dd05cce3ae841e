"""Video datasets for musubi-tuner's video families (Wan 2.1/2.2, HunyuanVideo, HunyuanVideo 1.5, FramePack,
Kandinsky 5): the clip settings, the ``[[datasets]]`` entries with ``video_directory``, and the step count.

The clip options are [args] of the training config, spelled as musubi-tuner's dataset TOML spells them
(``target_frames``, ``frame_extraction``, ``frame_stride``, ``frame_sample``, ``max_frames``, ``source_fps``); like
the other dataset options they go into the dataset TOML, never onto a command line. A subset folder holding
videos becomes a ``[[datasets]]`` entry of its own (``video_directory``) beside its image entry, with its own
cache folder: musubi-tuner's video dataset reads every ``*_<arch>.safetensors`` of its cache folder as a clip, so
an image cache there would break it.

musubi-tuner's video glob (``media_utils.glob_videos``) takes its ten extensions in lower and upper case, does
not skip a video without a caption file (the text-encoder caching stops on it), and counts each cached clip
``num_repeats`` times in the bucket of its original frame size and length (``VideoDataset.prepare_for_training``).
"""

from __future__ import annotations

from typing import Any

from loratui.datasets.video_clips import MUSUBI_TARGET_FPS, ClipSettings
from loratui.errors import InputError
from loratui.training.families import find_family

VIDEO_DATASET_ARGS = ("target_frames", "frame_extraction", "frame_stride", "frame_sample", "max_frames",
                      "source_fps")
"""[args] written into each video ``[[datasets]]`` entry (never passed as flags)."""

MUSUBI_VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".flv", ".wmv", ".m4v", ".mpg", ".mpeg")
"""The extensions musubi-tuner globs for videos (each in lower or upper case, not mixed)."""

DEFAULT_ARCHITECTURE = "wan"


def is_musubi_video(rel_path: str) -> bool:
    """True when musubi-tuner's video glob picks this file up."""
    name = rel_path.rsplit("/", 1)[-1]
    return any(name.endswith(ext) or name.endswith(ext.upper()) for ext in MUSUBI_VIDEO_EXTENSIONS)


def video_architecture(family: str | None) -> str | None:
    """musubi's architecture code of a video family (None for image families and unknown ids)."""
    record = find_family(family) if family else None
    if record is None or record.trainer != "musubi" or record.architecture not in MUSUBI_TARGET_FPS:
        return None
    return record.architecture


def _int_list(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    try:
        if isinstance(value, (list, tuple)):
            return tuple(int(v) for v in value)
        return tuple(int(v) for v in str(value).replace(" ", "").split(",") if v)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be whole numbers, like 1,25,45 (got {value!r})") from None


def _number(value: Any, name: str, kind=int):
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number (got {value!r})") from None


def musubi_clip_settings(family: str | None, args: dict[str, Any]) -> ClipSettings:
    """The clip settings of a musubi video dataset from [args] (musubi's defaults where unset); the target rate is
    the family's architecture's (Wan's 16 fps when the family is not a video family)."""
    architecture = video_architecture(family) or DEFAULT_ARCHITECTURE
    source_fps = args.get("source_fps")
    return ClipSettings(
        trainer="musubi",
        target_frames=_int_list(args["target_frames"], "target_frames") if args.get("target_frames") else (1,),
        frame_extraction=str(args.get("frame_extraction") or "head"),
        frame_stride=_number(args.get("frame_stride", 1), "frame_stride"),
        frame_sample=_number(args.get("frame_sample", 1), "frame_sample"),
        max_frames=_number(args.get("max_frames", 129), "max_frames"),
        source_fps=None if source_fps in (None, "") else _number(source_fps, "source_fps", float),
        target_fps=MUSUBI_TARGET_FPS[architecture],
    ).validated()


def diffusion_pipe_clip_settings(args: dict[str, Any], fps: float = 16.0) -> ClipSettings:
    """The clip settings of a diffusion-pipe video dataset (``frame_buckets``, ``video_clip_mode``) at the model's
    frame rate `fps` (Wan 16, HunyuanVideo 24, LTX-Video 25)."""
    return ClipSettings(
        trainer="diffusion-pipe",
        frame_buckets=_int_list(args["frame_buckets"], "frame_buckets") if args.get("frame_buckets") else (1,),
        video_clip_mode=str(args.get("video_clip_mode") or "single_beginning"),
        target_fps=float(fps),
    ).validated()


def video_entry_keys(settings: ClipSettings) -> dict[str, Any]:
    """The clip keys of a video ``[[datasets]]`` entry, as musubi-tuner's ConfigSanitizer takes them (only those
    that differ from musubi's defaults, and ``target_frames`` always)."""
    keys: dict[str, Any] = {"target_frames": list(settings.target_frames),
                            "frame_extraction": settings.frame_extraction}
    if settings.frame_stride != 1:
        keys["frame_stride"] = settings.frame_stride
    if settings.frame_sample != 1:
        keys["frame_sample"] = settings.frame_sample
    if settings.max_frames != 129:
        keys["max_frames"] = settings.max_frames
    if settings.source_fps is not None:
        keys["source_fps"] = float(settings.source_fps)
    return keys
