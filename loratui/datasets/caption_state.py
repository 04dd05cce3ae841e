"""What a caption path holds right now, and whether a write may replace it (file work: worker threads only).

A write of a caption is based on some content: the text a batch preview transformed, the text the editor
loaded, one side of a journaled change. It may replace the file only while the file still holds that content
(its ``Basis``). Change detection here is by content, never by timestamps: two writes within one tick of the
file system's clock leave the same size and mtime_ns (issue 13 found 10 such rows after a race), but never the
same bytes unless the content really is the same, and then nothing is lost.

Cost: every caption is read (without following links) before it is replaced; captions are small and the read
is served from the page cache in a few microseconds, a fraction of the rename itself. Right before the rename
the file is checked again (``Snapshot.changed_since``) with one ``lstat``: device, inode, size, mtime and ctime
must be those seen when it was read. Any write changes ctime; only a write within the same clock tick as the
read could leave all five equal, so when the file's ctime is that recent (``RACY_NS``, as git does for its
index) the bytes are compared again as well.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from dataclasses import dataclass

from loratui.datasets.codec import decode_caption

MAX_CAPTION_BYTES = 1024 * 1024
"""Captions larger than this are not loaded (a caption is a few hundred bytes; 1 MiB is a mistake)."""
LINKED_WARNING = "caption file is a symbolic link: not read, and loratui never writes through it or replaces it"

RACY_NS = 2_000_000_000
"""A file whose ctime is this close to the moment it was read is compared by content again before a rename
(timestamps come from a coarse clock, 1-10 ms on Linux and 2 s on FAT)."""

ABSENT, FILE, LINK, OTHER, LARGE = "absent", "file", "link", "other", "large"
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


@dataclass(frozen=True)
class Snapshot:
    """A caption path as read, without following a link: absent, a regular file (with its bytes), a link, a
    file too large to be a caption, or something else (a folder, a FIFO)."""

    state: str
    data: bytes | None = None
    identity: tuple[int, int, int, int, int] | None = None
    read_ns: int = 0
    """Wall-clock time just before the read (compared with the file's ctime: see ``RACY_NS``)."""

    @property
    def text(self) -> str | None:
        """The decoded text of a regular file (None otherwise)."""
        return decode_caption(self.data)[0] if self.data is not None else None

    @property
    def encoding(self) -> str | None:
        """The file's encoding (see ``codec.ENCODINGS``); None when it is not a readable regular file."""
        return decode_caption(self.data)[1] if self.data is not None else None

    @property
    def size(self) -> int | None:
        """Size in bytes (None when absent)."""
        return self.identity[2] if self.identity is not None else None

    @property
    def mtime_ns(self) -> int | None:
        """mtime_ns (None when absent)."""
        return self.identity[3] if self.identity is not None else None

    def refusal(self) -> str | None:
        """Why no write may touch this path whatever the caller wants (a link or a special file), or None."""
        if self.state == LINK:
            return LINKED_WARNING
        if self.state == OTHER:
            return "the caption path is not a regular file: left alone"
        if self.state == LARGE:
            return f"caption file is over {MAX_CAPTION_BYTES // 1024} KiB: not loaded, so not replaced"
        return None

    def changed_since(self, path: str) -> str | None:
        """None when `path` is still what this snapshot saw; else why not (checked right before a rename)."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None if self.state == ABSENT else "caption file was deleted since loratui read it"
        if self.state == ABSENT:
            return "a caption file appeared since loratui read it"
        if stat.S_ISLNK(st.st_mode) and self.state != LINK:
            return "caption file was replaced by a symbolic link since loratui read it"
        if _identity(st) != self.identity:
            return CHANGED
        if self.state == FILE and st.st_ctime_ns >= self.read_ns - RACY_NS and read_snapshot(path).data != self.data:
            return CHANGED
        return None


CHANGED = "caption file changed on disk since loratui read it (rescan to pick it up)"


def read_snapshot(path: str, max_bytes: int = MAX_CAPTION_BYTES) -> Snapshot:
    """Read what `path` holds now, never following a link and never blocking on a special file."""
    read_ns = time.time_ns()
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        return Snapshot(ABSENT, read_ns=read_ns)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        return Snapshot(LINK, identity=_identity(os.lstat(path)), read_ns=read_ns)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return Snapshot(OTHER, identity=_identity(st), read_ns=read_ns)
        if st.st_size > max_bytes:
            return Snapshot(LARGE, identity=_identity(st), read_ns=read_ns)
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        return Snapshot(LARGE, identity=_identity(st), read_ns=read_ns)
    return Snapshot(FILE, data, _identity(st), read_ns)


@dataclass(frozen=True)
class Basis:
    """The content a caption write was computed from: the write goes ahead only while the file holds it."""

    present: bool
    sha256: str | None = None
    """Of the file's bytes."""
    text: str | None = None
    """Compared instead when the bytes were never hashed (images indexed before migration 0080)."""

    @classmethod
    def absent(cls) -> "Basis":
        """No caption file."""
        return cls(False)

    @classmethod
    def of_bytes(cls, data: bytes) -> "Basis":
        """Exactly these bytes."""
        return cls(True, sha256=hashlib.sha256(data).hexdigest())

    @classmethod
    def of_sha256(cls, sha256: str | None) -> "Basis":
        """The file whose bytes hash to `sha256`; None: no file."""
        return cls.absent() if sha256 is None else cls(True, sha256=sha256)

    @classmethod
    def of_row(cls, caption: str | None, caption_size: int | None, caption_sha256: str | None) -> "Basis":
        """What the store says the file holds (images.caption, caption_size, caption_sha256)."""
        if caption_size is None:
            return cls.absent()
        if caption_sha256 is not None:
            return cls(True, sha256=caption_sha256)
        return cls(True, text=caption)

    def matches(self, snapshot: Snapshot) -> bool:
        """True when `snapshot` holds this content."""
        if not self.present:
            return snapshot.state == ABSENT
        if snapshot.state != FILE:
            return False
        if self.sha256 is not None:
            return hashlib.sha256(snapshot.data).hexdigest() == self.sha256
        return self.text is not None and snapshot.text == self.text

    def mismatch(self, snapshot: Snapshot) -> str:
        """Why `snapshot` does not hold this content, in words."""
        if snapshot.state == ABSENT:
            return "caption file was deleted since loratui read it"
        if not self.present:
            return "a caption file appeared since loratui read it"
        return CHANGED
