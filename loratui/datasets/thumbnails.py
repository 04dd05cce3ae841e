"""Preview thumbnails: a small JPEG per image, made while scanning, read by the TUI's preview.

The scan decodes every image anyway (for its perceptual hash; JPEGs at 1/8 size in draft mode), so shrinking that
to at most `THUMB_MAX` pixels and encoding it costs well under a millisecond. The TUI then draws a preview from
~5 KB instead of decoding the original: a 3 MB PNG takes 35-50 ms to inflate on a small CPU whoever decodes it,
its thumbnail about 1 ms. Thumbnails are what the preview shows, so they are stored upright (EXIF orientation
applied) with transparency composited on black, like the preview does with originals.

A thumbnail records the file's size and mtime it was made from; the reader's caller compares them with the file
on disk and decodes the original when they differ (the file changed since the last scan) or when the preview box
is larger than the thumbnail (a very large terminal).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

THUMB_MAX = 128
"""Longest side in pixels. Covers the preview box up to ~120 terminal rows of half-blocks (240 px would be twice
the storage for terminals few people have); larger boxes decode the original."""
THUMB_QUALITY = 85


@dataclass(frozen=True)
class Thumbnail:
    """One stored thumbnail and the facts needed to trust it."""

    data: bytes
    width: int
    height: int
    source_size: int
    source_mtime_ns: int
    image_width: int
    image_height: int
    """The original's displayed size (orientation applied), as the preview reports it."""

    def covers(self, width: int, height: int) -> bool:
        """True when the thumbnail has at least `width` x `height` pixels (no upscaling needed)."""
        return self.width >= width and self.height >= height

    def matches(self, path: Path) -> bool:
        """True when `path` still has the size and mtime the thumbnail was made from."""
        try:
            stat = path.stat()
        except OSError:
            return False
        return stat.st_size == self.source_size and stat.st_mtime_ns == self.source_mtime_ns


def thumbnail_size(width: int, height: int, limit: int = THUMB_MAX) -> tuple[int, int]:
    """The size of a `width` x `height` image shrunk to fit `limit` x `limit` (never enlarged)."""
    scale = min(1.0, limit / max(width, 1), limit / max(height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_display_rgb(image):
    """A PIL image as the preview shows it: upright (EXIF orientation), RGB, transparency composited on black."""
    from PIL import ImageOps

    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF: show it as stored
        pass
    return rgb_on_black(image)


def rgb_on_black(image):
    """A PIL image in RGB: 16/32-bit greys scaled to 8 bits, transparency composited on black."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def make_thumbnail(image) -> tuple[bytes, int, int]:
    """JPEG bytes and size of a loaded PIL image shrunk to fit `THUMB_MAX` (box filter), ready to store."""
    from PIL import Image

    rgb = to_display_rgb(image)
    size = thumbnail_size(*rgb.size)
    if size != rgb.size:
        rgb = rgb.resize(size, Image.Resampling.BOX, reducing_gap=2.0)
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=THUMB_QUALITY, subsampling=2)  # 4:2:0: ~40% smaller than 4:4:4
    return buffer.getvalue(), size[0], size[1]


def decode_thumbnail(thumbnail: Thumbnail, width: int, height: int):
    """The thumbnail as an RGB PIL image of exactly `width` x `height`."""
    from PIL import Image

    with Image.open(io.BytesIO(thumbnail.data)) as image:
        image = image.convert("RGB")
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BOX)
        return image
