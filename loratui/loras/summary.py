"""What a LoRA's ``__metadata__`` says about how it was trained.

sd-scripts writes every value as a string (``"None"`` for unset, Python reprs such as ``"(64, 64)"``, JSON for
``ss_dataset_dirs`` / ``ss_tag_frequency`` / ``ss_datasets``); musubi-tuner and other trainers write a subset.
``summarize`` turns that into typed fields and never fails on odd values: a value it cannot parse is shown raw.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

TRIGGER_LIMIT = 5


@dataclass
class DatasetDir:
    """One training folder: name, repeats and image count."""

    name: str
    repeats: int | None = None
    images: int | None = None


@dataclass
class TrainingSummary:
    """Typed view of the training metadata (None where the file does not say)."""

    title: str | None = None
    network_module: str | None = None
    network_args: dict[str, Any] | None = None
    network_dim: str | None = None
    network_alpha: str | None = None
    base_model_version: str | None = None
    architecture: str | None = None
    base_model_name: str | None = None
    steps: int | None = None
    max_train_steps: int | None = None
    epoch: int | None = None
    num_epochs: int | None = None
    learning_rate: float | None = None
    unet_lr: float | None = None
    text_encoder_lr: Any = None
    optimizer: str | None = None
    lr_scheduler: str | None = None
    resolution: str | None = None
    batch_size: int | None = None
    train_images: int | None = None
    mixed_precision: str | None = None
    seed: int | None = None
    training_comment: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    dataset_dirs: list[DatasetDir] = field(default_factory=list)
    tag_frequency: dict[str, dict[str, int]] = field(default_factory=dict)
    trigger_words: list[str] = field(default_factory=list)

    def top_tags(self, limit: int = 30) -> list[tuple[str, int]]:
        """Tags over all folders, most frequent first."""
        total: Counter = Counter()
        for tags in self.tag_frequency.values():
            total.update(tags)
        return sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return None if value in ("", "None", "null") else value


def _int(value: str | None) -> int | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return int(float(text))
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _json(value: str | None) -> Any:
    text = _text(value)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _resolution(meta: dict[str, str]) -> str | None:
    raw = _text(meta.get("ss_resolution"))
    if raw:
        numbers = re.findall(r"\d+", raw)
        if len(numbers) == 2:
            return f"{numbers[0]}x{numbers[1]}"
        if len(numbers) == 1:
            return f"{numbers[0]}x{numbers[0]}"
        return raw
    return _text(meta.get("modelspec.resolution"))


def _dataset_dirs(meta: dict[str, str]) -> list[DatasetDir]:
    dirs: list[DatasetDir] = []
    plain = _json(meta.get("ss_dataset_dirs"))
    if isinstance(plain, dict):
        for name, info in plain.items():
            info = info if isinstance(info, dict) else {}
            dirs.append(DatasetDir(str(name), _int(str(info.get("n_repeats"))), _int(str(info.get("img_count")))))
    datasets = _json(meta.get("ss_datasets"))
    if not dirs and isinstance(datasets, list):  # sd-scripts with --dataset_config
        for dataset in datasets:
            for subset in (dataset or {}).get("subsets", []) if isinstance(dataset, dict) else []:
                if isinstance(subset, dict):
                    name = str(subset.get("image_dir") or subset.get("metadata_file") or "?")
                    dirs.append(DatasetDir(name, _int(str(subset.get("num_repeats"))),
                                           _int(str(subset.get("img_count")))))
    return dirs


def _tag_frequency(meta: dict[str, str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    sources = [_json(meta.get("ss_tag_frequency"))]
    datasets = _json(meta.get("ss_datasets"))
    if isinstance(datasets, list):
        sources += [d.get("tag_frequency") for d in datasets if isinstance(d, dict)]
    for source in sources:
        if not isinstance(source, dict):
            continue
        for folder, tags in source.items():
            if isinstance(tags, dict):
                bucket = found.setdefault(str(folder), {})
                for tag, count in tags.items():
                    if isinstance(count, (int, float)):
                        bucket[str(tag).strip()] = bucket.get(str(tag).strip(), 0) + int(count)
    return found


def _concept(folder: str) -> str | None:
    """The class token of a kohya `N_concept` folder name."""
    name = folder.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    match = re.match(r"^\d+_(.+)$", name)
    return match.group(1).strip() if match else None


def likely_trigger_words(dirs: list[DatasetDir], tags: dict[str, dict[str, int]]) -> list[str]:
    """Guess the trigger words: kohya folder concepts that are also caption tags, then tags in every image.

    A tag that appears in every caption of a folder (the trainer saw it on each step) is what users type to
    call the LoRA up; the folder's concept name is the usual choice and is listed first. At most
    TRIGGER_LIMIT words.
    """
    words: list[str] = []
    counts = {d.name: d.images for d in dirs}
    all_tags = {tag for folder_tags in tags.values() for tag in folder_tags}
    for folder in list(tags) or [d.name for d in dirs]:
        concept = _concept(folder)
        if concept and (concept in all_tags or not all_tags) and concept not in words:
            words.append(concept)
    for folder, folder_tags in tags.items():
        images = counts.get(folder) or (max(folder_tags.values()) if folder_tags else 0)
        if not images:
            continue
        everywhere = [t for t, c in folder_tags.items() if c >= images and t]
        # Shorter tags first: a one-word token is a likelier trigger than a sentence.
        for tag in sorted(everywhere, key=lambda t: (len(t.split()), t)):
            if tag not in words:
                words.append(tag)
    return words[:TRIGGER_LIMIT]


def summarize(meta: dict[str, str]) -> TrainingSummary:
    """Typed summary of a LoRA's metadata (tolerates missing and odd values)."""
    dirs = _dataset_dirs(meta)
    tags = _tag_frequency(meta)
    text_encoder_lr = _text(meta.get("ss_text_encoder_lr"))
    if text_encoder_lr is not None:
        parsed = _float(text_encoder_lr)
        text_encoder_lr = parsed if parsed is not None else text_encoder_lr
    return TrainingSummary(
        title=_text(meta.get("modelspec.title")) or _text(meta.get("ss_output_name")),
        network_module=_text(meta.get("ss_network_module")),
        network_args=_json(meta.get("ss_network_args")),
        network_dim=_text(meta.get("ss_network_dim")),
        network_alpha=_text(meta.get("ss_network_alpha")),
        base_model_version=_text(meta.get("ss_base_model_version")),
        architecture=_text(meta.get("modelspec.architecture")),
        base_model_name=_text(meta.get("ss_sd_model_name")),
        steps=_int(meta.get("ss_steps")),
        max_train_steps=_int(meta.get("ss_max_train_steps")),
        epoch=_int(meta.get("ss_epoch")),
        num_epochs=_int(meta.get("ss_num_epochs")),
        learning_rate=_float(meta.get("ss_learning_rate")),
        unet_lr=_float(meta.get("ss_unet_lr")),
        text_encoder_lr=text_encoder_lr,
        optimizer=_text(meta.get("ss_optimizer")),
        lr_scheduler=_text(meta.get("ss_lr_scheduler")),
        resolution=_resolution(meta),
        batch_size=_int(meta.get("ss_total_batch_size")) or _int(meta.get("ss_batch_size_per_device")),
        train_images=_int(meta.get("ss_num_train_images")),
        mixed_precision=_text(meta.get("ss_mixed_precision")),
        seed=_int(meta.get("ss_seed")),
        training_comment=_text(meta.get("ss_training_comment")),
        started_at=_float(meta.get("ss_training_started_at")),
        finished_at=_float(meta.get("ss_training_finished_at")),
        dataset_dirs=dirs,
        tag_frequency=tags,
        trigger_words=likely_trigger_words(dirs, tags),
    )
