"""Caption sidecar files: reading without following links, tag parsing and atomic writes.

The ``.txt`` (or configured extension) file next to an image is the source of truth. Decoding and encoding are
``codec``'s (each file keeps its encoding). A caption that is a symbolic link is never read or written through:
it is reported and treated as absent (``CaptionFile.linked``), so a link to a file outside the dataset (a
secret, ``/proc/self/environ``) can never reach the index, an export or a journal.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from loratui.datasets.caption_state import LINKED_WARNING, MAX_CAPTION_BYTES
from loratui.datasets.codec import decode_caption, encode_caption
from loratui.fsutil import FileRefused, atomic_write_bytes, open_regular

__all__ = ["CaptionFile", "MAX_CAPTION_BYTES", "caption_path_for", "decode_caption", "format_tags", "parse_tags",
           "read_caption", "write_caption"]


@dataclass(frozen=True)
class CaptionFile:
    """What was read from a caption file."""

    text: str | None
    """Decoded text (BOM removed, line endings kept); None when not loaded (too large, a link, not a file)."""
    encoding: str
    """One of ``codec.ENCODINGS`` (or '' when not loaded)."""
    size: int
    mtime_ns: int
    warning: str | None = None
    sha256: str | None = None
    """Of the bytes read (None when not loaded): what a later write compares the file with."""
    linked: bool = False
    """The caption path is a symbolic link: treat the caption as absent (it was not read)."""


def caption_path_for(image_path: Path, caption_ext: str) -> Path:
    """The sidecar path for an image: same stem, caption extension (as sd-scripts builds it)."""
    return image_path.with_name(os.path.splitext(image_path.name)[0] + caption_ext)


def read_caption(path: Path, max_bytes: int = MAX_CAPTION_BYTES, *, root: Path | None = None) -> CaptionFile | None:
    """Read a caption file without following a link; None if it does not exist. Never raises for odd content.

    With `root` (the dataset folder) nothing outside it is opened and no folder below it is followed through a
    link (``fsutil.open_regular``). A caption that is a link comes back ``linked`` (treated as absent, with a
    warning); one that exists but cannot be read (a folder, a FIFO, a device, no permission, too large) comes
    back with ``text=None`` and a warning: present, not loaded, never edited.
    """
    try:
        handle, st = open_regular(path, root=root)
    except FileRefused as exc:
        return _unread_caption(exc)
    with handle:
        if st.st_size > max_bytes:
            return CaptionFile(None, "", st.st_size, st.st_mtime_ns, _too_large(st.st_size, max_bytes))
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew since fstat
        return CaptionFile(None, "", len(data), st.st_mtime_ns, _too_large(len(data), max_bytes))
    text, encoding, warning = decode_caption(data)
    return CaptionFile(text, encoding, st.st_size, st.st_mtime_ns, warning, hashlib.sha256(data).hexdigest())


def _too_large(size: int, max_bytes: int) -> str:
    return f"caption file is {size / (1024 * 1024):.1f} MiB, over the {max_bytes // 1024} KiB limit: not loaded"


def _unread_caption(refused: FileRefused) -> CaptionFile | None:
    """A caption that is there but was not read: absent when missing or outside, linked, or a warning."""
    if refused.kind in ("missing", "outside") or refused.stat is None:
        return None
    if refused.kind == "symlink":
        return CaptionFile(None, "", refused.stat.st_size, refused.stat.st_mtime_ns, LINKED_WARNING, linked=True)
    return CaptionFile(text=None, encoding="", size=refused.stat.st_size, mtime_ns=refused.stat.st_mtime_ns,
                       warning=f"caption file {refused.reason}: not loaded")


def parse_tags(text: str | None, separator: str = ",") -> list[str]:
    """Split a caption into tags: comma-separated, whitespace trimmed, empty entries dropped."""
    if not text:
        return []
    flat = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", separator)
    return [tag.strip() for tag in flat.split(separator) if tag.strip()]


def format_tags(tags: list[str], separator: str = ", ") -> str:
    """Join tags back into caption text."""
    return separator.join(tags)


def write_caption(path: Path, text: str, encoding: str = "utf-8") -> int:
    """Atomically write a caption in `encoding` (see ``codec.encode_caption``); returns the new mtime_ns.

    Refuses (OSError ELOOP) to replace a symbolic link: the link would become a regular file.
    """
    if os.path.islink(path):
        raise OSError(errno.ELOOP, "caption file is a symbolic link: not replaced", str(path))
    atomic_write_bytes(path, encode_caption(text, encoding))
    return os.stat(path).st_mtime_ns
