"""Video edits of a dataset's files: cut into clips (at scene changes or fixed lengths), trim, resample, resize.

An edit is planned first (``plan_*``: reads the video, decides every output's name, source frames, fps and size,
writes nothing; the dry run and the TUI's dialog show the plan) and applied second (``apply_edit``), under the
dataset's writer lock:

1. every new video is encoded into the dataset's trash (``.loratui-trash/video/<edit>/new/``, a hidden folder
   the scanner skips), each written atomically (``video_encode``); a failure here leaves the dataset untouched;
2. one journal operation records every change as ``pending``: the new videos' moves from the trash into the
   dataset, the original video's (and its caption's) move into the trash (``.../original/``), and a caption file
   for each new video, a byte-for-byte copy of the original's caption;
3. the moves are made (renames: the original keeps every byte), the captions written atomically, the operation
   marked applied.

Undo, redo and crash recovery are the journal's own (``history``): undo moves the new videos back into the
trash, removes their captions and moves the original and its caption back where they were. Nothing is deleted:
the trash keeps the original (and, after an undo, the new videos) until the user empties it. New videos are MP4
files named after the original (``a_001.mp4``, ``a_trim.mp4``, ``a_16fps.mp4``, ``a_512x288.mp4``) next to it,
never replacing a file; the original's name is freed, never reused, so undo cannot collide.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from loratui.datasets import journal_repo, video_edit_repo, writelock
from loratui.datasets.caption_state import FILE, Basis, read_snapshot
from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.filekinds import is_video_name
from loratui.datasets.journal import CaptionWrite, ensure_no_interrupted, refresh_index, rename_file, write_journaled
from loratui.datasets.video_encode import even_size, write_video
from loratui.datasets.video_frames import VideoInfo, VideoReader, sample_count
from loratui.datasets.video_scenes import DEFAULT_MIN_FRAMES, DEFAULT_THRESHOLD, detect_scenes
from loratui.datasets.walk import SKIPPED_DIRS
from loratui.errors import ConflictError, InputError, NotFoundError
from loratui.fsutil import is_within
from loratui.store import Store

TRASH_DIR = ".loratui-trash"
VIDEO_TRASH = f"{TRASH_DIR}/video"
OUTPUT_EXT = ".mp4"
KINDS = ("cut", "trim", "resample", "resize")
MAX_OUTPUTS = 500

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class OutputPlan:
    """One video an edit writes: its path (relative to the dataset), the source frames [start, stop) it is made
    from, its frame count, fps and size, and its caption file (None: the original has no caption)."""

    rel_path: str
    start: int
    stop: int
    frames: int
    fps: float
    width: int
    height: int
    caption_rel: str | None

    def to_dict(self, source_fps: float) -> dict:
        """The output as plain values (for --json and the dialog)."""
        return {"path": self.rel_path, "caption": self.caption_rel, "source_start": self.start,
                "source_stop": self.stop, "frames": self.frames, "fps": round(self.fps, 3),
                "width": self.width, "height": self.height, "duration_s": round(self.frames / self.fps, 3),
                "start_s": round(self.start / source_fps, 3)}


@dataclass
class EditPlan:
    """What an edit will do to one video. Apply it with ``apply_edit``."""

    kind: str
    source_rel: str
    info: VideoInfo
    outputs: list[OutputPlan]
    params: dict
    caption_rel: str | None
    """The original's caption file (None: it has none)."""
    source_size: int
    source_mtime_ns: int

    @property
    def description(self) -> str:
        """One line for the history: what was done to which file."""
        what = {"cut": f"cut into {len(self.outputs)} clips", "trim": "trimmed",
                "resample": f"resampled to {self.outputs[0].fps:g} fps",
                "resize": f"resized to {self.outputs[0].width}x{self.outputs[0].height}"}[self.kind]
        return f"video {self.source_rel} {what}"

    def to_dict(self) -> dict:
        """The plan as plain values (for --json)."""
        return {"kind": self.kind, "source": self.source_rel, "source_info": self.info.to_dict(),
                "caption": self.caption_rel, "params": self.params,
                "outputs": [o.to_dict(self.info.fps) for o in self.outputs],
                "original_to": f"{VIDEO_TRASH}/<edit>/original/{self.source_rel}"}


@dataclass
class EditResult:
    """What an applied edit did."""

    operation_id: int
    description: str
    outputs: list[str] = field(default_factory=list)
    trashed: list[str] = field(default_factory=list)
    """Where the original (and its caption) went, relative to the dataset."""

    def to_dict(self) -> dict:
        """The result as plain values (for --json)."""
        return {"operation_id": self.operation_id, "description": self.description, "outputs": self.outputs,
                "trashed": self.trashed}


# --- planning (file reads only: call from a worker thread) ----------------------------------------------------


def source_path(dataset: Dataset, item: str) -> str:
    """`item` (a path relative to the dataset, or absolute inside it) as a clean relative path of a video."""
    path = Path(item)
    full = path if path.is_absolute() else dataset.path / path
    if not is_within(dataset.path, full):
        raise InputError(f"{item} is not inside dataset {dataset.name!r}")
    rel = os.path.relpath(os.path.normpath(full), dataset.path).replace(os.sep, "/")
    if rel.split("/")[0] == TRASH_DIR:
        raise InputError(f"{item} is in the dataset's trash", hint="undo the edit that put it there instead")
    if not is_video_name(rel):
        raise InputError(f"{item} is not a video (by its extension)")
    if not os.path.lexists(dataset.path / rel):
        raise NotFoundError(f"{item} is not in dataset {dataset.name!r}")
    return rel


def list_videos(root: Path) -> list[str]:
    """Video files in a dataset folder (relative paths, sorted), skipping hidden folders (the trash) and
    ``_duplicates``; links are not followed (file listing: a worker thread)."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        rel = os.path.relpath(folder, root)
        for name in names:
            if is_video_name(name) and not name.startswith(".") and os.path.isfile(os.path.join(folder, name)) \
                    and not os.path.islink(os.path.join(folder, name)):
                found.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    return sorted(found)


def frames_of(text: str, fps: float, what: str = "position") -> int:
    """'48' (frames) or '2s' / '1.5s' (seconds, rounded to a frame at `fps`) as a frame count; InputError else."""
    value = text.strip().lower()
    try:
        number = round(float(value[:-1]) * fps) if value.endswith("s") else int(value)
    except ValueError:
        raise InputError(f"{what} {text!r}: give frames (48) or seconds (2s)") from None
    if number < 0:
        raise InputError(f"{what} {text!r} is negative")
    return number


def _caption_rel(dataset: Dataset, rel: str) -> str:
    return os.path.splitext(rel)[0] + dataset.caption_ext


def _taken(dataset: Dataset, rel: str, taken: set[str]) -> bool:
    return (rel in taken or os.path.lexists(dataset.path / rel)
            or os.path.lexists(dataset.path / _caption_rel(dataset, rel)))


def free_name(dataset: Dataset, stem_rel: str, taken: set[str]) -> str:
    """`stem_rel` + .mp4, or with -2, -3 ... when that name (or its caption) is taken; adds it to `taken`."""
    candidate, n = stem_rel + OUTPUT_EXT, 2
    while _taken(dataset, candidate, taken):
        candidate = f"{stem_rel}-{n}{OUTPUT_EXT}"
        n += 1
    taken.add(candidate)
    return candidate


def _open(dataset: Dataset, rel: str) -> tuple[VideoReader, os.stat_result]:
    st = os.lstat(dataset.path / rel)
    return VideoReader(dataset.path / rel, root=dataset.path), st


def _plan(dataset: Dataset, rel: str, reader: VideoReader, st: os.stat_result, kind: str, params: dict,
          ranges: list[tuple[int, int, str]], fps: float, size: tuple[int, int]) -> EditPlan:
    info = reader.info
    if len(ranges) > MAX_OUTPUTS:
        raise InputError(f"{rel}: this would write {len(ranges)} videos (at most {MAX_OUTPUTS})",
                         hint="cut into longer clips")
    caption = _caption_rel(dataset, rel)
    has_caption = os.path.lexists(dataset.path / caption)
    taken: set[str] = set()
    outputs = []
    for start, stop, stem in ranges:
        frames = sample_count(stop - start, info.fps, fps)
        out = free_name(dataset, stem, taken)
        outputs.append(OutputPlan(out, start, stop, frames, fps, size[0], size[1],
                                  _caption_rel(dataset, out) if has_caption else None))
    return EditPlan(kind, rel, info, outputs, params, caption if has_caption else None, st.st_size, st.st_mtime_ns)


def _stem(rel: str) -> str:
    return os.path.splitext(rel)[0]


def plan_cut(dataset: Dataset, item: str, *, length: int | None = None, scenes: bool = False,
             threshold: float = DEFAULT_THRESHOLD, min_frames: int = DEFAULT_MIN_FRAMES) -> EditPlan:
    """Cut a video into clips of `length` frames (the last one may be shorter) or at scene changes."""
    rel = source_path(dataset, item)
    if scenes == (length is not None):
        raise InputError("cut at scene changes or at a fixed length: say one of them")
    if length is not None and length < 1:
        raise InputError("the clip length must be at least one frame")
    if not 0 < threshold <= 1:
        raise InputError("the scene threshold must be between 0 and 1")
    reader, st = _open(dataset, rel)
    with reader:
        info = reader.info
        if scenes:
            bounds = [(s.start, s.start + s.length) for s in detect_scenes(reader, threshold=threshold,
                                                                          min_frames=min_frames)]
            params = {"scenes": True, "threshold": threshold, "min_frames": min_frames}
        else:
            bounds = [(s, min(s + length, info.frames)) for s in range(0, info.frames, length)]
            params = {"length": length}
        ranges = [(a, b, f"{_stem(rel)}_{i:03d}") for i, (a, b) in enumerate(bounds, start=1)]
        return _plan(dataset, rel, reader, st, "cut", params, ranges, info.fps, even_size(info.width, info.height))


def plan_trim(dataset: Dataset, item: str, *, start: int = 0, end: int | None = None) -> EditPlan:
    """Keep frames [start, end) of a video (end None: to the last frame)."""
    rel = source_path(dataset, item)
    reader, st = _open(dataset, rel)
    with reader:
        info = reader.info
        end = info.frames if end is None else end
        if not 0 <= start < end <= info.frames:
            raise InputError(f"{rel}: cannot keep frames {start} to {end}: it has {info.frames} frames (0 to "
                             f"{info.frames - 1})")
        if start == 0 and end == info.frames:
            raise InputError(f"{rel}: the trim keeps every frame: nothing to do")
        return _plan(dataset, rel, reader, st, "trim", {"start": start, "end": end},
                     [(start, end, f"{_stem(rel)}_trim")], info.fps, even_size(info.width, info.height))


def plan_resample(dataset: Dataset, item: str, *, fps: float) -> EditPlan:
    """Change a video's frame rate to `fps` (frames dropped or repeated; the duration stays)."""
    rel = source_path(dataset, item)
    if not 0 < fps <= 240:
        raise InputError("the frame rate must be above 0 and at most 240")
    reader, st = _open(dataset, rel)
    with reader:
        info = reader.info
        if abs(fps - info.fps) < 1e-6:
            raise InputError(f"{rel} is already {info.fps:g} fps: nothing to do")
        return _plan(dataset, rel, reader, st, "resample", {"fps": fps},
                     [(0, info.frames, f"{_stem(rel)}_{fps:g}fps")], fps, even_size(info.width, info.height))


def resize_target(width: int | None, height: int | None, info: VideoInfo) -> tuple[int, int]:
    """The output size of a resize: both given, or one given and the other from the aspect ratio; even."""
    if not width and not height:
        raise InputError("say the new width, height or both")
    if (width is not None and width < 0) or (height is not None and height < 0):
        raise InputError("sizes must be positive")
    if not height:
        height = round(info.height * width / info.width)
    if not width:
        width = round(info.width * height / info.height)
    if width > 8192 or height > 8192:
        raise InputError("videos larger than 8192 pixels a side are not written")
    return even_size(width, height)


def plan_resize(dataset: Dataset, item: str, *, width: int | None = None, height: int | None = None) -> EditPlan:
    """Scale a video to `width` x `height` (one of them may be left out to keep the aspect ratio)."""
    rel = source_path(dataset, item)
    reader, st = _open(dataset, rel)
    with reader:
        info = reader.info
        size = resize_target(width, height, info)
        if size == (info.width, info.height):
            raise InputError(f"{rel} is already {size[0]}x{size[1]}: nothing to do")
        return _plan(dataset, rel, reader, st, "resize", {"width": size[0], "height": size[1]},
                     [(0, info.frames, f"{_stem(rel)}_{size[0]}x{size[1]}")], info.fps, size)


def plan_edit(dataset: Dataset, kind: str, item: str, **params) -> EditPlan:
    """The plan of edit `kind` ('cut', 'trim', 'resample', 'resize') with its parameters."""
    planners = {"cut": plan_cut, "trim": plan_trim, "resample": plan_resample, "resize": plan_resize}
    if kind not in planners:
        raise InputError(f"unknown video edit {kind!r}", hint=f"one of {', '.join(KINDS)}")
    return planners[kind](dataset, item, **params)


# --- applying --------------------------------------------------------------------------------------------------


def _edit_folder(plan: EditPlan) -> str:
    name = os.path.basename(_stem(plan.source_rel))[:40]
    return f"{VIDEO_TRASH}/{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}-{name}"


def _counted(frames: Iterator, done: list[int], total: int, progress: ProgressFn | None) -> Iterator:
    for frame in frames:
        yield frame
        done[0] += 1
        if progress is not None:
            progress(done[0], total)


def check_trash(dataset: Dataset) -> None:
    """Refuse a trash that is a link or a file (it would lead edits, and cleaning, outside the dataset)."""
    for rel in (TRASH_DIR, VIDEO_TRASH):
        path = dataset.path / rel
        if os.path.islink(path) or (os.path.lexists(path) and not path.is_dir()):
            raise InputError(f"{rel} in dataset {dataset.name!r} is a link or a file, not loratui's trash folder",
                             hint="move it away; loratui keeps edited videos' originals there")


def _encode_all(dataset: Dataset, plan: EditPlan, folder: str, progress: ProgressFn | None = None
                ) -> tuple[list[tuple[str, str]], bytes | None, str | None]:
    """Check the source is still what was planned, encode every output into the trash's staging folder; returns
    the (staging, final) moves of the outputs and the original caption's bytes and text (file work: a thread;
    `progress(frames written, frames in all)` is called from it)."""
    check_trash(dataset)
    st = os.lstat(dataset.path / plan.source_rel)
    if (st.st_size, st.st_mtime_ns) != (plan.source_size, plan.source_mtime_ns):
        raise ConflictError(f"{plan.source_rel} changed since the edit was planned", hint="plan it again")
    for output in plan.outputs:
        if _taken(dataset, output.rel_path, set()):
            raise ConflictError(f"{output.rel_path} exists now", hint="plan the edit again")
    caption_bytes = caption_text = None
    if plan.caption_rel is not None:
        snapshot = read_snapshot(str(dataset.path / plan.caption_rel))
        refusal = snapshot.refusal()
        if refusal is not None:
            raise InputError(f"{plan.caption_rel}: {refusal}")
        if snapshot.state == FILE:
            caption_bytes, caption_text = snapshot.data, snapshot.text
    moves = []
    done, total = [0], sum(o.frames for o in plan.outputs)
    with VideoReader(dataset.path / plan.source_rel, root=dataset.path) as reader:
        for output in plan.outputs:
            staged = f"{folder}/new/{output.rel_path}"
            (dataset.path / staged).parent.mkdir(parents=True, exist_ok=True)
            frames = reader.frames_at(output.fps, output.start, output.stop, size=(output.width, output.height))
            write_video(dataset.path / staged, _counted(frames, done, total, progress), fps=output.fps,
                        size=(output.width, output.height))
            moves.append((staged, output.rel_path))
    return moves, caption_bytes, caption_text


def _move_all(root: Path, rows) -> tuple[list[tuple[str, str | None, int]], list[tuple[str, str]]]:
    """Rename each move in order, stopping at the first failure (file work: a thread)."""
    updates, failures = [], []
    for row in rows:
        if failures:
            updates.append(("failed", "not attempted: an earlier move failed", row["id"]))
            continue
        try:
            rename_file(root, row["path_before"], row["path_after"])
        except OSError as exc:
            failures.append((row["path_before"], f"cannot move: {exc.strerror or exc}"))
            updates.append(("failed", failures[-1][1], row["id"]))
            continue
        updates.append(("done", None, row["id"]))
    return updates, failures


def _move_back(root: Path, rows, updates) -> None:
    """Undo the moves that were made, newest first (after a failed move: the dataset is left as it was)."""
    done = {change_id for state, _, change_id in updates if state == "done"}
    for row in reversed(rows):
        if row["id"] in done:
            rename_file(root, row["path_after"], row["path_before"])


async def apply_edit(store: Store, dataset: Dataset, plan: EditPlan, *,
                     progress: ProgressFn | None = None) -> EditResult:
    """Apply a planned edit (see the module doc), journaled and undoable, under the dataset's writer lock;
    `progress(frames written, frames in all)` follows the encoding (called from a worker thread)."""
    async with writelock.writer(store, dataset, f"video {plan.kind}"):
        await ensure_no_interrupted(store, dataset)
        folder = _edit_folder(plan)
        try:
            output_moves, caption_bytes, caption_text = await asyncio.to_thread(
                _encode_all, dataset, plan, folder, progress)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, dataset.path / folder, True)
            raise
        trash_moves = [(plan.source_rel, f"{folder}/original/{plan.source_rel}")]
        if plan.caption_rel is not None and os.path.lexists(dataset.path / plan.caption_rel):
            trash_moves.append((plan.caption_rel, f"{folder}/original/{plan.caption_rel}"))
        captions = ([(o.caption_rel, caption_text) for o in plan.outputs if o.caption_rel is not None]
                    if caption_bytes is not None else [])
        params = {**plan.params, "source": plan.source_rel, "folder": folder,
                  "outputs": [o.rel_path for o in plan.outputs]}
        op_id, move_rows, caption_ids = await store.run(
            video_edit_repo.start_video_operation, dataset.id, f"video-{plan.kind}", params, plan.description,
            output_moves + trash_moves, captions)
        updates, failures = await asyncio.to_thread(_move_all, dataset.path, move_rows)
        if failures:
            await asyncio.to_thread(_move_back, dataset.path, move_rows, updates)
            await asyncio.to_thread(shutil.rmtree, dataset.path / folder, True)  # only the unused new files
            await store.run(journal_repo.mark_changes, [("failed", reason or "rolled back: a move failed", cid)
                                                        for _state, reason, cid in updates]
                            + [("failed", "not attempted: a move failed", cid) for cid in caption_ids])
            await store.run(journal_repo.finish_operation, dataset.id, op_id, "failed")
            path, reason = failures[0]
            raise InputError(f"{path}: {reason}; the dataset was left as it was")
        await store.run(journal_repo.mark_changes, updates)
        writes = [CaptionWrite(cid, None, rel, None, text, rel, basis=Basis.absent(), new_bytes=caption_bytes,
                               capture=True) for cid, (rel, text) in zip(caption_ids, captions)]
        if writes:
            await write_journaled(store, dataset, writes, done_state="done", mtime_column="mtime_ns_after",
                                  failed_state="failed")
        await store.run(journal_repo.finish_operation, dataset.id, op_id, "applied")
        await refresh_index(store, dataset)
    return EditResult(op_id, plan.description, [o.rel_path for o in plan.outputs], [dst for _src, dst in trash_moves])


# --- the trash --------------------------------------------------------------------------------------------------


@dataclass
class TrashEntry:
    """One edit's folder in the trash: its size and whether an undo or redo still needs it."""

    folder: str
    size: int
    operation_id: int | None
    needed_for: str | None
    """'undo' (the edit is applied: its original is here), 'redo' (undone: its new files are here), 'running'
    (pending), or None: no undo or redo can use it (failed, rolled back, redo chain ended, or never journaled)."""

    def to_dict(self) -> dict:
        """The entry as plain values (for --json)."""
        return {"folder": self.folder, "size": self.size, "operation_id": self.operation_id,
                "needed_for": self.needed_for}


def _folder_size(path: Path) -> int:
    total = 0
    for folder, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def _needed_for(op: dict | None) -> str | None:
    if op is None:
        return None
    if op["state"] == "applied":
        return "undo"
    if op["state"] == "undone" and not op["discarded"]:
        return "redo"
    if op["state"] == "pending":
        return "running"
    return None


async def trash_entries(store: Store, dataset: Dataset) -> list[TrashEntry]:
    """The video edits' folders in the dataset's trash, in the order of their edits (folders of no edit last)."""
    ops = {op["folder"]: op for op in await store.run(video_edit_repo.video_operations, dataset.id) if op["folder"]}

    def scan() -> list[TrashEntry]:
        check_trash(dataset)
        root = dataset.path / VIDEO_TRASH
        names = sorted(e.name for e in os.scandir(root) if e.is_dir(follow_symlinks=False)) if root.is_dir() else []
        entries = []
        for name in names:
            folder = f"{VIDEO_TRASH}/{name}"
            op = ops.get(folder)
            entries.append(TrashEntry(folder, _folder_size(root / name), op["id"] if op else None, _needed_for(op)))
        return sorted(entries, key=lambda e: (e.operation_id is None, e.operation_id or 0, e.folder))

    return await asyncio.to_thread(scan)


async def clean_trash(store: Store, dataset: Dataset) -> list[TrashEntry]:
    """Delete the trash folders no undo or redo needs (under the dataset's writer lock); returns them."""
    async with writelock.writer(store, dataset, "video trash clean"):
        removable = [e for e in await trash_entries(store, dataset) if e.needed_for is None]
        for entry in removable:
            await asyncio.to_thread(shutil.rmtree, dataset.path / entry.folder)
    return removable
