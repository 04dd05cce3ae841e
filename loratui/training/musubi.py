"""musubi-tuner (Qwen-Image, Qwen-Image-Edit, Z-Image): its dataset TOML and three phases (cache latents, cache
text, train).

musubi's dataset config has no subsets: each loratui subset becomes one ``[[datasets]]`` entry with
``image_directory``, ``cache_directory`` (inside the job folder) and ``num_repeats``; subsets without an image
musubi would read, and regularisation subsets (musubi has no regularisation images), are left out. The
dataset options (resolution, batch size, buckets, control-image handling) are written into the dataset TOML,
never passed as flags: musubi's parsers do not know them and would stop at an unrecognised argument. Its
scripts take plain command-line flags, so [args] become ``--name value`` pairs (lists as several values,
true flags bare).

Per-family knowledge lives in the small tables below (``FAMILY_ARGS``) and in ``trainer.MUSUBI_SCRIPTS``; for edit
models (see ``training.edit_pairs``) a subset's ``control_keys`` (``control_directory`` and the control resize
keys of its control folder, from the control-image index) are written into its ``[[datasets]]`` entry, as
musubi-tuner's ``dataset/config_utils.py`` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loratui.training.kohya import MANAGED_ARGS, launcher_argv
from loratui.training.plan import TrainPhase
from loratui.training.schema import Schema
from loratui.training.steps import MusubiDataset, MusubiSource, parse_resolution

TRAIN_ENV = {"OMP_NUM_THREADS": "1"}
VARIANT_ARGS = ("model_version", "edit", "edit_plus")
"""Options that pick the model variant: musubi-tuner needs them in the caching scripts too (Qwen-Image-Edit caches
its latents as ``qie`` and encodes the control images with the prompt; without them it caches for Qwen-Image)."""

DATASET_ARGS = ("resolution", "caption_extension", "train_batch_size", "enable_bucket", "bucket_no_upscale",
                "no_resize_control", "control_resolution")
"""[args] that go into the dataset TOML (train_batch_size as each dataset's batch_size), not onto a command line."""

FAMILY_ARGS: dict[str, dict[str, Any]] = {
    "qwen-image-edit": {"model_version": "edit"},
}
"""Variant options a family implies, given to every phase unless [args] sets them (Qwen-Image-Edit caches its
latents as ``qie`` and encodes the control images with the prompt only with ``--model_version edit``)."""

ITEM_LINES = {"qwen-image", "qwen-image-edit"}
"""Families whose caching scripts print one line per item on stdout (``Saving cache for item``, ``Item N:``), so
a caching phase's progress has a total; Z-Image logs its items at DEBUG (not shown)."""


def family_args(family: str, args: dict[str, Any]) -> dict[str, Any]:
    """[args] with the family's implied variant options filled in where [args] leaves them unset."""
    implied = {k: v for k, v in FAMILY_ARGS.get(family, {}).items() if args.get(k) in (None, "")}
    return {**args, **implied} if implied else args


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


def trained_sources(sources: list[MusubiSource]) -> list[MusubiSource]:
    """The subsets that become [[datasets]] entries: not regularisation, at least one image musubi reads."""
    return [s for s in sources if not s.is_reg and s.repeats >= 1 and s.items]


def _source_name(source: MusubiSource) -> str:
    return source.rel_path or "."


def training_datasets(sources: list[MusubiSource], settings: DatasetSettings) -> list[MusubiDataset]:
    """The step calculator's view of the datasets ``dataset_config`` writes."""
    return [MusubiDataset(_source_name(s), s.repeats, list(s.items), settings.resolution, settings.batch_size,
                          settings.enable_bucket, settings.bucket_no_upscale, settings.no_resize_control,
                          settings.control_resolution)
            for s in trained_sources(sources)]


def dataset_config(dataset_path: Path, caption_ext: str, sources: list[MusubiSource], settings: DatasetSettings,
                   cache_root: Path) -> dict[str, Any]:
    """musubi-tuner's dataset TOML dict."""
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
        datasets.append(entry)
    return {"general": general, "datasets": datasets}


def args_to_flags(args: dict[str, Any], schema: Schema, skip: tuple[str, ...] = ()) -> list[str]:
    """[args] as command-line flags: `--name value`, bare `--name` for true flags, lists as several values."""
    argv: list[str] = []
    for name, value in args.items():
        if value is None or name in MANAGED_ARGS or name in skip:
            continue
        option = schema.get(name)
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


def phases(trainer, family: str, args: dict[str, Any], launch: dict[str, Any], dataset_toml: Path,
           schema: Schema, items: int | None = None) -> list[TrainPhase]:
    """cache_latents, cache_text and train, each an argv list run from the checkout; `items` (the items the
    caching scripts go through) becomes the caching phases' progress total where the family prints them."""
    cwd = str(trainer.root)
    args = family_args(family, args)
    common = ["--dataset_config", str(dataset_toml)]
    variant = args_to_flags({k: args[k] for k in VARIANT_ARGS if args.get(k) is not None}, schema)
    latents = [trainer.python, str(trainer.script(family, "cache_latents")), *common, "--vae", str(args["vae"]),
               *variant]
    text = [trainer.python, str(trainer.script(family, "cache_text")), *common,
            "--text_encoder", str(args["text_encoder"]), "--batch_size", "1", *variant]
    train = launcher_argv(trainer.python, trainer.script(family, "train"), launch)
    train += [*common, *args_to_flags(args, schema, skip=DATASET_ARGS)]
    counted = items if family in ITEM_LINES else None
    return [TrainPhase("cache_latents", latents, cwd, dict(TRAIN_ENV), counted),
            TrainPhase("cache_text", text, cwd, dict(TRAIN_ENV), counted),
            TrainPhase("train", train, cwd, dict(TRAIN_ENV))]
