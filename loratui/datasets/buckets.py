"""Aspect-ratio buckets computed exactly as kohya sd-scripts and musubi-tuner do.

``BucketRules`` mirrors sd-scripts' ``library/model_util.make_bucket_resolutions`` and
``library/train_util.BucketManager.select_bucket``; ``MusubiBucketRules`` mirrors musubi-tuner's
``dataset/bucket.BucketSelector`` (both read from the trainers' source). Both trainers read an image's size
*without* applying EXIF orientation (sd-scripts with ``imagesize``, musubi-tuner with ``PIL.Image.open``): pass
the raw stored size (see ``raw_size``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def make_bucket_resolutions(
    max_reso: tuple[int, int], min_size: int = 256, max_size: int = 1024, divisible: int = 64
) -> list[tuple[int, int]]:
    """The predefined bucket resolutions for a base resolution, sorted like sd-scripts."""
    max_width, max_height = max_reso
    max_area = max_width * max_height
    resos = set()
    width = int(math.sqrt(max_area) // divisible) * divisible
    resos.add((width, width))
    width = min_size
    while width <= max_size:
        height = min(max_size, int((max_area // width) // divisible) * divisible)
        if height >= min_size:
            resos.add((width, height))
            resos.add((height, width))
        width += divisible
    return sorted(resos)


def raw_size(width: int, height: int, orientation: int | None) -> tuple[int, int]:
    """Undo EXIF orientation on a stored (oriented) size: the size sd-scripts sees."""
    if orientation in (5, 6, 7, 8):
        return height, width
    return width, height


@dataclass
class BucketRules:
    """sd-scripts' bucket options (``resolution``, ``enable_bucket``, ``min/max_bucket_reso``, ...)."""

    resolution: tuple[int, int] = (1024, 1024)
    enable_bucket: bool = True
    min_bucket_reso: int = 256
    max_bucket_reso: int = 1024
    bucket_reso_steps: int = 64
    bucket_no_upscale: bool = False
    _resos: list[tuple[int, int]] = field(default_factory=list, repr=False)
    _resos_set: set = field(default_factory=set, repr=False)
    _ratios: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if not self.bucket_no_upscale:
            self._resos = make_bucket_resolutions(
                self.resolution, self.min_bucket_reso, self.max_bucket_reso, self.bucket_reso_steps
            )
            self._resos_set = set(self._resos)
            self._ratios = [w / h for w, h in self._resos]

    def _round_to_steps(self, x: float) -> int:
        value = int(x + 0.5)
        return value - value % self.bucket_reso_steps

    def select(self, width: int, height: int) -> tuple[int, int]:
        """The bucket (width, height) sd-scripts puts an image of this raw size into."""
        if not self.enable_bucket:
            return self.resolution
        aspect = width / height
        if not self.bucket_no_upscale:
            reso = (width, height)
            if reso not in self._resos_set:
                # numpy's argmin returns the first minimum; min() over an index range does the same.
                best = min(range(len(self._ratios)), key=lambda i: abs(self._ratios[i] - aspect))
                reso = self._resos[best]
            return reso
        max_area = self.resolution[0] * self.resolution[1]
        if width * height > max_area:
            resized_width = math.sqrt(max_area * aspect)
            resized_height = max_area / resized_width
            b_width_rounded = self._round_to_steps(resized_width)
            b_height_in_wr = self._round_to_steps(b_width_rounded / aspect)
            ar_width_rounded = b_width_rounded / b_height_in_wr
            b_height_rounded = self._round_to_steps(resized_height)
            b_width_in_hr = self._round_to_steps(b_height_rounded * aspect)
            ar_height_rounded = b_width_in_hr / b_height_rounded
            if abs(ar_width_rounded - aspect) < abs(ar_height_rounded - aspect):
                resized = (b_width_rounded, int(b_width_rounded / aspect + 0.5))
            else:
                resized = (int(b_height_rounded * aspect + 0.5), b_height_rounded)
        else:
            resized = (width, height)
        steps = self.bucket_reso_steps
        return (resized[0] - resized[0] % steps, resized[1] - resized[1] % steps)


@dataclass
class MusubiBucketRules:
    """musubi-tuner's buckets: an architecture's fixed step (16 for Qwen-Image), no min/max clamp.

    The list holds, for every width from half the square side (floored to the step) to the square side, that
    width with the height that keeps the area (floored to the step), and the transpose. With
    ``bucket_no_upscale`` an image no larger than the area keeps its own size floored to the step.
    """

    resolution: tuple[int, int] = (1024, 1024)
    reso_steps: int = 16
    enable_bucket: bool = True
    bucket_no_upscale: bool = False
    _resos: list[tuple[int, int]] = field(default_factory=list, repr=False)
    _ratios: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        area = self.resolution[0] * self.resolution[1]
        if not self.enable_bucket:
            self._resos = [tuple(self.resolution)]
        else:
            step = self.reso_steps
            side = int(math.sqrt(area))
            found = set()
            for width in range(_floor(side // 2, step), side + step, step):
                if width <= 0:
                    continue
                height = _floor(area // width, step)
                found.update({(width, height), (height, width)})
            self._resos = sorted(found)
        self._ratios = [w / h if h else math.inf for w, h in self._resos]

    def select(self, width: int, height: int) -> tuple[int, int]:
        """The bucket (width, height) musubi-tuner puts an image of this raw size into."""
        area = self.resolution[0] * self.resolution[1]
        if self.enable_bucket and self.bucket_no_upscale and width * height <= area:
            return _floor(width, self.reso_steps), _floor(height, self.reso_steps)
        aspect = width / height
        # numpy's argmin (what musubi-tuner calls) returns the first minimum; so does min() over the indices.
        best = min(range(len(self._ratios)), key=lambda i: abs(self._ratios[i] - aspect))
        return self._resos[best]


def _floor(value: int, step: int) -> int:
    return value - value % step


def bucket_label(reso: tuple[int, int]) -> str:
    """'832x1216' style label."""
    return f"{reso[0]}x{reso[1]}"
