"""Frame access for video files (PyAV): facts about a video, frame N exactly, frames in order at some fps.

A frame's number is its position in presentation order, counted from the stream's first timestamp at the
stream's average frame rate (``round((pts - start) * time_base * fps)``). ``frame(n)`` seeks to the keyframe at
or before n and decodes forward to it; a request a little ahead of the last decoded frame (playback, stepping)
goes on decoding without seeking. Recent frames are kept in a small LRU keyed by (n, size), so stepping back
and forth is instant.

Files are opened with ``fsutil.open_regular`` (inside the dataset folder, never a FIFO or a device) and handed
to FFmpeg as a file object. Whatever FFmpeg cannot read (not a video, no video stream, damaged or truncated
data) becomes a ``VideoError`` naming the file and the frame; nothing here raises anything else for a bad file.

A ``VideoReader`` is not thread-safe: one thread uses it at a time (the TUI keeps one per view, on its worker).
Decoding is CPU work: never call it on the UI thread.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from loratui.errors import InputError
from loratui.fsutil import FileRefused, open_regular

CACHE_FRAMES = 24
"""Decoded frames kept per reader (at preview size these are a few KB each)."""
FORWARD_DECODE = 90
"""Up to this many frames ahead of the last decoded one, decoding on beats seeking (a typical GOP is 12-250)."""


class VideoError(InputError):
    """A video that cannot be opened or decoded (not a video, damaged, truncated)."""

    title = "Unreadable video"


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds: its first video stream's size, frame rate, frame count and codec."""

    width: int
    height: int
    fps: float
    frames: int
    codec: str

    @property
    def duration_s(self) -> float:
        """Length in seconds (frames / fps)."""
        return self.frames / self.fps if self.fps > 0 else 0.0

    def to_dict(self) -> dict:
        """The facts as plain values (for --json)."""
        return {"width": self.width, "height": self.height, "fps": round(self.fps, 3), "frames": self.frames,
                "duration_s": round(self.duration_s, 3), "codec": self.codec}


def load_av():
    """The av module (PyAV), or VideoError when it is not installed."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency
        raise VideoError("video support needs PyAV", hint="pip install av") from None
    return av


def error_reason(exc: BaseException) -> str:
    """FFmpeg's or the OS's reason for a failure, without a trailing full stop."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.strip().rstrip(".")


class VideoReader:
    """One open video: `info`, `frame(n)`, `frames(...)`. Use as a context manager or call `close()`."""

    def __init__(self, path: str | os.PathLike, *, root: str | os.PathLike | None = None,
                 cache_frames: int = CACHE_FRAMES) -> None:
        av = load_av()
        self.path = Path(path)
        self.name = self.path.name
        try:
            self._handle, _st = open_regular(path, root=root, follow_links_inside=root is not None)
        except FileRefused as exc:
            raise VideoError(f"{self.name}: {exc}") from None
        except OSError as exc:
            raise VideoError(f"{self.name}: cannot open: {error_reason(exc)}") from None
        try:
            self._container = av.open(self._handle, mode="r")
        except (av.FFmpegError, ValueError, OSError, UnicodeDecodeError) as exc:
            self._handle.close()
            raise VideoError(f"{self.name} is not a readable video: {error_reason(exc)}",
                             hint="the file may be damaged or truncated; re-download or re-encode it") from None
        try:
            self._stream = self._container.streams.video[0]
        except IndexError:
            self.close()
            raise VideoError(f"{self.name} has no video stream") from None
        self._stream.thread_type = "AUTO"
        self.info = self._probe()
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._cache_frames = cache_frames
        self._decoded: Iterator | None = None
        self._last = -1
        """Number of the last frame `_decoded` yielded (-1: none, or the decoder was reset)."""

    # --- facts ---------------------------------------------------------------------------------------------

    def _probe(self) -> VideoInfo:
        stream = self._stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if fps <= 0 or not math.isfinite(fps):
            self.close()
            raise VideoError(f"{self.name}: the video stream has no frame rate")
        self._fps = Fraction(rate).limit_denominator(100_000)
        self._time_base = stream.time_base or Fraction(1, 1)
        self._start = stream.start_time or 0
        frames = stream.frames or self._count_packets()
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            self.close()
            raise VideoError(f"{self.name}: the video stream has no picture size")
        if frames <= 0:
            self.close()
            raise VideoError(f"{self.name} holds no frames", hint="the file may be truncated")
        return VideoInfo(ctx.width, ctx.height, fps, frames, ctx.name)

    def _count_packets(self) -> int:
        """Frames by demuxing (no decoding): for containers that do not record a count (WebM, MKV)."""
        av = load_av()
        count = 0
        try:
            for packet in self._container.demux(self._stream):
                if packet.size:
                    count += 1
            self._container.seek(0, stream=self._stream)
        except av.FFmpegError:
            pass  # what was read so far is what there is
        return count

    # --- decoding --------------------------------------------------------------------------------------------

    def index_of(self, frame) -> int:
        """The frame number of a decoded frame (from its presentation timestamp)."""
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:
            return self._last + 1
        return round(float((pts - self._start) * self._time_base * self._fps))

    def _decode_from(self, target: int) -> None:
        """Reset the decoder to the keyframe at or before frame `target`."""
        av = load_av()
        seconds = Fraction(max(target, 0)) / self._fps
        offset = int(seconds / self._time_base) + self._start
        try:
            self._container.seek(offset, stream=self._stream, backward=True, any_frame=False)
        except av.FFmpegError as exc:
            raise VideoError(f"{self.name}: cannot seek to frame {target}: {error_reason(exc)}") from None
        self._decoded = self._container.decode(self._stream)
        self._last = -1

    def _next(self):
        av = load_av()
        try:
            frame = next(self._decoded)
        except StopIteration:
            return None
        except (av.FFmpegError, ValueError) as exc:
            self._decoded = None
            raise VideoError(f"{self.name}: damaged data after frame {max(self._last, 0)}: {error_reason(exc)}",
                             hint="the file may be truncated; re-encode it or cut the damaged part off") from None
        self._last = self.index_of(frame)
        return frame

    def _raw(self, n: int):
        """The decoded frame number `n` (an av.VideoFrame)."""
        if not 0 <= n < self.info.frames:
            raise VideoError(f"{self.name}: no frame {n} (it has {self.info.frames})")
        if self._decoded is None or not (self._last < n <= self._last + FORWARD_DECODE):
            self._decode_from(n)
        previous = None
        while True:
            frame = self._next()
            if frame is None:
                if previous is not None and n == self.info.frames - 1:
                    return previous  # a count one more than the timestamps say: the last frame is the last
                self._decoded = None
                raise VideoError(f"{self.name}: frame {n} could not be decoded (the file ends early)",
                                 hint="the file may be truncated")
            if self._last == n:
                return frame
            if self._last > n:
                # Timestamps that skip this number (variable frame rate): the frame shown at that time.
                return previous if previous is not None else frame
            previous = frame

    def frame(self, n: int, size: tuple[int, int] | None = None) -> np.ndarray:
        """Frame `n` as an RGB uint8 array (height x width x 3), scaled to `size` (width, height) when given."""
        key = (n, size)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        array = self._to_rgb(self._raw(n), size)
        self._cache[key] = array
        if len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)
        return array

    def _to_rgb(self, frame, size: tuple[int, int] | None) -> np.ndarray:
        av = load_av()
        try:
            if size is None:
                return frame.to_ndarray(format="rgb24")
            return frame.to_ndarray(format="rgb24", width=max(1, size[0]), height=max(1, size[1]))
        except (av.FFmpegError, ValueError) as exc:
            raise VideoError(f"{self.name}: cannot convert frame {self._last}: {error_reason(exc)}") from None

    def frames(self, start: int = 0, stop: int | None = None, *, size: tuple[int, int] | None = None
               ) -> Iterator[tuple[int, np.ndarray]]:
        """(number, RGB array) for every frame from `start` up to `stop` (exclusive; None: the end), in order,
        decoding once from the keyframe before `start`."""
        stop = self.info.frames if stop is None else min(stop, self.info.frames)
        if start >= stop:
            return
        self._decode_from(start)
        wanted = start
        previous = None
        while wanted < stop:
            frame = self._next()
            if frame is None:
                if previous is not None and wanted == self.info.frames - 1:
                    yield wanted, self._to_rgb(previous, size)
                    return
                raise VideoError(f"{self.name}: frame {wanted} could not be decoded (the file ends early)",
                                 hint="the file may be truncated")
            while wanted <= self._last and wanted < stop:
                # A frame whose timestamp jumps ahead stands for the numbers it skipped (variable frame rate).
                yield wanted, self._to_rgb(frame, size)
                wanted += 1
            previous = frame

    def frames_at(self, fps: float, start: int = 0, stop: int | None = None, *,
                  size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
        """The RGB frames of [start, stop) as a video at `fps` would show them (a clip's or a trainer's frame
        rate): source frames dropped or repeated (``sample_indices``), decoded once in order."""
        stop = self.info.frames if stop is None else min(stop, self.info.frames)
        wanted = sample_indices(start, stop, self.info.fps, fps)
        position = 0
        for n, rgb in self.frames(start, stop, size=size):
            while position < len(wanted) and wanted[position] == n:
                yield rgb
                position += 1
            if position >= len(wanted):
                return

    def close(self) -> None:
        """Release FFmpeg's resources and the file."""
        container = getattr(self, "_container", None)
        if container is not None:
            try:
                container.close()
            except Exception:
                pass
            self._container = None
        handle = getattr(self, "_handle", None)
        if handle is not None:
            handle.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sample_count(frames: int, source_fps: float, fps: float) -> int:
    """How many frames `frames` source frames make at `fps` (the duration kept)."""
    return frames if abs(fps - source_fps) < 1e-6 else max(1, round(frames * fps / source_fps))


def sample_indices(start: int, stop: int, source_fps: float, fps: float) -> list[int]:
    """The source frame shown as each frame of [start, stop) played at `fps`: the one on screen at that moment
    (sample and hold: frames dropped when slowing down the rate, repeated when raising it)."""
    if abs(fps - source_fps) < 1e-6:
        return list(range(start, stop))
    step = source_fps / fps
    count = sample_count(stop - start, source_fps, fps)
    return [min(stop - 1, start + math.floor(i * step + 1e-9)) for i in range(count)]


def probe(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> VideoInfo:
    """The facts of a video (opens and closes it)."""
    with VideoReader(path, root=root) as reader:
        return reader.info


def time_text(frame: int, fps: float) -> str:
    """'m:ss.mmm' of a frame number at `fps`."""
    seconds = frame / fps if fps > 0 else 0.0
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:06.3f}"
