"""Which family a dataset target may name, and the target a family or a training config implies.

The datasets layer stores a target with its bucket options (``loratui.datasets.target``) but does not know
families; this module does. A target set by name (``dataset add --target sdxl``, ``dataset target NAME
sd15:768``) gets the bucket options loratui's presets train with; a target set from the training form copies the
form's own options, so the image list then shows exactly the buckets that training will use.
"""

from __future__ import annotations

from typing import Any

from loratui.datasets.target import DatasetTarget
from loratui.errors import InputError, NotFoundError
from loratui.training.config import FAMILIES, TrainConfig
from loratui.training.families import find_family
from loratui.training.presets import load_preset
from loratui.training.steps import params_from_args, parse_resolution

def _bucket_step(family: str) -> int:
    """musubi-tuner's fixed bucket step of a family's architecture (``BucketSelector.ARCHITECTURE_STEPS_MAP``)."""
    record = find_family(family)
    return record.bucket_step if record is not None else 16


def _default_side(family: str) -> int:
    record = find_family(family)
    return record.default_resolution if record is not None else 1024


def known_families() -> dict[str, str]:
    """Every family id a dataset target accepts, with the backend ("kohya" or "musubi") that trains it (from the
    family registry, ``loratui.training.families``)."""
    return {family: backend for backend, families in FAMILIES.items() for family in families}


def _resolution(text: str) -> tuple[int, int]:
    size = parse_resolution(text.strip())
    if size is None:
        raise InputError(f"resolution {text!r} is not a size", hint="use 1024 or WIDTHxHEIGHT, e.g. sd15:512x768")
    return size


def target_for(family: str, resolution: tuple[int, int] | None = None) -> DatasetTarget:
    """The target for `family` at `resolution` (the family's default when None), with the bucket options
    loratui's presets use: sd-scripts with ``bucket_no_upscale`` and step 64, musubi-tuner with its
    architecture's step and upscaling buckets (its dataset config as loratui writes it)."""
    backend = known_families().get(family)
    if backend is None:
        raise InputError(f"unknown model family {family!r}", hint=f"one of: {', '.join(known_families())}")
    if resolution is None:
        side = _default_side(family)
        resolution = (side, side)
    if backend == "musubi":
        return DatasetTarget(family, resolution, trainer="musubi", bucket_reso_steps=_bucket_step(family))
    return DatasetTarget(family, resolution, min_bucket_reso=256, max_bucket_reso=max(1024, 2 * max(resolution)),
                         bucket_reso_steps=64, bucket_no_upscale=True)


def parse_target(spec: str) -> DatasetTarget:
    """A target from ``FAMILY[:RESOLUTION]`` ("sdxl", "sd15:768", "flux:1024x768")."""
    family, _, size = spec.strip().partition(":")
    return target_for(family.strip().lower(), _resolution(size) if size.strip() else None)


def target_from_config(config: TrainConfig, schema=None) -> DatasetTarget:
    """The target a training config trains at: its family, resolution and bucket options (trainer defaults
    where unset, as ``loratui.training.steps`` reads them)."""
    args: dict[str, Any] = dict(config.args)
    size = _default_side(config.family)
    resolution = parse_resolution(args.get("resolution")) or (size, size)
    if config.backend == "musubi":
        return DatasetTarget(config.family, resolution, trainer="musubi",
                             enable_bucket=bool(args.get("enable_bucket", True)),
                             bucket_reso_steps=_bucket_step(config.family),
                             bucket_no_upscale=bool(args.get("bucket_no_upscale", False)))
    args["resolution"] = f"{resolution[0]},{resolution[1]}"
    rules = params_from_args(args, {}, schema).rules
    return DatasetTarget(config.family, resolution, enable_bucket=rules.enable_bucket,
                         min_bucket_reso=rules.min_bucket_reso, max_bucket_reso=rules.max_bucket_reso,
                         bucket_reso_steps=rules.bucket_reso_steps, bucket_no_upscale=rules.bucket_no_upscale)


def compare_with_form(config: TrainConfig, target: DatasetTarget | None, schema=None) -> str:
    """One line for the training form: whether its buckets are the ones the image list shows."""
    try:
        mine = target_from_config(config, schema)
    except (InputError, TypeError, ValueError):
        return "dataset target: fix the bucket options to compare"
    if target is None:
        return f"dataset target: none (the list shows default 1024 buckets); Ctrl+G sets {mine.label}"
    if target.same_buckets(mine):
        return f"dataset target: {target.label}, the list shows these buckets"
    return f"dataset target: {target.label} differs from this form ({mine.label}); Ctrl+G sets the form's"


def starting_config(ctx, target: DatasetTarget | None, default_preset: str, tier: str = "12gb") -> TrainConfig:
    """A new training config for a dataset with `target`: the family's preset at `tier` (`default_preset` when
    there is none, or no target), at the target's resolution when the preset trains that family."""
    config = None
    if target is not None:
        try:
            config = load_preset(ctx, f"{target.family}-{tier}")
        except NotFoundError:
            config = None
    if config is None:
        config = load_preset(ctx, default_preset)
    if target is not None and config.family == target.family:
        config.args["resolution"] = f"{target.resolution[0]},{target.resolution[1]}"
    return config
