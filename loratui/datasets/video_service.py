"""The videos of a dataset with their clip tables: what `loratui dataset show` and the TUI read.

``video_clips`` computes one video's clips; this module loads the indexed videos (``video_repo``) and puts each
readable one through it with the dataset's clip settings. The TUI's timeline takes ``clip_ranges`` of a video.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from loratui.datasets import video_repo
from loratui.datasets.service import get_dataset
from loratui.datasets.video_clips import ClipPlan, ClipSettings, VideoInfo, plan_clips
from loratui.datasets.video_repo import VideoRow
from loratui.store import Store


def video_info(row: VideoRow) -> VideoInfo | None:
    """The clip computation's view of an indexed video (None when it is broken or has no frame count)."""
    if row.status != "ok" or not row.frame_count:
        return None
    return VideoInfo(row.rel_path, row.frame_count, row.fps)


def clip_plan(row: VideoRow, settings: ClipSettings) -> ClipPlan | None:
    """The clips a trainer takes from one indexed video, or None for a broken one."""
    info = video_info(row)
    return None if info is None else plan_clips(info, settings)


def clip_tables(rows: list[VideoRow], settings: ClipSettings) -> dict[str, Any]:
    """Every video with its facts and clip table, plus totals: JSON-ready."""
    settings = settings.validated()
    videos, totals = [], {"videos": len(rows), "broken": 0, "clips": 0, "too_short": 0, "resampled": 0, "cut": 0}
    for row in rows:
        entry = row.to_dict()
        plan = clip_plan(row, settings)
        if plan is None:
            totals["broken"] += 1
            entry.update(clips=[], flags=["broken"], notes=[row.reason or "unreadable"], unused_frames=None)
        else:
            entry.update(clips=[c.to_dict() for c in plan.clips], flags=plan.flags, notes=plan.notes,
                         unused_frames=plan.unused_frames, sequence_frames=plan.sequence_frames)
            totals["clips"] += len(plan.clips)
            totals["too_short"] += "too short" in plan.flags
            totals["resampled"] += "resampled" in plan.flags
            totals["cut"] += "cut" in plan.flags
        videos.append(entry)
    return {"settings": asdict(settings), "totals": totals, "videos": videos}


async def dataset_clip_tables(store: Store, name: str, settings: ClipSettings) -> dict[str, Any]:
    """`clip_tables` of the videos of the dataset `name`."""
    dataset = await get_dataset(store, name)
    rows = await store.read(video_repo.video_rows, dataset.id)
    return clip_tables(rows, settings)


async def clip_ranges_for(store: Store, image_id: int, settings: ClipSettings) -> list[tuple[int, int]]:
    """The clips a trainer takes from one indexed video as ``(first, end)`` frames of the file (end exclusive),
    for a timeline; empty for a broken video or an image."""
    row = await store.read(video_repo.video_row, image_id)
    plan = None if row is None else clip_plan(row, settings)
    return [] if plan is None else [(clip.source_start, clip.source_end) for clip in plan.clips]


async def dataset_clip_ranges(store: Store, dataset_id: int,
                              settings: ClipSettings | None = None) -> dict[str, list[tuple[int, int]]]:
    """Per video path, the clips a trainer takes as ``(first frame, length)``, for the video view's timeline
    (musubi-tuner's defaults unless `settings` are given)."""
    settings = (settings or ClipSettings()).validated()
    rows = await store.read(video_repo.video_rows, dataset_id)
    ranges: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        plan = clip_plan(row, settings)
        if plan is not None:
            ranges[row.rel_path] = [(c.source_start, c.source_end - c.source_start) for c in plan.clips]
    return ranges
