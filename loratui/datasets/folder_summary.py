"""What a folder holds, told before it is added as a dataset: its kohya subsets, images and captions.

A bounded walk (at most ``MAX_ENTRIES`` directory entries and ``TIME_BUDGET_S`` seconds), so that pointing at a
huge tree answers at once with "at least N". It lists and stats nothing but directory entries (no file is
opened), skips what the scan skips (hidden entries, ``__MACOSX``, ``_duplicates``) and never follows a link to a
folder. Counts are per folder that holds images, the way the scan makes subsets of them.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from loratui.datasets.filekinds import is_image_name
from loratui.datasets.walk import SKIPPED_DIRS, SUBSET_NAME, subset_info

MAX_ENTRIES = 200_000
TIME_BUDGET_S = 1.5


@dataclass
class FolderCount:
    """Images and captions in one folder of the tree (relative path; '' for the top folder)."""

    rel_path: str
    images: int = 0
    captions: int = 0

    @property
    def repeats(self) -> int:
        """kohya repeats from an `N_name` folder name (1 otherwise)."""
        return subset_info(self.rel_path).repeats

    @property
    def class_tokens(self) -> str | None:
        """The `name` of an `N_name` folder, underscores as spaces."""
        return subset_info(self.rel_path).class_tokens


@dataclass
class FolderSummary:
    """The result of ``summarize_folder``."""

    path: Path
    folders: list[FolderCount] = field(default_factory=list)
    """Folders holding images, naturally sorted (2_x before 10_y)."""
    complete: bool = True
    """False when the walk stopped at its bound: the counts are lower limits."""
    subset_of: Path | None = None
    """Set when the folder is itself named like a kohya subset and its parent holds other such subsets: the
    parent is very likely the dataset."""
    siblings: list[str] = field(default_factory=list)
    """The other `N_name` folders beside it in that case."""

    @property
    def images(self) -> int:
        """Images found (a lower limit when not complete)."""
        return sum(f.images for f in self.folders)

    @property
    def captions(self) -> int:
        """Images found with a caption file beside them."""
        return sum(f.captions for f in self.folders)

    @property
    def subsets(self) -> list[FolderCount]:
        """Folders named like kohya subsets (`N_name`)."""
        return [f for f in self.folders if f.rel_path and SUBSET_NAME.match(f.rel_path.rsplit("/", 1)[-1])]


def natural_key(text: str) -> list:
    """Sort key putting '2_gray' before '10_photos'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def summarize_folder(path: str | os.PathLike, caption_ext: str = ".txt", *, max_entries: int = MAX_ENTRIES,
                     time_budget_s: float = TIME_BUDGET_S) -> FolderSummary:
    """Count images and captions per folder under `path` (bounded; see the module docstring).

    OSError when `path` itself cannot be listed."""
    root = Path(path)
    summary = FolderSummary(root)
    deadline = time.monotonic() + time_budget_s
    seen = 0
    stack = [""]
    first = True
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(root / rel_dir if rel_dir else root))
        except OSError:
            if first:
                raise
            continue
        first = False
        seen += len(entries)
        names = {entry.name for entry in entries}
        count = FolderCount(rel_dir)
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if name not in SKIPPED_DIRS:
                    stack.append(f"{rel_dir}/{name}" if rel_dir else name)
            elif is_image_name(name):
                count.images += 1
                if os.path.splitext(name)[0] + caption_ext in names:
                    count.captions += 1
        if count.images:
            summary.folders.append(count)
        if seen >= max_entries or time.monotonic() > deadline:
            summary.complete = not stack
            break
    summary.folders.sort(key=lambda f: natural_key(f.rel_path))
    _check_parent(summary)
    return summary


def _check_parent(summary: FolderSummary) -> None:
    """Fill `subset_of` when the folder looks like one subset among several of its parent."""
    root = summary.path
    if not SUBSET_NAME.match(root.name) or root.parent == root:
        return
    try:
        siblings = [entry.name for entry in os.scandir(root.parent)
                    if entry.name != root.name and not entry.name.startswith(".") and SUBSET_NAME.match(entry.name)
                    and entry.is_dir(follow_symlinks=False)]
    except OSError:
        return
    if siblings:
        summary.subset_of = root.parent
        summary.siblings = sorted(siblings, key=natural_key)
