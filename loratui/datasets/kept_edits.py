"""Caption edits kept aside: the user's text when it could not be saved and nobody could be asked.

When the TUI is ended by a signal (SIGHUP, SIGTERM, a closed terminal) it saves the caption being edited. If that
caption changed on disk since it was loaded, overwriting it would silently drop the other change, and there is no
terminal left to ask on; then (and when the save fails or takes too long) the text is kept here instead:
``HOME/recovered/<dataset>/<caption path inside the dataset>``, with a line in ``HOME/recovered/recovered.log``.
The next TUI start says what is kept; the user merges it by hand and deletes the file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from loratui.fsutil import atomic_write_text

LOG_NAME = "recovered.log"


@dataclass(frozen=True)
class UnsavedEdit:
    """A caption edit not written yet: the editor's text for one image."""

    dataset: str
    rel_caption: str
    """The caption file, relative to the dataset folder."""
    caption_path: Path
    text: str
    mtime_ns: int | None
    """mtime of the caption file when the editor loaded it; None when there was no file."""

    def changed_on_disk(self) -> bool:
        """True when the caption file is not the one the editor loaded (changed, created or deleted since)."""
        try:
            mtime_ns: int | None = os.stat(self.caption_path).st_mtime_ns
        except FileNotFoundError:
            mtime_ns = None
        return mtime_ns != self.mtime_ns


def keep_edit(folder: Path, edit: UnsavedEdit, reason: str) -> Path:
    """Write the edit's text under `folder` (atomically, never over an earlier kept edit) and log why.

    Returns the file written.
    """
    target = _free_path(folder / _component(edit.dataset) / _relative(edit.rel_caption))
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, edit.text)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    line = f"{stamp}  {target.relative_to(folder)}  (caption {edit.caption_path}): {reason}\n"
    with open(folder / LOG_NAME, "a", encoding="utf-8") as log:
        log.write(line)
    return target


def kept_edits(folder: Path) -> list[Path]:
    """The kept edits under `folder`, oldest first (the log and unfinished temp files left out)."""
    if not folder.is_dir():
        return []
    found = [path for path in folder.rglob("*")
             if path.is_file() and path.name != LOG_NAME and not path.name.startswith(".")]
    return sorted(found, key=lambda path: (path.stat().st_mtime_ns, str(path)))


def _component(name: str) -> str:
    """`name` as one safe path component."""
    cleaned = name.replace("/", "_").replace("\\", "_").replace("\0", "_")
    return "_" if cleaned in ("", ".", "..") else cleaned


def _relative(rel_path: str) -> Path:
    """`rel_path` made to stay inside the folder it is joined to."""
    parts = [_component(part) for part in rel_path.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    return Path(*parts) if parts else Path("caption.txt")


def _free_path(path: Path) -> Path:
    """`path`, or `name.N.ext` with the first N that is not taken."""
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
        n += 1
    return candidate
