"""sd-scripts files: a ``--config_file`` TOML and a ``--dataset_config`` TOML.

``--config_file`` is read the way sd-scripts reads it (``train_util.read_config_from_file``): tables are flattened
one level and every key is an argument name (unknown ones are kept by sd-scripts and never used).

``--dataset_config`` (``library/config_util.py``): ``[general]``, ``[[datasets]]`` and ``[[datasets.subsets]]``;
a subset's value falls back to its dataset's, then to ``[general]``, then to the command-line argument of the same
name. Dataset-level keys (resolution, batch size, buckets) become trainer args; subset keys set in ``[general]``
become the trainer args they fall back to; what a single dataset table or subset sets stays with its subsets and
goes to loratui's per-subset settings when the dataset is planned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loratui.errors import ConfigError
from loratui.training.config import PATH_ARGS
from loratui.training.imports import musubi
from loratui.training.imports.draft import KEEP, DatasetPart, DatasetRoot, Draft, SourceSubset
from loratui.training.imports.values import BadValue, flag, load_toml, number, resolve, resolve_in
from loratui.training.kohya import SUBSET_OPTION_TYPES

DATASET_ARGS = {"batch_size": "train_batch_size", "enable_bucket": "enable_bucket",
                "min_bucket_reso": "min_bucket_reso", "max_bucket_reso": "max_bucket_reso",
                "bucket_reso_steps": "bucket_reso_steps", "bucket_no_upscale": "bucket_no_upscale",
                "validation_seed": "validation_seed", "validation_split": "validation_split",
                "resize_interpolation": "resize_interpolation"}
"""Dataset-level keys -> the trainer args loratui writes them from."""

SUBSET_FIELDS = ("num_repeats", "class_tokens", "is_reg", "keep_tokens", "caption_extension", "image_dir")
UNSUPPORTED_SUBSET = {
    "metadata_file": "fine-tuning datasets (metadata JSON) are not supported: loratui trains caption files",
    "conditioning_data_dir": "ControlNet / masked-loss conditioning images are not supported",
    "face_crop_aug_range": "loratui's dataset TOML does not carry it",
    "custom_attributes": "loratui's dataset TOML does not carry it",
}
GENERAL_ONLY_SKIP = {"network_multiplier": "loratui writes one dataset at the default network multiplier"}
MANAGED = {"train_data_dir", "reg_data_dir", "dataset_config", "in_json", "config_file", "output_config"}
SECRETS = {"wandb_api_key", "huggingface_token"}


def is_dataset_config(data: dict) -> bool:
    """True for a --dataset_config style document (sd-scripts or musubi)."""
    datasets = data.get("datasets")
    return isinstance(datasets, list) and all(isinstance(d, dict) for d in datasets) and (
        not data.keys() - {"general", "datasets"})


def is_musubi_dataset(data: dict) -> bool:
    """True when the dataset TOML is musubi-tuner's dialect (image/video folders, no subsets)."""
    keys = ("image_directory", "video_directory", "image_jsonl_file", "video_jsonl_file")
    return any(isinstance(d, dict) and any(k in d for k in keys) for d in data.get("datasets", []))


def read_config_file(path: Path, draft: Draft, source: str | None = None) -> None:
    """An sd-scripts --config_file TOML into `draft` (lowest precedence: read it first)."""
    source = source or path.name
    data = load_toml(path)
    flat: dict[str, tuple[str, Any]] = {}
    for section, value in data.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                flat[key] = (f"{section}.{key}", inner)
        else:
            flat[section] = (section, value)
    part = DatasetPart(source)
    for name, (key, value) in flat.items():
        read_option(name, key, value, source, draft, path.parent, part)
    if part.roots:
        draft.datasets.append(part)


def read_option(name: str, key: str, value: Any, source: str, draft: Draft, base: Path, part: DatasetPart) -> None:
    """One sd-scripts/musubi argument (from a config file or a command line) into `draft`."""
    if name in SECRETS:
        draft.drop(source, key, value, "secret", "set it in the environment instead")
    elif name in ("train_data_dir", "reg_data_dir"):
        if value in ("", None):
            draft.drop(source, key, value, "empty")
            return
        part.roots.append(DatasetRoot(resolve(value, base), source, key, is_reg=name == "reg_data_dir"))
    elif name == "dataset_config":
        path = resolve(value, base)
        draft.report.mapped(source, key, value, "dataset", str(path), "read as the dataset config")
        read_dataset_file(path, draft, backend=draft.backend, cwd=base)
    elif name == "config_file":
        draft.drop(source, key, value, "gui-only", "a config file naming another config file: read it with "
                                                   "`train import` directly")
    elif name in ("in_json", "output_config"):
        draft.drop(source, key, value, "unsupported", "fine-tuning metadata datasets are not supported"
                   if name == "in_json" else "loratui writes the trainer's files itself")
    elif name == "caption_extension":
        part.caption_extension = str(value)
        draft.arg(source, key, value, name, value, verify=KEEP)
    elif name in PATH_ARGS and isinstance(value, str) and value and not Path(value).expanduser().is_absolute() \
            and not _remote(name, value, base):
        path = resolve(value, base)
        draft.arg(source, key, value, name, str(path), f"relative to {base}", verify=KEEP)
    else:
        draft.arg(source, key, value, name, value, verify=KEEP)


def _remote(name: str, value: str, base: Path) -> bool:
    """A Hugging Face repo id ('org/model') for the base model, not a relative path."""
    return (name == "pretrained_model_name_or_path" and value.count("/") == 1 and not value.startswith((".", "~"))
            and not value.endswith((".safetensors", ".ckpt", ".pt", ".bin", ".sft")) and not (base / value).exists())


def read_dataset_file(path: Path, draft: Draft, backend: str | None = None, cwd: Path | None = None) -> None:
    """A dataset TOML (sd-scripts or musubi dialect, told apart by its keys) into `draft`.

    Read again (named on its own, then by a command line that says the folder the trainer ran in), the later
    reading's image folders replace the earlier ones.
    """
    data = load_toml(path)
    if not is_dataset_config(data):
        raise ConfigError(f"{path} is not a dataset config ([general] and [[datasets]] only)")
    key = path.resolve()
    for earlier in draft.dataset_files.pop(key, []):
        if earlier in draft.datasets:
            draft.datasets.remove(earlier)
    before = len(draft.datasets)
    if is_musubi_dataset(data) or (backend == "musubi" and not any("subsets" in d for d in data["datasets"])):
        musubi.read_dataset(data, path, draft, cwd)
    else:
        read_sd_scripts_dataset(data, path, draft, cwd)
    draft.dataset_files[key] = draft.datasets[before:]


def read_sd_scripts_dataset(data: dict, path: Path, draft: Draft, cwd: Path | None = None) -> None:
    """sd-scripts' --dataset_config dialect."""
    source = path.name
    general = data.get("general") or {}
    part = DatasetPart(source)
    inherited: dict[str, Any] = {}
    for key, value in general.items():
        where = f"general.{key}"
        if key == "resolution":
            musubi.read_resolution(value, source, where, draft)
        elif key in DATASET_ARGS:
            draft.arg(source, where, value, DATASET_ARGS[key], value, verify=KEEP)
        elif key in GENERAL_ONLY_SKIP:
            draft.drop(source, where, value, "unsupported", GENERAL_ONLY_SKIP[key])
        elif key in UNSUPPORTED_SUBSET:
            draft.drop(source, where, value, "unsupported", UNSUPPORTED_SUBSET[key])
        elif key == "caption_extension":
            part.caption_extension = str(value)
            draft.arg(source, where, value, "caption_extension", value, verify=KEEP)
        elif key == "num_repeats" or key == "class_tokens" or key == "is_reg":
            inherited[key] = value
            draft.report.mapped(source, where, value, "dataset", value, "applies to every subset")
        elif key in SUBSET_OPTION_TYPES:
            draft.arg(source, where, value, key, value, "sd-scripts falls back to this argument for every subset",
                      verify=KEEP)
        else:
            draft.drop(source, where, value, "unknown", "not a key of sd-scripts' dataset config")
    for index, dataset in enumerate(data.get("datasets", [])):
        _dataset(index, dataset, dict(inherited), part, source, (cwd or path.parent, path.parent), draft)
    if part.subsets:
        draft.datasets.append(part)


def _dataset(index: int, dataset: dict, inherited: dict, part: DatasetPart, source: str, base: tuple[Path, Path],
             draft: Draft) -> None:
    prefix = f"datasets[{index}]"
    for key, value in dataset.items():
        where = f"{prefix}.{key}"
        if key == "subsets":
            continue
        if index > 0 and (key == "resolution" or key in DATASET_ARGS):
            draft.drop(source, where, value, "unsupported",
                       "loratui writes one dataset block; the first dataset's value applies to all subsets")
        elif key == "resolution":
            musubi.read_resolution(value, source, where, draft)
        elif key in DATASET_ARGS:
            draft.arg(source, where, value, DATASET_ARGS[key], value, verify=KEEP)
        elif key in GENERAL_ONLY_SKIP:
            draft.drop(source, where, value, "unsupported", GENERAL_ONLY_SKIP[key])
        elif key in SUBSET_OPTION_TYPES or key in SUBSET_FIELDS or key in UNSUPPORTED_SUBSET:
            inherited[key] = value
            draft.report.mapped(source, where, value, "dataset", value, "applies to the subsets of this dataset")
        else:
            draft.drop(source, where, value, "unknown", "not a key of sd-scripts' dataset config")
    subsets = dataset.get("subsets") or []
    if not subsets:
        draft.drop(source, f"{prefix}.subsets", [], "empty", "a dataset without subsets trains nothing")
    for number_, subset in enumerate(subsets):
        if not isinstance(subset, dict):
            continue
        values = {**inherited, **subset}
        where = f"{prefix}.subsets[{number_}]"
        if "image_dir" not in values:
            reason = UNSUPPORTED_SUBSET["metadata_file"] if "metadata_file" in values else "no image_dir"
            draft.drop(source, where, subset, "unsupported", reason)
            continue
        part.subsets.append(source_subset(values, source, where, base))


def source_subset(values: dict, source: str, where: str, base: tuple[Path, Path]) -> SourceSubset:
    """A SourceSubset from one subset's effective keys (own + inherited); `base`: the folder the trainer ran in
    and the dataset file's own folder (relative image_dir are the trainer's cwd's, else the file's)."""
    subset = SourceSubset(resolve_in(values["image_dir"], *base), source, where)
    try:
        if "num_repeats" in values:
            subset.num_repeats = number(values["num_repeats"], integer=True)
        if "keep_tokens" in values:
            subset.keep_tokens = number(values["keep_tokens"], integer=True)
        if "is_reg" in values:
            subset.is_reg = flag(values["is_reg"])
    except BadValue as exc:
        subset.dropped["value"] = str(exc)
    if "class_tokens" in values:
        subset.class_tokens = str(values["class_tokens"])
    if "caption_extension" in values:
        subset.caption_extension = str(values["caption_extension"])
    for key, value in values.items():
        if key in SUBSET_FIELDS:
            continue
        if key in SUBSET_OPTION_TYPES:
            subset.options[key] = value
        elif key in UNSUPPORTED_SUBSET:
            subset.dropped[key] = UNSUPPORTED_SUBSET[key]
        else:
            subset.dropped[key] = "not a subset key of sd-scripts' dataset config"
    return subset
