"""musubi-tuner's dataset TOML (``src/musubi_tuner/dataset/config_utils.py``, ``docs/dataset_config.md``).

``[general]`` holds defaults (caption_extension, batch_size, num_repeats, resolution, enable_bucket,
bucket_no_upscale); each ``[[datasets]]`` entry is one folder with its own cache folder. An image folder becomes a
subset of the loratui dataset (loratui writes one ``[[datasets]]`` entry per subset, with caches in the job folder);
video datasets, JSONL datasets and control images (edit models) are reported as not supported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loratui.training.imports.draft import KEEP, DatasetPart, Draft, SourceSubset
from loratui.training.imports.values import BadValue, number, resolve_in

GENERAL_ARGS = {"batch_size": "train_batch_size", "enable_bucket": "enable_bucket",
                "bucket_no_upscale": "bucket_no_upscale"}
UNSUPPORTED = {
    "video_directory": "video datasets are not supported by loratui yet",
    "video_jsonl_file": "video datasets are not supported by loratui yet",
    "image_jsonl_file": "JSONL datasets are not supported: loratui trains caption files next to images",
    "control_directory": "control images (edit models) are not supported by this import yet",
    "control_resolution": "control images (edit models) are not supported by this import yet",
    "no_resize_control": "control images (edit models) are not supported by this import yet",
    "multiple_target": "layered targets are not supported",
}
CACHE_NOTE = "loratui keeps each subset's cache in the job folder"


def read_dataset(data: dict, path: Path, draft: Draft, cwd: Path | None = None) -> None:
    """A musubi dataset TOML (already parsed) into `draft`; relative folders are `cwd`'s (the folder the trainer
    ran in), else the file's."""
    source = path.name
    part = DatasetPart(source)
    general = data.get("general") or {}
    repeats_default: Any = None
    for key, value in general.items():
        where = f"general.{key}"
        if key == "resolution":
            read_resolution(value, source, where, draft)
        elif key in GENERAL_ARGS:
            draft.arg(source, where, value, GENERAL_ARGS[key], value, verify=KEEP)
        elif key == "caption_extension":
            part.caption_extension = str(value)
            draft.arg(source, where, value, "caption_extension", value, verify=KEEP)
        elif key == "num_repeats":
            repeats_default = value
            draft.report.mapped(source, where, value, "dataset", value, "applies to every subset")
        else:
            draft.drop(source, where, value, "unknown", "not a [general] key of musubi-tuner's dataset config")
    for index, dataset in enumerate(data.get("datasets", [])):
        prefix = f"datasets[{index}]"
        folder = dataset.get("image_directory")
        for key, value in dataset.items():
            where = f"{prefix}.{key}"
            if key == "image_directory":
                continue
            if key in UNSUPPORTED:
                draft.drop(source, where, value, "unsupported", UNSUPPORTED[key])
            elif key == "cache_directory":
                draft.drop(source, where, value, "computed", CACHE_NOTE)
            elif key in ("resolution",) + tuple(GENERAL_ARGS):
                if index == 0:
                    if key == "resolution":
                        read_resolution(value, source, where, draft)
                    else:
                        draft.arg(source, where, value, GENERAL_ARGS[key], value, verify=KEEP)
                else:
                    draft.drop(source, where, value, "unsupported",
                               "loratui writes the same value for every folder; the first dataset's applies")
            elif key in ("num_repeats", "caption_extension"):
                continue
            else:
                draft.drop(source, where, value, "unknown", "not a key loratui can carry over")
        if not folder:
            continue
        subset = SourceSubset(resolve_in(folder, cwd or path.parent, path.parent), source,
                              f"{prefix}.image_directory")
        try:
            subset.num_repeats = number(dataset.get("num_repeats", repeats_default), integer=True)
        except BadValue as exc:
            subset.dropped["num_repeats"] = str(exc)
        extension = dataset.get("caption_extension", part.caption_extension)
        subset.caption_extension = str(extension) if extension else None
        part.subsets.append(subset)
    if part.subsets:
        draft.datasets.append(part)


def read_resolution(value: Any, source: str, where: str, draft: Draft) -> None:
    """A dataset TOML's `resolution` (a size or [width, height]) as the config's `resolution` arg."""
    if isinstance(value, list) and len(value) == 2:
        draft.arg(source, where, value, "resolution", f"{int(value[0])},{int(value[1])}", verify=KEEP)
    elif isinstance(value, int) and not isinstance(value, bool):
        draft.arg(source, where, value, "resolution", f"{value},{value}", verify=KEEP)
    else:
        draft.drop(source, where, value, "invalid", "resolution must be a size or [width, height]")
