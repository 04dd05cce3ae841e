"""sd-scripts files: the ``--config_file`` TOML and the strictly validated ``--dataset_config`` TOML.

Two upstream quirks shape this module:

* ``--config_file`` values are *not* type-converted (read_config_from_file puts them straight into the argparse
  namespace): ``resolution`` must be the string ``"W,H"``, a ``nargs='*'`` option must be a TOML list (a string
  would be iterated character by character), a float option should be a float.
* ``--dataset_config`` is validated with voluptuous: unknown keys are rejected and ``float`` fields reject an
  integer ``0``. Only the keys below are written, each converted to exactly the type upstream expects.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from loratui.training.schema import Schema
from loratui.training.steps import parse_resolution

MANAGED_ARGS = ("train_data_dir", "reg_data_dir", "in_json", "dataset_config", "config_file", "output_config")
"""Options loratui sets itself (the dataset comes from the dataset TOML); never copied from [args]."""

DATASET_GENERAL_KEYS = {
    "enable_bucket": bool, "min_bucket_reso": int, "max_bucket_reso": int, "bucket_reso_steps": int,
    "bucket_no_upscale": bool,
}
"""[args] options that are also written into the dataset TOML's [general] table (with upstream's types)."""

SUBSET_OPTION_TYPES = {
    "color_aug": bool, "flip_aug": bool, "num_repeats": int, "random_crop": bool, "shuffle_caption": bool,
    "keep_tokens": int, "keep_tokens_separator": str, "secondary_separator": str, "caption_separator": str,
    "enable_wildcard": bool, "token_warmup_min": int, "token_warmup_step": (float, int), "caption_prefix": str,
    "caption_suffix": str, "resize_interpolation": str, "caption_dropout_every_n_epochs": int,
    "caption_dropout_rate": (float, int), "caption_tag_dropout_rate": (float, int), "caption_extension": str,
    "class_tokens": str, "cache_info": bool, "is_reg": bool, "alpha_mask": bool, "image_dir": str,
}
"""Keys a DreamBooth subset accepts in sd-scripts' dataset config (config_util.ConfigSanitizer), with types."""

CONFIG_FILE_NAME = "train_config.toml"
DATASET_FILE_NAME = "dataset.toml"


def convert_subset_option(key: str, value: Any) -> Any:
    """`value` as the type the dataset config schema wants for subset key `key` (ValueError if impossible)."""
    expected = SUBSET_OPTION_TYPES[key]
    if expected is bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {value!r}")
        return value
    if expected is str:
        if not isinstance(value, str):
            raise ValueError(f"must be text, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {value!r}")
    return float(value)


def config_file_values(args: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """The [args] as sd-scripts' --config_file must hold them: real types, no None, managed keys removed."""
    values: dict[str, Any] = {}
    for name, value in args.items():
        if value is None or name in MANAGED_ARGS:
            continue
        option = schema.get(name)
        if name == "resolution":
            reso = parse_resolution(value)
            values[name] = f"{reso[0]},{reso[1]}" if reso else value
            continue
        if option is None:
            values[name] = value  # unknown to loratui: passed through untouched
            continue
        if option.is_list:
            if isinstance(value, str):
                value = shlex.split(value)
            elif not isinstance(value, list):
                value = [value]
            if option.type == "str":
                value = [v if isinstance(v, str) else _toml_text(v) for v in value]
        elif option.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif option.type == "str" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = _toml_text(value)
        values[name] = value
    return values


def _toml_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def dataset_config(dataset_path: Path, caption_ext: str, subsets: list[dict], args: dict[str, Any],
                   resolution: tuple[int, int], batch_size: int) -> dict[str, Any]:
    """The --dataset_config TOML dict: [general] bucket options + one dataset with one subset per folder.

    `subsets` rows: rel_path, repeats, class_tokens, is_reg, keep_tokens, options (dict of extra subset keys).
    """
    general: dict[str, Any] = {
        "resolution": [resolution[0], resolution[1]],
        "batch_size": int(batch_size),
        "caption_extension": caption_ext,
    }
    for key, kind in DATASET_GENERAL_KEYS.items():
        if args.get(key) is not None:
            general[key] = kind(args[key])
    entries = []
    for row in subsets:
        entry: dict[str, Any] = {
            "image_dir": str(dataset_path / row["rel_path"]) if row["rel_path"] else str(dataset_path),
            "num_repeats": int(row["repeats"]),
            "is_reg": bool(row["is_reg"]),
            "caption_extension": caption_ext,
        }
        if row.get("class_tokens"):
            entry["class_tokens"] = str(row["class_tokens"])
        if row.get("keep_tokens") is not None:
            entry["keep_tokens"] = int(row["keep_tokens"])
        for key, value in (row.get("options") or {}).items():
            entry[key] = convert_subset_option(key, value)
        entries.append(entry)
    return {"general": general, "datasets": [{"subsets": entries}]}


def launcher_argv(python: str, script: Path, launch: dict[str, Any]) -> list[str]:
    """`accelerate launch` (from the trainer's venv) or plain python, up to and including the script."""
    if launch.get("launcher", "accelerate") == "python":
        return [python, str(script)]
    argv = [python, "-m", "accelerate.commands.launch", "--num_cpu_threads_per_process", "1"]
    processes = int(launch.get("num_processes") or launch.get("gpus") or 1)
    machines = int(launch.get("num_machines") or 1)
    argv += ["--num_processes", str(processes), "--num_machines", str(machines)]
    if launch.get("multi_gpu") or processes > 1:
        # also across machines: without it (and no accelerate config) accelerate launch runs one plain process
        # on a machine with one GPU, and the machines would train apart
        argv.append("--multi_gpu")
    if launch.get("gpu_ids"):
        argv += ["--gpu_ids", str(launch["gpu_ids"])]
    if machines > 1 or launch.get("machine_rank") is not None:
        argv += ["--machine_rank", str(int(launch.get("machine_rank") or 0))]
    if launch.get("main_process_ip"):
        argv += ["--main_process_ip", str(launch["main_process_ip"])]
    if launch.get("main_process_port") is not None:
        argv += ["--main_process_port", str(int(launch["main_process_port"]))]
    argv += ["--mixed_precision", str(launch.get("mixed_precision") or "no"), "--dynamo_backend", "no"]
    argv.append(str(script))
    return argv
