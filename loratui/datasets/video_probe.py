"""Probe one video file: container facts, exact frame count, first-frame thumbnail, keyframe hashes.

Runs in the scan's workers (``datasets.scan``), like ``probe.probe_image``, and returns the same dict shape with
``media_kind='video'`` and a ``video`` dict (the ``video_meta`` row). The file is opened with
``fsutil.open_regular`` and handed to PyAV as an open file: nothing goes through a shell or a subprocess.

What it costs is kept low for large datasets: the container's own facts first (stream header, the MP4/MOV sample
index); the packets are demuxed (not decoded) only when the container does not state the frame count (Matroska,
WebM, AVI...) or its index points past the end of the file (a truncated download). Only the first frame and a few
keyframes are decoded: the first for the preview thumbnail (upright: the display matrix's rotation applied) and
all of them for a perceptual hash each, which ``datasets.dedupe`` compares between videos.

The frame count is what the trainers count: musubi-tuner decodes every frame with PyAV (``container.decode``),
one frame per video packet. A file the trainer could not read (no video stream, undecodable first frame,
truncated, not a container at all) gets ``status='broken'`` and a reason; the probe never raises for a bad file.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from fractions import Fraction

from loratui.datasets.thumbnails import make_thumbnail
from loratui.fsutil import FileRefused, hash_file, open_regular

KEYFRAME_POSITIONS = (0.0, 1 / 3, 2 / 3)
"""Where the hashed keyframes are taken, as fractions of the duration (the keyframe at or before each)."""

ROTATION_TO_ORIENTATION = {0: 1, 90: 8, 180: 3, 270: 6}
"""A display rotation (degrees counter-clockwise, FFmpeg's display matrix) as the EXIF orientation that shows the
picture the same way: what ``images.orientation`` holds, so a rotated video's stored width/height are displayed
ones and ``buckets.raw_size`` gives back the coded (raw) size the trainers bucket by."""


@dataclass
class VideoFacts:
    """The ``video_meta`` row of one video."""

    frame_count: int | None = None
    frame_count_source: str | None = None
    """'container' (the stream header / sample index stated it) or 'packets' (counted by demuxing)."""
    fps_num: int | None = None
    fps_den: int | None = None
    duration_s: float | None = None
    codec: str | None = None
    coded_width: int | None = None
    coded_height: int | None = None
    rotation: int = 0
    has_audio: bool = False
    keyframe_hashes: str | None = None
    """Comma-separated 16-hex-digit perceptual hashes of the keyframes at ``KEYFRAME_POSITIONS``."""

    @property
    def fps(self) -> Fraction | None:
        """The average frame rate as a fraction, or None when the container does not know it."""
        return Fraction(self.fps_num, self.fps_den) if self.fps_num and self.fps_den else None


def probe_video(rel_path: str, size: int, mtime_ns: int, *, root: str) -> dict:
    """Probe the video `rel_path` below the dataset folder `root`; a dict for ``image_repo.write_probed``."""
    result = _empty(rel_path, size, mtime_ns)
    try:
        handle, _ = open_regular(rel_path, root=root, follow_links_inside=True)
    except FileRefused as exc:
        return _broken(result, f"file {exc.reason}")
    with handle:
        if size == 0:
            return _broken(result, "empty file (0 bytes)")
        try:
            result["sha256"] = hash_file(handle, hashlib.sha256()).hexdigest()
            handle.seek(0)
            _probe_container(handle, size, result)
        except MemoryError:
            _broken(result, "video too large to decode")
        except Exception as exc:  # noqa: BLE001 - PyAV raises many error types (av.FFmpegError and friends)
            _broken(result, _reason(exc))
    return result


def _empty(rel_path: str, size: int, mtime_ns: int) -> dict:
    return {"rel_path": rel_path, "size": size, "mtime_ns": mtime_ns, "sha256": None, "phash": None, "width": None,
            "height": None, "format": None, "mode": None, "has_alpha": None, "orientation": 1, "frames": None,
            "status": "ok", "reason": None, "thumbnail": None, "thumb_width": None, "thumb_height": None,
            "media_kind": "video", "video": None}


def _broken(result: dict, reason: str) -> dict:
    result.update(status="broken", reason=reason, thumbnail=None, thumb_width=None, thumb_height=None)
    return result


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__  # strerror: without PyAV's file name
    if "Invalid data found" in text:
        return "not a video PyAV/FFmpeg can read (unrecognised or damaged container; a cut-off MP4 lacks its index)"
    return f"cannot read video: {text}"


def _probe_container(handle, size: int, result: dict) -> None:
    import av

    with av.open(handle, mode="r") as container:
        streams = container.streams
        if not streams.video:
            kinds = sorted({s.type for s in streams}) or ["nothing"]
            _broken(result, f"no video stream (the file holds {', '.join(kinds)})")
            return
        stream = streams.video[0]
        facts = VideoFacts(codec=stream.codec_context.name, coded_width=stream.codec_context.width or None,
                           coded_height=stream.codec_context.height or None, has_audio=bool(streams.audio))
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate:
            facts.fps_num, facts.fps_den = rate.numerator, rate.denominator
        result["format"] = container.format.name.split(",")[0]
        result["mode"] = facts.codec
        truncated = _count_frames(container, stream, size, facts)
        facts.duration_s = _duration(container, stream, facts)
        first, hashes = _decode_keyframes(container, stream, facts)
        if first is None:
            _broken(result, "no frame could be decoded")
            result["video"] = asdict(facts)
            return
        facts.rotation = int(getattr(first, "rotation", 0) or 0) % 360
        facts.keyframe_hashes = ",".join(hashes) or None
        image = first.to_image()
        if facts.coded_width is None:
            facts.coded_width, facts.coded_height = image.size
        upright = _upright(image, facts.rotation)
        result["width"], result["height"] = upright.size
        result["orientation"] = ROTATION_TO_ORIENTATION.get(facts.rotation, 1)
        result["frames"] = facts.frame_count
        result["phash"] = None  # videos are compared by their keyframe hashes (dedupe), not with images
        result["thumbnail"], result["thumb_width"], result["thumb_height"] = make_thumbnail(upright)
        result["video"] = asdict(facts)
        if truncated:
            _broken(result, truncated)
        elif not facts.frame_count:
            _broken(result, "no video frames")


def _count_frames(container, stream, size: int, facts: VideoFacts) -> str | None:
    """Set the exact frame count; returns a reason when the file is cut short."""
    entries = stream.index_entries
    stated = stream.frames
    if stated and len(entries) == stated:
        last = entries[len(entries) - 1]
        if last.pos + last.size <= size:
            facts.frame_count, facts.frame_count_source = stated, "container"
            return None
    count = 0
    reason = None
    try:
        for packet in container.demux(stream):
            if packet.size:
                count += 1
    except Exception as exc:  # noqa: BLE001 - a damaged packet: what came before is what the trainer gets
        reason = f"truncated or damaged after {count} frames: {exc}"
    facts.frame_count, facts.frame_count_source = count, "packets"
    if reason is None and stated and count < stated:
        reason = f"truncated: the container states {stated} frames, {count} are in the file"
    rate = stream.average_rate
    announced = _announced_duration(container, stream)
    if reason is None and count and rate and announced:
        # Matroska/WebM state their duration up front: a file cut short holds fewer frames than it announces.
        if announced - count / rate > 2 / rate + 0.05:
            reason = (f"truncated: the container announces {announced:.2f}s, its {count} frames last "
                      f"{float(count / rate):.2f}s")
    container.seek(0)
    return reason


def _announced_duration(container, stream) -> float | None:
    """The video stream's duration as the container states it before any packet is read, in seconds: Matroska's
    per-track DURATION tag, else the container's duration when the video is its only stream."""
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            pass
    if container.duration and len(container.streams) == 1:
        return container.duration / 1_000_000
    return None


def _duration(container, stream, facts: VideoFacts) -> float | None:
    if facts.frame_count and facts.fps:
        return float(facts.frame_count / facts.fps)
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _decode_keyframes(container, stream, facts: VideoFacts):
    """The first frame and the perceptual hashes of the keyframes at ``KEYFRAME_POSITIONS``."""
    import imagehash

    first = _first_frame(container, stream)
    if first is None:
        return None, []
    hashes = [str(imagehash.phash(first.to_image()))]
    duration = facts.duration_s or 0.0
    for fraction in KEYFRAME_POSITIONS[1:]:
        frame = None
        if duration > 0 and stream.time_base:
            try:
                container.seek(int(duration * fraction / stream.time_base) + (stream.start_time or 0),
                               backward=True, any_frame=False, stream=stream)
                frame = _first_frame(container, stream)
            except Exception:  # noqa: BLE001 - a file that cannot seek: hash the first frame again
                frame = None
        hashes.append(str(imagehash.phash((frame or first).to_image())))
    return first, hashes


def _first_frame(container, stream):
    for frame in container.decode(stream):
        return frame
    return None


def _upright(image, rotation: int):
    """The frame as it is displayed: FFmpeg's rotation is counter-clockwise, as PIL's ``rotate``."""
    if rotation in (90, 180, 270):
        return image.rotate(rotation, expand=True)
    return image
