"""musubi-tuner: its own dataset TOML and three phases (cache latents, cache text, train), per family record.

musubi's dataset config has no subsets: each loratui subset becomes one ``[[datasets]]`` entry with
``image_directory``, ``cache_directory`` (inside the job folder) and ``num_repeats``. Its scripts take plain
command-line flags, so [args] become ``--name value`` pairs (lists as several values, true flags bare).

What each phase gets comes from the family record (``loratui.training.families``): the caching scripts get the
dataset config, the model files of their roles, the family's variant flags for that phase and the [args] options
the record forwards (``cache_forward``); training gets every [args] option plus the variant flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loratui.training.families import Family, get_family
from loratui.training.kohya import MANAGED_ARGS, launcher_argv
from loratui.training.plan import TrainPhase
from loratui.training.schema import Schema

TRAIN_ENV = {"OMP_NUM_THREADS": "1"}
TEXT_CACHE_BATCH = "1"
"""Text-encoder caching batch size: 1 keeps its VRAM lowest (the text encoders are the largest models here)."""


def dataset_config(dataset_path: Path, caption_ext: str, subsets: list[dict], args: dict[str, Any],
                   resolution: tuple[int, int], batch_size: int, cache_root: Path) -> dict[str, Any]:
    """musubi-tuner's dataset TOML dict."""
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
        datasets.append({
            "image_directory": str(folder),
            "cache_directory": str(cache_root / f"{index:02d}_{name}"),
            "num_repeats": int(row["repeats"]),
        })
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
           schema: Schema) -> list[TrainPhase]:
    """The family's phases (cache_latents, cache_text, train), each an argv list run from the checkout."""
    record = get_family(family)
    cwd = str(trainer.root)
    result = []
    for phase in record.phase_names():
        if phase == "train":
            continue
        argv = [trainer.python, str(trainer.script(family, phase)), *phase_argv(record, phase, args, dataset_toml)]
        result.append(TrainPhase(phase, argv, cwd, dict(TRAIN_ENV)))
    train_args = {**args, **record.variant_values(args, "train")}
    train = launcher_argv(trainer.python, trainer.script(family, "train"), launch)
    train += ["--dataset_config", str(dataset_toml),
              *args_to_flags(train_args, schema, skip=("resolution", "caption_extension"))]
    result.append(TrainPhase("train", train, cwd, dict(TRAIN_ENV)))
    return result
