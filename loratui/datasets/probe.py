"""Probe one image file: header facts, sha256, perceptual hash, preview thumbnail. Runs in worker processes.

Every image the probe calls ``ok`` is one the trainer can load: sd-scripts opens each image with a plain
``Image.open(path)`` and converts it with ``.convert("RGB")`` (Pillow's defaults: truncated files refused,
the default decompression-bomb limit), and the probe decodes the whole image stream the same way before anything
else touches it. Anything the trainer would fail on becomes ``status='broken'`` with a reason; this function does
not raise for bad files. It is no stricter than the trainer either: what Pillow tolerates (a bad CRC in IDAT,
garbage after the end, unreadable EXIF) stays ``ok``.

JPEGs are decoded no larger than the perceptual hash and the thumbnail need: PIL's draft mode (DCT scaling)
decodes a 1024x1536 photo at 1/8 size. libjpeg still entropy-decodes the whole stream in draft mode, so it reports
truncation and fatal stream errors exactly as a full decode does (measured on ~21,700 damaged JPEGs: see
``docs/benchmarks.md``). The preview thumbnail (``loratui.datasets.thumbnails``) is made from that
same decoded image.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import asdict, dataclass

from loratui.datasets.thumbnails import make_thumbnail
from loratui.fsutil import FileRefused, hash_file, open_regular

TRAINER_MAX_IMAGE_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)
"""Pillow's default ``Image.MAX_IMAGE_PIXELS``, which sd-scripts never changes: images above twice this many
pixels are refused as decompression bombs (by the trainer, so by the probe too)."""

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


def probe_image(path: str, rel_path: str, size: int, mtime_ns: int, *, root: str | None = None) -> dict:
    """Probe `path`; returns ``ProbeResult.as_dict()`` (never raises for a bad image).

    With `root` (the dataset folder) the file is opened as `rel_path` below it and never through a link that
    leaves it (``fsutil.open_regular``); a FIFO, device, folder or unreadable file becomes a broken image with the
    reason.
    """
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = TRAINER_MAX_IMAGE_PIXELS
    result = ProbeResult(rel_path=rel_path, size=size, mtime_ns=mtime_ns)
    try:
        if root is None:
            handle, _ = open_regular(path)
        else:
            handle, _ = open_regular(rel_path, root=root, follow_links_inside=True)
    except FileRefused as exc:
        result.status, result.reason = "broken", f"file {exc.reason}"
        return result.as_dict()
    with handle:
        if size == 0:
            result.status, result.reason = "broken", "empty file (0 bytes)"
        else:
            _probe_open_file(handle, size, result)
    return result.as_dict()


def _probe_open_file(handle, size: int, result: ProbeResult) -> None:
    from PIL import Image, UnidentifiedImageError

    head = b""
    try:
        if size <= BIG_FILE:
            data = handle.read()
            head = data[:12]
            result.sha256 = hashlib.sha256(data).hexdigest()
            source: object = io.BytesIO(data)
        else:
            head = handle.read(12)
            handle.seek(0)
            result.sha256 = hash_file(handle, hashlib.sha256()).hexdigest()
            handle.seek(0)
            source = handle
        with warnings.catch_warnings():
            # Pillow warns about large images and corrupt EXIF; the result already says all that matters.
            warnings.simplefilter("ignore")
            with Image.open(source) as image:
                _read_header(image, result)
                if result.status == "ok":
                    _decode_like_trainer(image)
                    _read_orientation(image, result)
                    result.phash = _phash(image)
                    _add_thumbnail(image, result)
    except Image.DecompressionBombError as exc:
        result.status, result.reason = "broken", f"decompression bomb refused (sd-scripts refuses it too): {exc}"
    except UnidentifiedImageError:
        result.status, result.reason = "broken", _unidentified_reason(_sniff_format(head))
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        result.status, result.reason = "broken", _decode_error_reason(exc, result.format or _sniff_format(head))
    except MemoryError:
        result.status, result.reason = "broken", "image too large to decode"


def _decode_like_trainer(image) -> None:
    """Decode the whole image stream and convert it as sd-scripts does; raises what the trainer would.

    This must be the first decode of `image`: after a failed ``load()`` Pillow keeps the half-decoded pixels and
    a second ``load()`` returns them without error (the reason nothing may read EXIF before this).
    """
    if image.format == "JPEG":
        image.draft("RGB" if image.mode not in ("L",) else "L", PHASH_DRAFT)
    image.load()
    if image.mode != "RGB":
        image.convert("RGB")


_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"))


def _sniff_format(head: bytes) -> str | None:
    """The format a file's first bytes announce (None when unknown): for reasons, when Pillow could not say."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)


def _unidentified_reason(fmt: str | None) -> str:
    """Pillow found no format that opens the file: a damaged header of a known format, or not an image."""
    if fmt is None:
        return "not an image (unrecognised format)"
    return f"damaged {fmt} header (a bad chunk or marker): Pillow cannot open it, nor can the trainer"


def _decode_error_reason(exc: BaseException, fmt: str | None) -> str:
    """'truncated PNG: ...' or 'cannot decode JPEG: ...', with Pillow's own words."""
    text = str(exc) or type(exc).__name__
    what = fmt or "image"
    if "truncated" in text.lower():
        return f"truncated {what}: {text}"
    return f"cannot decode {what}: {text}"


def _add_thumbnail(image, result: ProbeResult) -> None:
    try:
        result.thumbnail, result.thumb_width, result.thumb_height = make_thumbnail(image)
    except Exception:  # an odd mode or EXIF: the preview decodes the original instead
        result.thumbnail = None


def _read_header(image, result: ProbeResult) -> None:
    """Format, mode, size and frames: what the header says, without decoding pixels."""
    result.width, result.height = image.size
    result.format = image.format
    result.mode = image.mode
    result.frames = int(getattr(image, "n_frames", 1) or 1)
    result.has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if image.format == "GIF":
        frames = f"animated, {result.frames} frames" if result.frames > 1 else "1 frame"
        result.status = "broken"
        result.reason = f"GIF ({frames}) is not read by sd-scripts: convert it to PNG or JPEG"


def _orientation(image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - malformed EXIF does not bother the trainer: never make the image unusable
        pass
    # Pillow before 11 adds a second "Exif\0\0" header to a PNG eXIf chunk that already carries one (as some
    # writers do) and then cannot parse it: read the chunk without its headers.
    raw = image.info.get("exif")
    if not isinstance(raw, bytes):
        return 1
    while raw.startswith(b"Exif\x00\x00"):
        raw = raw[6:]
    try:
        from PIL import Image

        exif = Image.Exif()
        exif.load(raw)
        return int(exif.get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - as above
        return 1


def _read_orientation(image, result: ProbeResult) -> None:
    """EXIF orientation (1 when absent or unreadable); 5-8 swap the displayed width and height."""
    orientation = _orientation(image)
    result.orientation = orientation if 1 <= orientation <= 8 else 1
    if result.orientation in (5, 6, 7, 8):
        result.width, result.height = result.height, result.width
