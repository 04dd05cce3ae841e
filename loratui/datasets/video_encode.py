"""Write a video file from decoded frames (PyAV), atomically: a temp file in the target folder, fsync, rename.

Output is MP4 with H.264 (libx264, CRF 16: visually lossless for training data) when the PyAV wheel carries
libx264, else MPEG-4 Part 2 at high quality; yuv420p, so width and height are rounded down to even numbers.
Audio is not carried: training clips do not use it. A failure (a full disk, an encoder error) removes the temp
file and raises ``VideoError``; an interrupted process leaves at most a ``.*.tmp`` file, never a partial video
under the final name.
"""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from loratui.datasets.video_frames import VideoError, error_reason, load_av
from loratui.fsutil import fsync_dir

CRF = "16"


def output_codec() -> str:
    """The encoder used for new videos: 'libx264' when available, else 'mpeg4'."""
    available = load_av().codecs_available
    return "libx264" if "libx264" in available else "mpeg4"


def even_size(width: int, height: int) -> tuple[int, int]:
    """`width` x `height` rounded down to even numbers (at least 2), as yuv420p needs."""
    return max(2, width - width % 2), max(2, height - height % 2)


def fps_fraction(fps: float) -> Fraction:
    """A frame rate as an exact fraction (29.97 -> 30000/1001)."""
    if abs(fps - round(fps)) < 1e-6:
        return Fraction(round(fps))
    ntsc = fps * 1001 / 1000
    if abs(ntsc - round(ntsc)) < 1e-3:
        return Fraction(round(ntsc) * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def write_video(path: Path, frames: Iterable[np.ndarray], *, fps: float, size: tuple[int, int]) -> int:
    """Encode RGB `frames` (each already `size`, width x height, even) to `path` atomically; returns the number of
    frames written. Raises VideoError when nothing could be encoded."""
    av = load_av()
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    count = 0
    try:
        codec = output_codec()
        container = av.open(tmp, mode="w", format="mp4")
        try:
            stream = container.add_stream(codec, rate=fps_fraction(fps))
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": CRF, "preset": "fast"}
            else:
                stream.codec_context.bit_rate = max(2_000_000, size[0] * size[1] * int(fps + 1) * 2)
            for rgb in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = count
                for packet in stream.encode(frame):
                    container.mux(packet)
                count += 1
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()
        if count == 0:
            raise VideoError(f"{path.name}: no frames to write")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (av.FFmpegError, ValueError) as exc:
        _unlink(tmp)
        raise VideoError(f"cannot encode {path.name}: {error_reason(exc)}") from None
    except BaseException:
        _unlink(tmp)
        raise
    fsync_dir(path.parent)
    return count


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
