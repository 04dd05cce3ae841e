"""musubi-tuner: its own dataset TOML and three phases (cache latents, cache text, train), per family record.

musubi's dataset config has no subsets: each loratui subset becomes one ``[[datasets]]`` entry with
``image_directory``, ``cache_directory`` (inside the job folder) and ``num_repeats``. Its scripts take plain
command-line flags, so [args] become ``--name value`` pairs (lists as several values, true flags bare).

What each phase gets comes from the family record (``loratui.training.families``): the caching scripts get the
dataset config, the model files of their roles, the family's variant flags for that phase and the [args] options
the record forwards (``cache_forward``); training gets every [args] option plus the variant flags.

Subsets without an image musubi would read, and regularisation subsets (musubi has no regularisation images),
are left out. The dataset options (resolution, batch size, buckets, control-image handling) are written into the
dataset TOML, never passed as flags: musubi's parsers do not know them and would stop at an unrecognised
argument. For edit models (see ``training.edit_pairs``) a subset's ``control_keys`` (``control_directory`` and the
control resize keys of its control folder, from the control-image index) are written into its ``[[datasets]]``
entry, as musubi-tuner's ``dataset/config_utils.py`` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loratui.training.families import Family, get_family
from loratui.training.kohya import MANAGED_ARGS, launcher_argv
from loratui.training.plan import TrainPhase
from loratui.training.schema import Schema
from loratui.training.steps import MusubiDataset, MusubiSource, parse_resolution
from loratui.training.video_dataset import (
    VIDEO_DATASET_ARGS, musubi_clip_settings, video_architecture, video_entry_keys,
)

TRAIN_ENV = {"OMP_NUM_THREADS": "1"}
DATASET_ARGS = ("resolution", "caption_extension", "train_batch_size", "enable_bucket", "bucket_no_upscale",
                "no_resize_control", "control_resolution", *VIDEO_DATASET_ARGS)
"""[args] that go into the dataset TOML (train_batch_size as each dataset's batch_size; the clip options into video
entries), not onto a command line."""

ITEM_LINES = {"qwen-image", "qwen-image-edit", "qwen-image-edit-2509", "qwen-image-edit-2511"}
"""Families whose caching scripts print one line per item on stdout (``Saving cache for item``, ``Item N:``), so
a caching phase's progress has a total; Z-Image logs its items at DEBUG (not shown)."""

TEXT_CACHE_BATCH = "1"
"""Text-encoder caching batch size: 1 keeps its VRAM lowest (the text encoders are the largest models here)."""


@dataclass(frozen=True)
class DatasetSettings:
    """The dataset-level options loratui writes for every [[datasets]] entry."""

    resolution: tuple[int, int]
    batch_size: int = 1
    enable_bucket: bool = True
    bucket_no_upscale: bool = False
    no_resize_control: bool = False
    control_resolution: tuple[int, int] | None = None


def dataset_settings(args: dict[str, Any], resolution: tuple[int, int] | None = None) -> DatasetSettings:
    """The dataset options from [args] (buckets on unless turned off, as for every loratui training)."""
    reso = resolution or parse_resolution(args.get("resolution")) or (1024, 1024)
    control = parse_resolution(args.get("control_resolution"))
    return DatasetSettings(
        resolution=reso,
        batch_size=int(args.get("train_batch_size") or 1),
        enable_bucket=bool(args.get("enable_bucket", True)),
        bucket_no_upscale=bool(args.get("bucket_no_upscale", False)),
        no_resize_control=bool(args.get("no_resize_control", False)),
        control_resolution=control,
    )


def video_clip_settings(family: str, args: dict[str, Any]):
    """The clip settings of a video family's video datasets from [args] (None for image families)."""
    return musubi_clip_settings(family, args) if video_architecture(family) else None


def trained_sources(sources: list[MusubiSource]) -> list[MusubiSource]:
    """The subsets that become [[datasets]] entries: not regularisation, at least one image or video clip musubi
    reads."""
    return [s for s in sources if not s.is_reg and s.repeats >= 1 and (s.items or s.clips)]


def _source_name(source: MusubiSource) -> str:
    return source.rel_path or "."


def training_datasets(sources: list[MusubiSource], settings: DatasetSettings) -> list[MusubiDataset]:
    """The step calculator's view of the datasets ``dataset_config`` writes (a folder's videos after its images)."""
    result = []
    for s in trained_sources(sources):
        if s.items:
            result.append(MusubiDataset(_source_name(s), s.repeats, list(s.items), settings.resolution,
                                        settings.batch_size, settings.enable_bucket, settings.bucket_no_upscale,
                                        settings.no_resize_control, settings.control_resolution))
        if s.clips:
            result.append(MusubiDataset(f"{_source_name(s)} (videos)", s.repeats, list(s.clips), settings.resolution,
                                        settings.batch_size, settings.enable_bucket, settings.bucket_no_upscale,
                                        video=True))
    return result


def dataset_config(dataset_path: Path, caption_ext: str, sources: list[MusubiSource], settings: DatasetSettings,
                   cache_root: Path, clip_settings=None) -> dict[str, Any]:
    """musubi-tuner's dataset TOML dict; with `clip_settings` (``video_clips.ClipSettings``, video families) a
    folder's videos get a ``video_directory`` entry with its own cache folder."""
    general: dict[str, Any] = {
        "resolution": [settings.resolution[0], settings.resolution[1]],
        "caption_extension": caption_ext,
        "batch_size": settings.batch_size,
        "enable_bucket": settings.enable_bucket,
        "bucket_no_upscale": settings.bucket_no_upscale,
    }
    datasets = []
    for index, source in enumerate(trained_sources(sources)):
        folder = dataset_path / source.rel_path if source.rel_path else dataset_path
        name = (source.rel_path or "root").replace("/", "_")
        entry: dict[str, Any] = {
            "image_directory": str(folder),
            "cache_directory": str(cache_root / f"{index:02d}_{name}"),
            "num_repeats": int(source.repeats),
        }
        if settings.no_resize_control:
            entry["no_resize_control"] = True
        if settings.control_resolution is not None:
            entry["control_resolution"] = list(settings.control_resolution)
        entry.update(source.control_keys)
        if source.items:
            datasets.append(entry)
        if source.clips and clip_settings is not None:
            datasets.append({"video_directory": str(folder),
                             "cache_directory": str(cache_root / f"{index:02d}_{name}_video"),
                             "num_repeats": int(source.repeats), **video_entry_keys(clip_settings)})
    return {"general": general, "datasets": datasets}


def args_to_flags(args: dict[str, Any], schema: Schema | None, skip: tuple[str, ...] = ()) -> list[str]:
    """[args] as command-line flags: `--name value`, bare `--name` for true flags, lists as several values."""
    argv: list[str] = []
    for name, value in args.items():
        if value is None or name in MANAGED_ARGS or name in skip:
            continue
        option = schema.get(name) if schema is not None else None
        flag = option.flag if option is not None and option.flag else f"--{name}"
        if isinstance(value, bool):
            if value:
                argv.append(flag)
            continue
        if isinstance(value, list):
            argv.append(flag)
            argv.extend(str(v) for v in value)
            continue
        argv += [flag, str(value)]
    return argv


def phase_argv(family: Family, phase: str, args: dict[str, Any], dataset_toml: Path) -> list[str]:
    """The flags of a caching phase: dataset config, its model files, variant flags, forwarded options."""
    values: dict[str, Any] = {"dataset_config": str(dataset_toml)}
    for role in family.roles:
        if phase in role.phases and args.get(role.option) not in (None, ""):
            values[role.option] = args[role.option]
    values.update(family.variant_values(args, phase))
    for name in family.cache_forward.get(phase, ()):
        if args.get(name) is not None:
            values[name] = args[name]
    if phase == "cache_text":
        values["batch_size"] = TEXT_CACHE_BATCH
    argv = ["--dataset_config", str(dataset_toml)]
    del values["dataset_config"]
    return argv + args_to_flags(values, None)


def phases(trainer, family: str, args: dict[str, Any], launch: dict[str, Any], dataset_toml: Path,
           schema: Schema, items: int | None = None) -> list[TrainPhase]:
    """The family's phases (cache_latents, cache_text, train), each an argv list run from the checkout; `items`
    (the items the caching scripts go through) becomes the caching phases' progress total where the family prints
    them."""
    record = get_family(family)
    cwd = str(trainer.root)
    counted = items if family in ITEM_LINES else None
    result = []
    for phase in record.phase_names():
        if phase == "train":
            continue
        argv = [trainer.python, str(trainer.script(family, phase)), *phase_argv(record, phase, args, dataset_toml)]
        result.append(TrainPhase(phase, argv, cwd, dict(TRAIN_ENV), counted))
    train_args = {**args, **record.variant_values(args, "train")}
    train = launcher_argv(trainer.python, trainer.script(family, "train"), launch)
    train += ["--dataset_config", str(dataset_toml), *args_to_flags(train_args, schema, skip=DATASET_ARGS)]
    result.append(TrainPhase("train", train, cwd, dict(TRAIN_ENV)))
    return result
