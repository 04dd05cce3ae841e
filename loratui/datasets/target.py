"""What a dataset is being prepared for: a model family, its base resolution and the bucket rules they imply.

Buckets depend on the training: sd15 at 512 puts a 384x576 image into bucket 384x576 (loratui's presets train
with ``bucket_no_upscale``), the default 1024 rules put it into 832x1216. A dataset's target is the one answer
every view uses: the stored bucket of each image (the image list, the preview, ``bucket:`` queries, ``dataset
show``) is computed with it, and the training form compares its own options with it. A dataset without a target
uses sd-scripts' default rules at 1024x1024, and says so (``DEFAULT_DESCRIPTION``).

The target keeps the bucket options themselves, not only the family: this layer does not know families (the
training layer does, ``loratui.training.dataset_target``), so which rules a family implies is decided when the
target is set, and stored.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Callable

from loratui.datasets.buckets import BucketRules, MusubiBucketRules, bucket_label, raw_size
from loratui.errors import InputError

TRAINERS = ("kohya", "musubi")
"""Whose bucket rules a target follows: sd-scripts' or musubi-tuner's."""

DEFAULT_RESOLUTION = (1024, 1024)
DEFAULT_DESCRIPTION = "no target: sd-scripts' default buckets at 1024x1024"
"""What a dataset without a target says about its buckets."""


@dataclass(frozen=True)
class DatasetTarget:
    """A model family with its base resolution and the bucket options its trainer uses."""

    family: str
    resolution: tuple[int, int]
    trainer: str = "kohya"
    enable_bucket: bool = True
    min_bucket_reso: int = 256
    max_bucket_reso: int = 1024
    bucket_reso_steps: int = 64
    """The bucket step: sd-scripts' ``bucket_reso_steps``, or musubi-tuner's fixed step of the architecture."""
    bucket_no_upscale: bool = False

    def __post_init__(self) -> None:
        width, height = self.resolution
        if self.trainer not in TRAINERS:
            raise InputError(f"unknown trainer {self.trainer!r} for a dataset target (one of: {', '.join(TRAINERS)})")
        if min(width, height) < 64 or max(width, height) > 8192:
            raise InputError(f"a target resolution of {width}x{height} is out of range (64 to 8192)")
        if self.bucket_reso_steps < 1 or self.min_bucket_reso < 1 or self.min_bucket_reso > self.max_bucket_reso:
            raise InputError("bucket options out of range: step >= 1 and min_bucket_reso <= max_bucket_reso")

    @property
    def label(self) -> str:
        """'sd15 512x512'."""
        return f"{self.family} {self.resolution[0]}x{self.resolution[1]}"

    def describe(self) -> str:
        """The label and the rules: 'sd15 512x512 (sd-scripts buckets, step 64, no upscale)'."""
        who = "sd-scripts" if self.trainer == "kohya" else "musubi-tuner"
        if not self.enable_bucket:
            return f"{self.label} ({who}, no buckets: every image at {self.resolution[0]}x{self.resolution[1]})"
        parts = [f"{who} buckets", f"step {self.bucket_reso_steps}"]
        if self.bucket_no_upscale:
            parts.append("no upscale")
        elif self.trainer == "kohya":
            parts.append(f"sides {self.min_bucket_reso}-{self.max_bucket_reso}")
        return f"{self.label} ({', '.join(parts)})"

    def rules(self) -> BucketRules | MusubiBucketRules:
        """The trainer's bucket selector for this target."""
        if self.trainer == "musubi":
            return MusubiBucketRules(self.resolution, self.bucket_reso_steps, self.enable_bucket,
                                     self.bucket_no_upscale)
        return BucketRules(self.resolution, self.enable_bucket, self.min_bucket_reso, self.max_bucket_reso,
                           self.bucket_reso_steps, self.bucket_no_upscale)

    def rules_key(self) -> tuple:
        """What decides the buckets, and nothing else: two targets with equal keys bucket every image alike."""
        if not self.enable_bucket:
            return (self.trainer, self.resolution, False)
        if self.trainer == "musubi" or self.bucket_no_upscale:
            # min/max_bucket_reso do not take part: musubi has none, and sd-scripts ignores them without upscaling
            return (self.trainer, self.resolution, True, self.bucket_reso_steps, self.bucket_no_upscale)
        return (self.trainer, self.resolution, True, self.bucket_reso_steps, False, self.min_bucket_reso,
                self.max_bucket_reso)

    def same_buckets(self, other: "DatasetTarget | None") -> bool:
        """True when `other` is a target for the same family that buckets every image alike."""
        return other is not None and other.family == self.family and other.rules_key() == self.rules_key()

    def options_json(self) -> str:
        """The bucket options as stored in ``datasets.target_buckets``."""
        data = asdict(self)
        for key in ("family", "resolution"):
            data.pop(key)
        return json.dumps(data, sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``dataset show --json``, ``dataset list --json``)."""
        data = asdict(self)
        data["resolution"] = list(self.resolution)
        data["label"] = self.label
        return data

    @classmethod
    def from_columns(cls, family: str | None, width: int | None, height: int | None,
                     options: str | None) -> "DatasetTarget | None":
        """From the ``datasets`` columns (None when no target is set or the row cannot be read as one)."""
        if not family or not width or not height:
            return None
        try:
            data = json.loads(options or "{}")
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__} if isinstance(data, dict) else {}
            return cls(family, (int(width), int(height)), **known)
        except (ValueError, TypeError, InputError):
            return None


def bucket_labeler(target: DatasetTarget | None) -> Callable[[int, int, int | None], str | None]:
    """A function (width, height, EXIF orientation) -> the bucket label at `target` (default rules without one);
    None where the trainer could not bucket the image (a side of 0: too small or elongated for no-upscale)."""
    rules = target.rules() if target is not None else BucketRules()
    cache: dict[tuple[int, int], str | None] = {}

    def label(width: int, height: int, orientation: int | None) -> str | None:
        size = raw_size(width, height, orientation)
        if size not in cache:
            try:
                reso = rules.select(*size)
            except ZeroDivisionError:
                reso = (0, 0)
            cache[size] = bucket_label(reso) if min(reso) > 0 else None
        return cache[size]

    return label


def describe(target: DatasetTarget | None) -> str:
    """What a dataset's buckets follow, for every view that shows them."""
    return target.describe() if target is not None else DEFAULT_DESCRIPTION
