"""Frames of a video clip for a captioner: N frames spread evenly over the clip, as upright RGB PIL images.

    frames = sample_frames(dataset.path / "clips/a.mp4", 8, max_side=768, root=dataset.path)

Frame i is the first frame shown at or after the middle of the i-th of N equal parts of the clip, so a clip of
N frames or fewer gives each of its frames once, in order. A clip up to SEEK_ABOVE_S long is decoded once, front
to back (training clips are seconds long: decoding them through is cheaper than seeking N times); a longer one is
sought to the key frame before each sample point and decoded from there (a minute of 1080p H.264 would take tens
of seconds to decode through). The file is opened by ``fsutil.open_regular`` (inside `root` when given) and
decoded by PyAV.

A clip that cannot be opened or decoded, or that ends well before its stated duration (a truncated download),
raises ``VideoUnreadable`` with the reason: the captioning job reports that item as failed and goes on.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from loratui.datasets.filekinds import is_video_name
from loratui.fsutil import open_regular

DEFAULT_FRAMES = 8
MAX_FRAMES = 64
_LATE_S = 0.5
SEEK_ABOVE_S = 20.0
"""A clip whose frames stop more than this before the last sample point is called truncated."""


class VideoUnreadable(Exception):
    """This clip gives no frames to caption (the job goes on without it)."""


def is_video(rel_path: str) -> bool:
    """True for a dataset item that is a video clip (by its extension, as the scanner names video files)."""
    return is_video_name(rel_path)


def sample_times(duration_s: float, count: int, start_s: float = 0.0) -> list[float]:
    """The middle of each of `count` equal parts of a clip `duration_s` long starting at `start_s`."""
    return [start_s + duration_s * (i + 0.5) / count for i in range(count)]


def sample_frames(path: Path | str, count: int = DEFAULT_FRAMES, *, max_side: int = 1024,
                  root: Path | str | None = None) -> list[Image.Image]:
    """`count` frames spread evenly over the clip, each shrunk to fit `max_side`; VideoUnreadable otherwise."""
    if not 1 <= count <= MAX_FRAMES:
        raise ValueError(f"frames per clip must be 1 to {MAX_FRAMES}, got {count}")
    import av

    try:
        handle, _ = open_regular(path, root=root, follow_links_inside=root is not None)
    except OSError as exc:
        raise VideoUnreadable(f"cannot open: {exc}") from None
    try:
        with handle, av.open(handle, mode="r") as container:
            if not container.streams.video:
                raise VideoUnreadable("no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            duration, start = _duration(container, stream)
            if duration is None:
                return _by_index(container, stream, count, max_side)
            times = sample_times(duration, count, start)
            if duration > SEEK_ABOVE_S:
                return _by_seeking(container, stream, times, start + duration, max_side)
            return _by_time(container, stream, times, start + duration, max_side)
    except VideoUnreadable:
        raise
    except (av.FFmpegError, OSError, ValueError, MemoryError) as exc:
        # FFmpeg's message names the handle it read ('4'), not the file: keep only the reason.
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise VideoUnreadable(f"cannot decode the video: {reason}") from None


def _duration(container, stream) -> tuple[float | None, float]:
    """(duration, start) in seconds from the stream, else the container; (None, 0) when neither says."""
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base \
        else 0.0
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base), start
    if container.duration:
        import av

        return container.duration / av.time_base, start
    return None, 0.0


def _shrunk(frame, max_side: int) -> Image.Image:
    image = frame.to_image()
    if image.mode != "RGB":
        image = image.convert("RGB")
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.LANCZOS)
    return image


def _by_time(container, stream, times: list[float], end_s: float, max_side: int) -> list[Image.Image]:
    rate = float(stream.average_rate) if stream.average_rate else 25.0
    picked: list[Image.Image] = []
    last = None
    last_time = 0.0
    index = 0
    for frame in container.decode(stream):
        when = frame.time if frame.time is not None else index / rate
        index += 1
        last, last_time = frame, when
        # A frame answers every sample point it reaches (a clip of fewer frames than samples repeats frames).
        while len(picked) < len(times) and when + 0.5 / rate >= times[len(picked)]:
            picked.append(_shrunk(frame, max_side))
        if len(picked) == len(times):
            return picked
    if last is None:
        raise VideoUnreadable("no frame could be decoded")
    if end_s - (last_time + 1 / rate) > _LATE_S:
        raise VideoUnreadable(f"frames stop at {last_time:.2f} s of a {end_s:.2f} s clip (truncated file?)")
    # The stated duration runs a little past the last frame: the last sample points take the last frame.
    tail = _shrunk(last, max_side)
    return picked + [tail] * (len(times) - len(picked))


def _by_seeking(container, stream, times: list[float], end_s: float, max_side: int) -> list[Image.Image]:
    """A long clip: for each sample point, seek to the key frame before it and decode up to it."""
    rate = float(stream.average_rate) if stream.average_rate else 25.0
    picked: list[Image.Image] = []
    for target in times:
        container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is None or frame.time + 0.5 / rate >= target:
                break
        if chosen is None:
            raise VideoUnreadable(f"no frame could be decoded near {target:.2f} s")
        if chosen.time is not None and target - chosen.time > _LATE_S + 1 / rate:
            raise VideoUnreadable(f"frames stop at {chosen.time:.2f} s of a {end_s:.2f} s clip (truncated file?)")
        picked.append(_shrunk(chosen, max_side))
    return picked


def _by_index(container, stream, count: int, max_side: int) -> list[Image.Image]:
    """A clip that states no duration: count its frames, then take them by position."""
    total = sum(1 for packet in container.demux(stream) if packet.size)
    if total == 0:
        raise VideoUnreadable("no frames")
    wanted = [min(total - 1, int(total * (i + 0.5) / count)) for i in range(count)]
    container.seek(0, stream=stream)
    picked: list[Image.Image] = []
    for index, frame in enumerate(container.decode(stream)):
        while len(picked) < count and wanted[len(picked)] == index:
            picked.append(_shrunk(frame, max_side))
        if len(picked) == count:
            return picked
    raise VideoUnreadable(f"only {len(picked)} of {count} frames could be decoded")
