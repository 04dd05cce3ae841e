"""Caption sidecar files: tolerant reading, tag parsing and atomic writes.

The ``.txt`` (or configured extension) file next to an image is the source of truth. Reading never
mangles text silently: UTF-8 (with or without BOM) is read as is; anything else is decoded as
cp1252/Latin-1 and the caller gets a warning to show. Writes are atomic (see ``fsutil``).
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass
from pathlib import Path

from loratui.fsutil import FileRefused, atomic_write_bytes, open_regular

MAX_CAPTION_BYTES = 1024 * 1024
"""Captions larger than this are not loaded (a caption is a few hundred bytes; 1 MiB is a mistake)."""


@dataclass(frozen=True)
class CaptionFile:
    """What was read from a caption file."""

    text: str | None
    """Decoded text (BOM removed, line endings kept); None when not loaded (too large)."""
    encoding: str
    """'utf-8', 'utf-8-sig', 'cp1252' or 'latin-1' (or '' when not loaded)."""
    size: int
    mtime_ns: int
    warning: str | None = None


def caption_path_for(image_path: Path, caption_ext: str) -> Path:
    """The sidecar path for an image: same stem, caption extension (as sd-scripts builds it)."""
    return image_path.with_name(os.path.splitext(image_path.name)[0] + caption_ext)


def decode_caption(data: bytes) -> tuple[str, str, str | None]:
    """Decode caption bytes; returns (text, encoding, warning or None)."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig", None
        except UnicodeDecodeError:
            data = data[len(codecs.BOM_UTF8):]
    else:
        try:
            return data.decode("utf-8"), "utf-8", None
        except UnicodeDecodeError:
            pass
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16", "caption is UTF-16; it will be saved as UTF-8"
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode("cp1252")
        encoding = "cp1252"
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        encoding = "latin-1"
    return text, encoding, f"caption is not UTF-8; decoded as {encoding} (saving rewrites it as UTF-8)"


def read_caption(path: Path, max_bytes: int = MAX_CAPTION_BYTES, *, root: Path | None = None) -> CaptionFile | None:
    """Read a caption file; None if it does not exist or is a symlink (never followed). Never raises for odd content.

    With `root` (the dataset folder) nothing outside it is opened (``fsutil.open_regular``). A caption that exists
    but cannot be read (a folder, a FIFO, a device, no permission, too large) comes back with ``text=None`` and a
    warning: present, not loaded, never edited.
    """
    try:
        handle, st = open_regular(path, root=root)
    except FileRefused as exc:
        return _unread_caption(exc)
    with handle:
        if st.st_size > max_bytes:
            mb = st.st_size / (1024 * 1024)
            return CaptionFile(
                text=None,
                encoding="",
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                warning=f"caption file is {mb:.1f} MiB, over the {max_bytes // 1024} KiB limit: not loaded",
            )
        data = handle.read(max_bytes + 1)
    text, encoding, warning = decode_caption(data)
    return CaptionFile(text=text, encoding=encoding, size=st.st_size, mtime_ns=st.st_mtime_ns, warning=warning)


def _unread_caption(refused: FileRefused) -> CaptionFile | None:
    """A caption that is there but was not read: absent when missing or a symlink, otherwise a warning."""
    if refused.kind in ("missing", "symlink", "outside") or refused.stat is None:
        return None
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


def write_caption(path: Path, text: str) -> int:
    """Atomically write a caption as UTF-8 (no BOM); returns the new mtime_ns."""
    atomic_write_bytes(path, text.encode("utf-8"))
    return os.stat(path).st_mtime_ns
