"""Two LoRAs side by side: which training settings, shapes and tags differ (useful after a sweep)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loratui.loras.inspect import LoraInfo

# Keys that differ between any two runs and say nothing about how they differ.
NOISY_KEYS = frozenset({
    "ss_session_id", "ss_training_started_at", "ss_training_finished_at", "sshs_model_hash", "sshs_legacy_hash",
    "modelspec.date", "modelspec.hash_sha256", "ss_tag_frequency", "ss_dataset_dirs", "ss_datasets",
    "ss_bucket_info",
})


@dataclass
class Comparison:
    """What differs between LoRA A and LoRA B."""

    a: str
    b: str
    overview: list[tuple[str, Any, Any]] = field(default_factory=list)  # (field, a, b), every row
    metadata_changed: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    metadata_same: int = 0
    modules_only_a: list[str] = field(default_factory=list)
    modules_only_b: list[str] = field(default_factory=list)
    rank_changes: list[tuple[str, int, int]] = field(default_factory=list)
    tags_only_a: list[str] = field(default_factory=list)
    tags_only_b: list[str] = field(default_factory=list)

    @property
    def differing_overview(self) -> list[tuple[str, Any, Any]]:
        """Overview rows whose values differ."""
        return [row for row in self.overview if row[1] != row[2]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "a": self.a, "b": self.b,
            "overview": [{"field": f, "a": a, "b": b, "differs": a != b} for f, a, b in self.overview],
            "metadata_changed": [{"key": k, "a": a, "b": b} for k, a, b in self.metadata_changed],
            "metadata_same": self.metadata_same,
            "modules_only_a": self.modules_only_a, "modules_only_b": self.modules_only_b,
            "rank_changes": [{"module": m, "a": a, "b": b} for m, a, b in self.rank_changes],
            "tags_only_a": self.tags_only_a, "tags_only_b": self.tags_only_b,
        }


def _overview(info: LoraInfo) -> dict[str, Any]:
    s = info.summary
    return {
        "size": info.size, "tensors": info.tensor_count, "modules": len(info.modules), "dim": info.dim,
        "alpha": info.alpha, "network module": info.network_module, "base model": info.base_model,
        "architecture": s.architecture, "steps": s.steps, "epochs": s.num_epochs, "learning rate": s.learning_rate,
        "unet lr": s.unet_lr, "text encoder lr": s.text_encoder_lr, "optimizer": s.optimizer,
        "scheduler": s.lr_scheduler, "resolution": s.resolution, "batch size": s.batch_size,
        "train images": s.train_images, "seed": s.seed, "trigger words": ", ".join(s.trigger_words),
        "dataset dirs": ", ".join(f"{d.name} x{d.repeats}" for d in s.dataset_dirs),
    }


def compare(a: LoraInfo, b: LoraInfo) -> Comparison:
    """Compare two inspected LoRAs."""
    result = Comparison(a=str(a.path), b=str(b.path))
    over_a, over_b = _overview(a), _overview(b)
    result.overview = [(key, over_a[key], over_b[key]) for key in over_a]
    for key in sorted(set(a.metadata) | set(b.metadata)):
        if key in NOISY_KEYS:
            continue
        va, vb = a.metadata.get(key), b.metadata.get(key)
        if va == vb:
            result.metadata_same += 1
        else:
            result.metadata_changed.append((key, va, vb))
    modules_a = {m.name: m for m in a.modules}
    modules_b = {m.name: m for m in b.modules}
    result.modules_only_a = sorted(set(modules_a) - set(modules_b))
    result.modules_only_b = sorted(set(modules_b) - set(modules_a))
    result.rank_changes = [(name, modules_a[name].rank, modules_b[name].rank)
                           for name in sorted(set(modules_a) & set(modules_b))
                           if modules_a[name].rank != modules_b[name].rank]
    tags_a = {t for t, _ in a.summary.top_tags(10_000)}
    tags_b = {t for t, _ in b.summary.top_tags(10_000)}
    result.tags_only_a = sorted(tags_a - tags_b)
    result.tags_only_b = sorted(tags_b - tags_a)
    return result
