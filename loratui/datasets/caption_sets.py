"""Caption sets: several captions per image, one per sidecar extension (booru tags in ``.txt``, prose in
``.caption``), each trained on by choosing it as the trainer's ``caption_extension``.

The dataset's own extension (``Dataset.caption_ext``, ``.txt`` by default) is the primary set, indexed in the
``images`` table as it always was. A scan finds the other sets by their sidecars next to images (the extensions in
``DISCOVERED``) and the user can add any other (``add_set``); those are indexed by ``caption_set_repo``. The files
stay the source of truth for every set, and every write to any set goes through the journal under the dataset's
writer lock (``journal.apply_caption_changes(..., caption_set=...)``), undoable like the primary set's.

A set is passed around as its extension; ``set_key`` turns it into what the repositories take (None for the
primary set).
"""

from __future__ import annotations

from dataclasses import dataclass

from loratui.datasets import caption_set_repo
from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.filekinds import normalise_caption_ext
from loratui.errors import InputError
from loratui.store import Store

DISCOVERED = (".txt", ".caption", ".cap", ".tags", ".md", ".text", ".prompt")
"""Sidecar extensions a scan recognises as caption sets when such a file sits next to an image. Others are added
with ``loratui captions sets NAME --add .EXT``."""


@dataclass(frozen=True)
class CaptionSetInfo:
    """One caption set of a dataset with its counts."""

    ext: str
    primary: bool
    source: str
    """'primary' (the dataset's extension), 'found' by a scan or 'added' by the user."""
    images: int
    files: int
    """Images with a sidecar in this set."""
    captioned: int
    """Images whose sidecar is not blank."""
    warnings: int

    @property
    def missing(self) -> int:
        """Images without a sidecar in this set."""
        return self.images - self.files

    def to_dict(self) -> dict:
        """For --json."""
        return {"ext": self.ext, "primary": self.primary, "source": self.source, "images": self.images,
                "files": self.files, "captioned": self.captioned, "missing": self.missing,
                "warnings": self.warnings}


def set_key(dataset: Dataset, ext: str | None) -> str | None:
    """What the repositories take for the set `ext` of `dataset`: None for the primary set (or `ext` None), else
    the normalised extension. InputError for an extension that cannot be a caption set."""
    if ext is None:
        return None
    ext = normalise_caption_ext(ext)
    return None if ext == dataset.caption_ext else ext


def set_ext(dataset: Dataset, key: str | None) -> str:
    """The extension of the set `key` (``set_key``'s result)."""
    return dataset.caption_ext if key is None else key


async def list_sets(store: Store, dataset: Dataset) -> list[CaptionSetInfo]:
    """The dataset's caption sets, primary first, with their counts."""
    primary = await store.run(caption_set_repo.primary_summary, dataset.id)
    sets = [CaptionSetInfo(dataset.caption_ext, True, "primary", primary["images"], primary["files"],
                           primary["captioned"], primary["warnings"])]
    for row in await store.run(caption_set_repo.set_summaries, dataset.id):
        sets.append(CaptionSetInfo(row["ext"], False, row["source"], primary["images"], row["files"],
                                   row["captioned"], row["warnings"]))
    return sets


async def known_key(store: Store, dataset: Dataset, ext: str | None) -> str | None:
    """``set_key`` for a set the dataset has (primary, found or added); InputError naming the sets otherwise."""
    key = set_key(dataset, ext)
    if key is None:
        return None
    exts = await store.run(caption_set_repo.set_exts, dataset.id)
    if key not in exts:
        have = ", ".join([dataset.caption_ext, *exts])
        raise InputError(f"dataset {dataset.name!r} has no caption set {key!r} (it has {have})",
                         hint=f"add it with `loratui captions sets {dataset.name} --add {key}` (then it can be "
                              "written, e.g. by `loratui captions copy`)")
    return key


async def add_set(store: Store, dataset: Dataset, ext: str) -> tuple[str, bool]:
    """Add a caption set to a dataset; its sidecars already on disk are indexed by the next scan (callers that
    write to the set right away rescan first: ``journal.refresh_index``). Returns (extension, True when it is new);
    the dataset's own extension is never added (it is the primary set)."""
    key = set_key(dataset, ext)
    if key is None:
        return dataset.caption_ext, False
    added = await store.run(caption_set_repo.register_sets, dataset.id, [key], "added")
    return key, bool(added)


def trained_set(dataset: Dataset, caption_extension: object) -> str | None:
    """The caption set a training reads (``set_key``), from its ``caption_extension`` value (None or not a usable
    extension: the primary set; the training check reports an unusable one)."""
    if not isinstance(caption_extension, str) or not caption_extension:
        return None
    try:
        return set_key(dataset, caption_extension)
    except InputError:
        return None
