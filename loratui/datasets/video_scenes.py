"""Scene changes in a video: where consecutive frames stop looking alike, from small decoded frames.

Every frame is decoded at `SAMPLE_SIZE` (a few hundred pixels: cheap, and blind to noise and compression
grain) and reduced to a colour histogram (`BINS` levels per RGB channel, normalised). Two frames differ by half
the L1 distance of their histograms (0: same colours, 1: no colour in common) blended with their mean absolute
pixel difference (0-1), which also catches a cut between shots of similar colours. A scene starts where that
difference reaches `threshold`; scenes shorter than `min_frames` are merged into the one before, so a flash or
a fade does not make clips of one frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loratui.datasets.video_frames import VideoReader

SAMPLE_SIZE = (32, 18)
BINS = 16
DEFAULT_THRESHOLD = 0.35
DEFAULT_MIN_FRAMES = 8


@dataclass(frozen=True)
class Scene:
    """A run of frames: `start` and `length` in source frames."""

    start: int
    length: int


def frame_signature(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(normalised colour histogram, pixels as floats 0-1) of a small RGB frame."""
    levels = (rgb.astype(np.uint16) * BINS) // 256
    hist = np.concatenate([np.bincount(levels[..., c].ravel(), minlength=BINS) for c in range(3)]).astype(float)
    hist /= max(hist.sum() / 3, 1.0)
    return hist, rgb.astype(np.float32) / 255.0


def difference(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """How unlike two frame signatures are, 0 (identical) to 1."""
    hist = float(np.abs(a[0] - b[0]).sum()) / 6.0  # each of the 3 normalised histograms differs by at most 2
    pixels = float(np.abs(a[1] - b[1]).mean())
    return max(hist, pixels)


def scene_starts(differences: list[float], threshold: float, min_frames: int) -> list[int]:
    """Frame numbers where scenes start (always 0), from the difference of each frame to the one before
    (`differences[i]` compares frame i+1 with frame i)."""
    starts = [0]
    for i, diff in enumerate(differences, start=1):
        if diff >= threshold and i - starts[-1] >= min_frames:
            starts.append(i)
    return starts


def detect_scenes(reader: VideoReader, *, threshold: float = DEFAULT_THRESHOLD,
                  min_frames: int = DEFAULT_MIN_FRAMES) -> list[Scene]:
    """The scenes of a whole video (decodes every frame once, small)."""
    differences: list[float] = []
    previous = None
    for _n, rgb in reader.frames(size=SAMPLE_SIZE):
        signature = frame_signature(rgb)
        if previous is not None:
            differences.append(difference(previous, signature))
        previous = signature
    total = reader.info.frames
    starts = scene_starts(differences, threshold, max(1, min_frames))
    scenes = [Scene(start, end - start) for start, end in zip(starts, starts[1:] + [total])]
    if len(scenes) > 1 and scenes[-1].length < min_frames:
        tail = scenes.pop()
        scenes[-1] = Scene(scenes[-1].start, scenes[-1].length + tail.length)
    return scenes
