"""Batch tag operations against a dataset: select images, preview the changes, apply them journaled.

``preview_operation`` computes every new caption (nothing is written) and remembers what each caption held
(``caption_state.Basis``: the hash of its bytes); ``apply_preview`` writes exactly that preview through the
journal, so a caption changed, deleted or made read-only between preview and apply is reported and skipped while
the rest applies. A broken image never gets a new caption file (``Preview.skipped`` says so). ``apply_operation`` (the CLI without --dry-run) holds the dataset's writer lock across both, so
an operation that waited for another one applies to its result instead of skipping what it changed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from loratui.datasets import caption_set_repo, ops, writelock
from loratui.datasets.caption_state import Basis
from loratui.datasets.captions import parse_tags
from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.journal import ApplyResult, CaptionChange, apply_caption_changes, ensure_no_interrupted
from loratui.datasets.query import compile_query
from loratui.errors import InputError
from loratui.store import Store


@dataclass(frozen=True)
class PlannedChange:
    """One caption an operation would change."""

    image_id: int
    rel_path: str
    before: str | None
    after: str
    basis: Basis
    """What the caption file held when the preview read it."""

    def tag_diff(self) -> tuple[list[str], list[str]]:
        """(removed tags, added tags); both empty when only the order changed."""
        old, new = parse_tags(self.before), parse_tags(self.after)
        old_set, new_set = set(old), set(new)
        return [t for t in old if t not in new_set], [t for t in new if t not in old_set]


@dataclass
class Preview:
    """What an operation would do: how many images it looked at and every caption it would change."""

    spec: dict
    selected: int
    changes: list[PlannedChange] = field(default_factory=list)
    where: str | None = None
    caption_set: str | None = None
    """The caption set it works on (``caption_sets.set_key``: None is the primary set)."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(image path, reason) for selected images the operation leaves alone: no caption file is ever created for a
    broken image (the trainers cannot read it; a caption would make it look ready)."""

    def sample(self, count: int = 5) -> list[PlannedChange]:
        """The first `count` changes (in path order) for a dry-run display."""
        return self.changes[:count]


async def tag_frequency(store: Store, dataset: Dataset, where: str | None = None, *,
                        caption_set: str | None = None) -> Counter:
    """How many images carry each tag in a dataset's caption set (None: the primary set), or among the images
    matching the query `where` (``caption_set_repo.images_per_tag``: a tag twice in one caption counts once)."""
    ids = (await store.run(caption_set_repo.select_ids, dataset.id, where, None, caption_set)
           if where and where.strip() else None)
    return Counter(await store.run(caption_set_repo.images_per_tag, dataset.id, ids, caption_set))


async def preview_operation(store: Store, dataset: Dataset, spec: dict, *, where: str | None = None,
                            subset: str | None = None, caption_set: str | None = None) -> Preview:
    """Compute what `spec` (see ``ops.build_transform``) would change on the selected images' captions in
    `caption_set` (None: the primary set; `where` is matched against that set too); writes nothing."""
    ops.validate_spec(spec)
    if where and where.strip():
        compile_query(where)  # parse errors before any work
    frequency = (await tag_frequency(store, dataset, caption_set=caption_set) if spec.get("op") == "sort"
                 else None)
    transform = ops.build_transform(spec, frequency)
    rows = await store.run(caption_set_repo.selection_rows, dataset.id, where, subset, caption_set)
    preview = Preview(spec=dict(spec), selected=len(rows), where=where, caption_set=caption_set)
    for image_id, rel_path, caption, size, sha256, status, reason in rows:
        if caption is None and size is not None:
            continue  # too large to load: never edited
        after = transform(caption)
        if after is not None and after != caption:
            if size is None and status == "broken":
                preview.skipped.append((rel_path, f"the image is broken ({reason or 'unreadable'}): no caption "
                                                  "file created"))
                continue
            basis = Basis.of_row(caption, size, sha256)
            preview.changes.append(PlannedChange(image_id, rel_path, caption, after, basis))
    return preview


async def apply_preview(store: Store, dataset: Dataset, preview: Preview) -> ApplyResult:
    """Apply exactly what `preview` showed (journaled; files changed since the preview are skipped).

    Refused (JobError) while an operation interrupted by a crash waits for ``history.recover``.
    """
    await ensure_no_interrupted(store, dataset)
    params = dict(preview.spec)
    if preview.where:
        params["where"] = preview.where
    if preview.spec.get("op") == "copy":
        description = describe_copy(preview.spec, dataset.caption_ext)
    else:
        description = ops.describe(preview.spec) + (f" ({preview.caption_set})" if preview.caption_set else "")
    result = await apply_caption_changes(
        store, dataset, [CaptionChange(c.image_id, c.after, c.basis) for c in preview.changes],
        kind=str(preview.spec.get("op")), params=params, description=description,
        caption_set=preview.caption_set,
    )
    result.skipped[:0] = preview.skipped
    return result


async def apply_operation(store: Store, dataset: Dataset, spec: dict, *, where: str | None = None,
                          subset: str | None = None, caption_set: str | None = None) -> tuple[Preview, ApplyResult]:
    """Preview and apply in one go, holding the dataset's writer lock across both."""
    async with writelock.writer(store, dataset, f"tags {spec.get('op')}"):
        preview = await preview_operation(store, dataset, spec, where=where, subset=subset, caption_set=caption_set)
        return preview, await apply_preview(store, dataset, preview)


async def preview_copy(store: Store, dataset: Dataset, source: str | None, target: str | None, *,
                       overwrite: bool = False, where: str | None = None, subset: str | None = None) -> Preview:
    """What copying the caption set `source` into `target` (``caption_sets.set_key`` keys) would write: each
    selected image's caption in `source` becomes its caption in `target`. Images with no `source` file are left
    alone, and so are those whose `target` caption already holds text unless `overwrite`."""
    if source == target:
        raise InputError("copying a caption set onto itself changes nothing", hint="choose another --to set")
    if where and where.strip():
        compile_query(where)
    sources = {row[0]: row for row in await store.run(caption_set_repo.selection_rows, dataset.id, where, subset,
                                                      source)}
    rows = await store.run(caption_set_repo.selection_rows, dataset.id, where, subset, target)
    preview = Preview(spec={"op": "copy", "from": source, "to": target, "overwrite": overwrite},
                      selected=len(rows), where=where, caption_set=target)
    for image_id, rel_path, caption, size, sha256, status, _reason in rows:
        text = sources[image_id][2]
        if text is None or text == caption:
            continue  # nothing to copy (no file, or too large to load), or already the same
        if caption is None and size is not None:
            preview.skipped.append((rel_path, "the target caption file is too large to edit"))
            continue
        if caption is not None and caption.strip() and not overwrite:
            preview.skipped.append((rel_path, "the target set already has a caption here (--overwrite replaces it)"))
            continue
        if size is None and status == "broken":
            continue
        preview.changes.append(PlannedChange(image_id, rel_path, caption, text, Basis.of_row(caption, size, sha256)))
    return preview


def describe_copy(spec: dict, primary_ext: str) -> str:
    """The journal's description of a copy between caption sets."""
    return f"copy captions {spec['from'] or primary_ext} -> {spec['to'] or primary_ext}"
