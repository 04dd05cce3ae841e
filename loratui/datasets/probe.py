"""Probe one image file: header facts, sha256, perceptual hash, preview thumbnail. Runs in worker processes.

Only what the perceptual hash needs is decoded: JPEGs use PIL's draft mode (DCT scaling) so a
1024x1536 photo decodes at 1/8 size. The preview thumbnail (``loratui.datasets.thumbnails``) is made from that
same decoded image. Anything wrong with the file becomes ``status='broken'`` with a reason;
this function does not raise for bad files.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import asdict, dataclass

from loratui.fsutil import sha256_file

MAX_IMAGE_PIXELS = 16384 * 16384
"""Larger declared sizes are treated as decompression bombs (PIL refuses at twice its own limit)."""

BIG_FILE = 64 * 1024 * 1024
"""Files above this are hashed in chunks instead of being read into memory at once."""

PHASH_DRAFT = (128, 128)
"""JPEGs are decoded at the smallest DCT scale (1/8 .. 1) that keeps both sides at least this large: enough for the
perceptual hash (32x32) and for a full-size preview thumbnail (``thumbnails.THUMB_MAX``)."""


@dataclass
class ProbeResult:
    """One image's facts, as stored in the ``images`` table."""

    rel_path: str
    size: int
    mtime_ns: int
    sha256: str | None = None
    phash: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    mode: str | None = None
    has_alpha: bool | None = None
    orientation: int = 1
    frames: int = 1
    status: str = "ok"
    reason: str | None = None
    thumbnail: bytes | None = None
    """A small JPEG for the TUI's preview (None for broken images)."""
    thumb_width: int | None = None
    thumb_height: int | None = None

    def as_dict(self) -> dict:
        """Plain dict for pickling across processes and for the DB."""
        return asdict(self)


def _phash(image) -> str:
    import imagehash
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v * (1 / 256)).convert("L")
    elif image.mode not in ("L", "RGB"):
        if image.mode in ("P", "PA", "LA", "RGBA") or "transparency" in image.info:
            # Composite on white so transparent areas hash like the trainers see them.
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba).convert("RGB")
        else:
            image = image.convert("RGB")
    return str(imagehash.phash(image))


def probe_image(path: str, rel_path: str, size: int, mtime_ns: int) -> dict:
    """Probe `path`; returns ``ProbeResult.as_dict()`` (never raises for a bad image)."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    result = ProbeResult(rel_path=rel_path, size=size, mtime_ns=mtime_ns)
    if size == 0:
        result.status, result.reason = "broken", "empty file (0 bytes)"
        return result.as_dict()
    try:
        if size <= BIG_FILE:
            with open(path, "rb") as handle:
                data = handle.read()
            result.sha256 = hashlib.sha256(data).hexdigest()
            source: object = io.BytesIO(data)
        else:
            result.sha256 = sha256_file(path)
            source = path
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                _read_header(image, result)
                if result.status == "ok":
                    if image.format == "JPEG":
                        image.draft("RGB" if image.mode not in ("L",) else "L", PHASH_DRAFT)
                    image.load()
                    result.phash = _phash(image)
                    _add_thumbnail(image, result)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        result.status, result.reason = "broken", f"decompression bomb refused: {exc}"
    except UnidentifiedImageError:
        result.status, result.reason = "broken", "not an image (unrecognised format)"
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        text = str(exc) or type(exc).__name__
        if "truncated" in text.lower():
            result.status, result.reason = "broken", f"truncated image: {text}"
        else:
            result.status, result.reason = "broken", f"cannot decode: {text}"
    except MemoryError:
        result.status, result.reason = "broken", "image too large to decode"
    return result.as_dict()


def _add_thumbnail(image, result: ProbeResult) -> None:
    from loratui.datasets.thumbnails import make_thumbnail

    try:
        result.thumbnail, result.thumb_width, result.thumb_height = make_thumbnail(image)
    except Exception:  # an odd mode or EXIF: the preview decodes the original instead
        result.thumbnail = None


def _read_header(image, result: ProbeResult) -> None:
    width, height = image.size
    result.format = image.format
    result.mode = image.mode
    result.frames = int(getattr(image, "n_frames", 1) or 1)
    result.has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    try:
        orientation = int(image.getexif().get(0x0112, 1) or 1)
    except Exception:  # malformed EXIF must not make the image unusable
        orientation = 1
    result.orientation = orientation if 1 <= orientation <= 8 else 1
    if result.orientation in (5, 6, 7, 8):
        width, height = height, width
    result.width, result.height = width, height
    if image.format == "GIF":
        frames = f"animated, {result.frames} frames" if result.frames > 1 else "1 frame"
        result.status = "broken"
        result.reason = f"GIF ({frames}) is not read by sd-scripts: convert it to PNG or JPEG"
