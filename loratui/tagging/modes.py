"""How new tagger/captioner output combines with a caption an image already has."""

from __future__ import annotations

from enum import Enum

from loratui.datasets.captions import parse_tags
from loratui.errors import InputError


class Mode(str, Enum):
    """What to do with images that already have a caption."""

    SKIP_EXISTING = "skip-existing"
    """Leave captioned images alone (the default: never wipes work by surprise)."""
    OVERWRITE = "overwrite"
    """Replace the caption."""
    APPEND = "append"
    """Keep the caption and add the new tags it lacks (tags) or the new text after it (captions)."""
    PREPEND = "prepend"
    """Captioning only: the new caption text goes before the existing tags."""


TAG_MODES = (Mode.SKIP_EXISTING, Mode.OVERWRITE, Mode.APPEND)
CAPTION_MODES = (Mode.SKIP_EXISTING, Mode.OVERWRITE, Mode.APPEND, Mode.PREPEND)


def parse_mode(value: str, allowed: tuple[Mode, ...] = CAPTION_MODES) -> Mode:
    """A Mode from its name; InputError listing the allowed ones otherwise."""
    try:
        mode = Mode(value)
    except ValueError:
        mode = None
    if mode not in allowed:
        names = ", ".join(m.value for m in allowed)
        raise InputError(f"unknown mode {value!r} (choose one of: {names})")
    return mode


def has_caption(text: str | None) -> bool:
    """True if the caption holds anything but whitespace."""
    return bool(text and text.strip())


def merge_tags(existing: str | None, new_tags: list[str], mode: Mode, separator: str = ", ") -> str | None:
    """The caption text after tagging, or None to leave the image alone."""
    if mode == Mode.SKIP_EXISTING and has_caption(existing):
        return None
    if mode == Mode.APPEND and has_caption(existing):
        old = parse_tags(existing, separator.strip() or ",")
        present = set(old)
        return separator.join(old + [t for t in new_tags if t not in present])
    return separator.join(new_tags)


def merge_caption(existing: str | None, caption: str, mode: Mode, separator: str = ", ") -> str | None:
    """The caption text after captioning, or None to leave the image alone."""
    caption = caption.strip()
    if not has_caption(existing) or mode == Mode.OVERWRITE:
        return caption
    if mode == Mode.SKIP_EXISTING:
        return None
    old = existing.strip()
    if caption in old:
        return old
    if mode == Mode.PREPEND:
        return f"{caption}{separator}{old}"
    return f"{old}{separator}{caption}"
