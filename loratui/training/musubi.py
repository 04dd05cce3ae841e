"""musubi-tuner (Qwen-Image): its own dataset TOML and three phases (cache latents, cache text, train).

musubi's dataset config has no subsets: each loratui subset becomes one ``[[datasets]]`` entry with
``image_directory``, ``cache_directory`` (inside the job folder) and ``num_repeats``; for edit models (see
``training.edit_pairs``) also ``control_directory`` and the control resize keys (``no_resize_control``,
``control_resolution``) of the subset's control folder, as musubi-tuner's ``dataset/config_utils.py`` reads them. Its
scripts take plain command-line flags, so [args] become ``--name value`` pairs (lists as several values, true flags
bare).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loratui.training.kohya import MANAGED_ARGS, launcher_argv
from loratui.training.plan import TrainPhase
from loratui.training.schema import Schema

TRAIN_ENV = {"OMP_NUM_THREADS": "1"}
VARIANT_ARGS = ("model_version", "edit", "edit_plus")
"""Options that pick the model variant: musubi-tuner needs them in the caching scripts too (Qwen-Image-Edit caches
its latents as ``qie`` and encodes the control images with the prompt; without them it caches for Qwen-Image)."""


def dataset_config(dataset_path: Path, caption_ext: str, subsets: list[dict], args: dict[str, Any],
                   resolution: tuple[int, int], batch_size: int, cache_root: Path,
                   controls: dict[str, dict] | None = None) -> dict[str, Any]:
    """musubi-tuner's dataset TOML dict; `controls` (subset folder -> keys) adds each subset's control keys."""
    general: dict[str, Any] = {
        "resolution": [resolution[0], resolution[1]],
        "caption_extension": caption_ext,
        "batch_size": int(batch_size),
        "enable_bucket": bool(args.get("enable_bucket", True)),
        "bucket_no_upscale": bool(args.get("bucket_no_upscale", False)),
    }
    datasets = []
    for index, row in enumerate(subsets):
        folder = dataset_path / row["rel_path"] if row["rel_path"] else dataset_path
        name = (row["rel_path"] or "root").replace("/", "_")
        entry = {
            "image_directory": str(folder),
            "cache_directory": str(cache_root / f"{index:02d}_{name}"),
            "num_repeats": int(row["repeats"]),
        }
        entry.update((controls or {}).get(row["rel_path"], {}))
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
           schema: Schema) -> list[TrainPhase]:
    """cache_latents, cache_text and train, each an argv list run from the checkout."""
    cwd = str(trainer.root)
    common = ["--dataset_config", str(dataset_toml)]
    variant = args_to_flags({k: args[k] for k in VARIANT_ARGS if args.get(k) is not None}, schema)
    latents = [trainer.python, str(trainer.script(family, "cache_latents")), *common, "--vae", str(args["vae"]),
               *variant]
    text = [trainer.python, str(trainer.script(family, "cache_text")), *common,
            "--text_encoder", str(args["text_encoder"]), "--batch_size", "1", *variant]
    train = launcher_argv(trainer.python, trainer.script(family, "train"), launch)
    train += [*common, *args_to_flags(args, schema, skip=("resolution", "caption_extension"))]
    return [TrainPhase("cache_latents", latents, cwd, dict(TRAIN_ENV)),
            TrainPhase("cache_text", text, cwd, dict(TRAIN_ENV)),
            TrainPhase("train", train, cwd, dict(TRAIN_ENV))]
