"""Rebuilding captions from stored tagger scores with new thresholds and options (no model needed)."""

from __future__ import annotations

from dataclasses import dataclass, field

from loratui.datasets.journal import CaptionChange, apply_caption_changes
from loratui.datasets.dataset_repo import Dataset
from loratui.errors import InputError
from loratui.store import Store
from loratui.tagging.modes import Mode, merge_tags
from loratui.tagging.options import TagCounter, TagNamer, TagOptions
from loratui.tagging.scores import SCORE_FLOOR, load_scores, pick_model
from loratui.tagging.wd14 import caption_basis, existing_caption, select_images


@dataclass
class RethresholdReport:
    """What a re-threshold did."""

    model: str
    images: int = 0
    written: int = 0
    unchanged: int = 0
    skipped_existing: int = 0
    conflicts: list[str] = field(default_factory=list)
    operation_id: int | None = None
    top_tags: list[tuple[str, int]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.written} captions rewritten from stored {self.model} scores, {self.unchanged} unchanged"
        if self.skipped_existing:
            text += f", {self.skipped_existing} skipped (already captioned)"
        if self.conflicts:
            text += f", {len(self.conflicts)} left alone (caption changed on disk; rescan first)"
        return text


async def rethreshold_dataset(store: Store, dataset: Dataset, options: TagOptions, mode: Mode, *,
                              model_key: str | None = None, image_ids: list[int] | None = None) -> RethresholdReport:
    """Rebuild captions from stored scores with new thresholds/options (no model needed)."""
    if options.min_threshold < SCORE_FLOOR:
        raise InputError(f"scores below {SCORE_FLOOR} are not stored, so thresholds under it cannot be applied "
                         "without the model", hint="run `loratui tag` again with --mode overwrite")
    model = await pick_model(store, dataset.id, dataset.name, model_key)
    labels, per_image = await load_scores(store, dataset.id, model, image_ids)
    namer = TagNamer(labels, options)
    counter = TagCounter()
    report = RethresholdReport(model=model)
    changes = []
    for row in await select_images(store, dataset, image_ids):
        scores = per_image.get(row["id"])
        if scores is None:
            continue
        report.images += 1
        tags = namer.select(scores)
        counter.add(tags)
        text = merge_tags(existing_caption(row), tags, mode, options.separator)
        if text is None:
            report.skipped_existing += 1
        elif text == row["caption"]:
            report.unchanged += 1
        else:
            changes.append(CaptionChange(row["id"], text, caption_basis(row)))
    params = {"model": model, "options": options.as_params(), "mode": mode.value, "rethreshold": True}
    result = await apply_caption_changes(store, dataset, changes, kind="tag", params=params,
                                         description=f"re-thresholded {model} scores")
    report.operation_id = result.operation_id
    report.written = result.changed
    report.unchanged += len(changes) - result.changed - len(result.skipped)
    report.conflicts = [path for path, _ in result.skipped]
    report.top_tags = counter.top()
    return report
