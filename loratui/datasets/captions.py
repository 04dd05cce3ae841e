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
import stat
from dataclasses import dataclass
from pathlib import Path

from loratui.datasets.codec import decode_caption, encode_caption
from loratui.fsutil import atomic_write_bytes

__all__ = ["CaptionFile", "MAX_CAPTION_BYTES", "caption_path_for", "decode_caption", "format_tags", "parse_tags",
           "read_caption", "write_caption"]

MAX_CAPTION_BYTES = 1024 * 1024
"""Captions larger than this are not loaded (a caption is a few hundred bytes; 1 MiB is a mistake)."""

LINKED_WARNING = "caption file is a symbolic link: not read, and loratui never writes through it or replaces it"
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class CaptionFile:
    """What was read from a caption file."""

    text: str | None
    """Decoded text (BOM removed, line endings kept); None when not loaded (too large, or a link)."""
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


def read_caption(path: Path, max_bytes: int = MAX_CAPTION_BYTES) -> CaptionFile | None:
    """Read a caption file without following a link; None if it does not exist. Never raises for odd content."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        st = os.lstat(path)
        return CaptionFile(text=None, encoding="", size=st.st_size, mtime_ns=st.st_mtime_ns, warning=LINKED_WARNING,
                           linked=True)
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_size > max_bytes:
            mb = st.st_size / (1024 * 1024)
            return CaptionFile(
                text=None,
                encoding="",
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                warning=f"caption file is {mb:.1f} MiB, over the {max_bytes // 1024} KiB limit: not loaded",
            )
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    text, encoding, warning = decode_caption(data)
    return CaptionFile(text=text, encoding=encoding, size=st.st_size, mtime_ns=st.st_mtime_ns, warning=warning,
                       sha256=hashlib.sha256(data).hexdigest())


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
