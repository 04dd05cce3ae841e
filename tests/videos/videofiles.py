"""Small real video files for tests, written with PyAV (32x32 by default, a few frames: milliseconds each).

Each frame is a flat grey whose level is the frame's index times 8 (mod 256), so a decoded frame says which frame
it is; ``pattern`` gives every video its own picture for the duplicate tests.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def frame_array(index: int, width: int, height: int, pattern: int = 0) -> np.ndarray:
    """The picture of frame `index`: a grey level, with a block pattern that `pattern` chooses."""
    array = np.full((height, width, 3), (index * 8) % 256, np.uint8)
    rng = np.random.default_rng(pattern)
    if pattern:
        blocks = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        array = np.kron(blocks, np.ones((height // 4, width // 4, 1), np.uint8))[:height, :width]
    return array


def make_video(path: Path, frames: int = 10, fps: Fraction | int = 24, size: tuple[int, int] = (32, 32), *,
               codec: str = "libx264", rotation: int | None = None, audio: bool = False, pattern: int = 0) -> Path:
    """Write a video of `frames` frames at `fps` (codec libx264 for .mp4/.mov/.mkv, libvpx-vp9 for .webm)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".webm":
        codec = "libvpx-vp9"
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        sound = None
        if audio:
            sound = container.add_stream("aac", rate=8000)
            sound.layout = "mono"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_array(index, width, height, pattern), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), format="fltp", layout="mono")
            samples.sample_rate = 8000
            for packet in sound.encode(samples):
                container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path


def make_audio_only(path: Path) -> Path:
    """An .mp4 (by name) holding one AAC audio stream and no video."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as container:
        sound = container.add_stream("aac", rate=8000)
        sound.layout = "mono"
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), format="fltp", layout="mono")
        samples.sample_rate = 8000
        for packet in sound.encode(samples):
            container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to `keep` of its bytes (a download that stopped)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
