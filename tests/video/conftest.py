"""Fixtures for the video tests: small real videos encoded with PyAV in tmp dirs, in a registered dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loratui.datasets.service import add_dataset
from loratui.datasets.video_encode import write_video
from loratui.store import Store

RED, BLUE = (220, 30, 30), (30, 30, 220)
SIZE = (32, 32)


def level(n: int) -> int:
    """The grey level of frame n in a `ramp` video (distinct per frame, far apart for lossy codecs)."""
    return (n * 8) % 256


def ramp_frames(count: int, size=SIZE):
    """Frames whose whole picture is grey level `level(n)`: frame N's colour says which frame it is."""
    for n in range(count):
        yield np.full((size[1], size[0], 3), level(n), np.uint8)


def scene_frames(first: int, second: int, size=SIZE):
    """`first` red frames then `second` blue ones (two scenes), a small moving square in each."""
    for n in range(first + second):
        frame = np.empty((size[1], size[0], 3), np.uint8)
        frame[:] = RED if n < first else BLUE
        frame[4:8, n % 20:n % 20 + 4] = (240, 240, 240)
        yield frame


def make_video(path: Path, frames, fps: float = 12.0, size=SIZE) -> Path:
    """Encode frames to `path` (MP4)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, fps=fps, size=size)
    return path


def grey(rgb: np.ndarray) -> float:
    """The mean level of a frame."""
    return float(rgb.mean())


@pytest.fixture
def video_dir(tmp_path) -> Path:
    """A dataset folder with `10_clips/ramp.mp4` (40 frames, 12 fps, captioned), `10_clips/scenes.mp4` (20 red +
    16 blue frames, captioned) and an image."""
    root = tmp_path / "vds"
    make_video(root / "10_clips" / "ramp.mp4", ramp_frames(40))
    (root / "10_clips" / "ramp.txt").write_bytes(b"a grey ramp, \xc3\xa9t\xc3\xa9\r\n")
    make_video(root / "10_clips" / "scenes.mp4", scene_frames(20, 16))
    (root / "10_clips" / "scenes.txt").write_text("two scenes", encoding="utf-8")
    from tests.conftest import make_image
    make_image(root / "10_clips" / "still.png")
    return root


@pytest.fixture
async def vopened(home, video_dir):
    """(store, dataset) for the video dataset, registered and scanned."""
    async with Store.open(home / "loratui.db") as store:
        dataset, _ = await add_dataset(store, video_dir, name="vds", workers=1)
        yield store, dataset
