"""Damaged PNG, JPEG and WebP files, built at test time, each with the verdict the trainer's decode gives it.

`trainer_decodes` is what sd-scripts does with every training image (`library/train_util.py`, `load_image`):
`Image.open(path)`, then `.convert("RGB")`, with Pillow's defaults (`LOAD_TRUNCATED_IMAGES` off, the default
`MAX_IMAGE_PIXELS`). `CASES` maps a file name to its builder and to the verdict measured with Pillow 13; the tests
recompute the verdict, so a Pillow that judges a file differently shows up as a failed expectation, not as a
silently wrong scan.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from PIL import Image

PILLOW_DEFAULT_MAX_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)
"""Pillow's own `Image.MAX_IMAGE_PIXELS`, which sd-scripts never changes."""


def trainer_decodes(path: Path) -> tuple[bool, str]:
    """(True, "") when the trainer's decode of `path` succeeds, else (False, the exception it raised)."""
    try:
        with Image.open(path) as image:
            image.convert("RGB")
    except Exception as exc:  # whatever it raises, the trainer stops on this file
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


# --- good sources ------------------------------------------------------------------------------------------


def _photo(size: tuple[int, int], seed: int = 1) -> Image.Image:
    """A photo-like RGB image: smooth colour fields plus noise (compresses like a photo)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    width, height = size
    small = rng.integers(0, 255, (height // 16 + 1, width // 16 + 1, 3), dtype="uint8")
    smooth = Image.fromarray(small).resize(size, Image.BICUBIC)
    noise = rng.integers(-12, 12, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(smooth, dtype="int16") + noise, 0, 255).astype("uint8"))


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif.tobytes()


@lru_cache
def good_png() -> bytes:
    """A 256x192 RGB PNG in two IDAT chunks."""
    data = _encode(_photo((256, 192)), "PNG")
    assert [kind for kind, _, _ in png_chunks(data)].count(b"IDAT") >= 2
    return data


@lru_cache
def good_jpeg(progressive: bool = False) -> bytes:
    """A 1280x1024 JPEG: large enough that the scan decodes it at 1/8 scale (draft mode)."""
    return _encode(_photo((1280, 1024), seed=2), "JPEG", quality=90, progressive=progressive)


@lru_cache
def good_webp(lossless: bool = False) -> bytes:
    """A 256x192 WebP (lossy VP8 or lossless VP8L)."""
    return _encode(_photo((256, 192), seed=3), "WEBP", quality=80, lossless=lossless)


# --- PNG surgery -------------------------------------------------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset of the chunk's length field, payload length) of each complete chunk."""
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        chunks.append((data[pos + 4:pos + 8], pos, length))
        pos += 12 + length
    return chunks


def png_chunk(kind: bytes, payload: bytes, crc: int | None = None) -> bytes:
    """One PNG chunk; its CRC is correct unless `crc` is given."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _find(data: bytes, kind: bytes, nth: int = 0) -> tuple[int, int]:
    """(offset, payload length) of the `nth` chunk of type `kind`."""
    return [(pos, length) for found, pos, length in png_chunks(data) if found == kind][nth]


def _insert_before(data: bytes, kind: bytes, chunk: bytes) -> bytes:
    pos, _ = _find(data, kind)
    return data[:pos] + chunk + data[pos:]


def _replace_idat_middle(data: bytes, garbage: bytes) -> bytes:
    """Overwrite bytes in the middle of the first IDAT's zlib data and fix its CRC: only zlib is damaged."""
    pos, length = _find(data, b"IDAT")
    payload = bytearray(data[pos + 8:pos + 8 + length])
    middle = length // 2
    payload[middle:middle + len(garbage)] = garbage
    return data[:pos] + png_chunk(b"IDAT", bytes(payload)) + data[pos + 12 + length:]


def _bad_crc(data: bytes, kind: bytes) -> bytes:
    pos, length = _find(data, kind)
    end = pos + 8 + length
    (crc,) = struct.unpack(">I", data[end:end + 4])
    return data[:end] + struct.pack(">I", crc ^ 0x5A5A5A5A) + data[end + 4:]


def _short_zlib(data: bytes) -> bytes:
    """All IDAT data in one chunk with valid CRC, but the zlib stream stops 2 KB before its end."""
    chunks = png_chunks(data)
    stream = b"".join(data[pos + 8:pos + 8 + length] for kind, pos, length in chunks if kind == b"IDAT")
    first, _ = _find(data, b"IDAT")
    iend, _ = _find(data, b"IEND")
    return data[:first] + png_chunk(b"IDAT", stream[:-2048]) + data[iend:]


def _cut_in_idat(data: bytes, nth: int, fraction: float) -> bytes:
    pos, length = _find(data, b"IDAT", nth)
    return data[:pos + 8 + int(length * fraction)]


ZLIB_GARBAGE = bytes(range(7, 256, 7)) * 4
"""Bytes that make any deflate stream invalid within a few symbols (measured: Pillow reports a broken stream)."""

TEXT = png_chunk(b"tEXt", b"Comment\x00made by a test")
EXIF = png_chunk(b"eXIf", _exif_rotated())
EXIF_GARBAGE = png_chunk(b"eXIf", b"MM\x00\x2a\x00\x00\x00\x08\xff\xff garbage, not an IFD")


def _png_exif_after_idat() -> bytes:
    return _insert_before(good_png(), b"IEND", EXIF)


# --- JPEG surgery ------------------------------------------------------------------------------------------


def _sos(data: bytes) -> int:
    """Offset of the first start-of-scan marker."""
    return data.index(b"\xff\xda")


def _cut_in_scan(data: bytes, fraction: float) -> bytes:
    start = _sos(data)
    return data[:start + int((len(data) - start) * fraction)]


def _scan_bytes_replaced(data: bytes, garbage: bytes, fraction: float = 0.5) -> bytes:
    start = _sos(data)
    at = start + int((len(data) - start) * fraction)
    return data[:at] + garbage + data[at + len(garbage):]


HUFFMAN_GARBAGE = bytes((i * 37) % 255 for i in range(200))
"""Entropy-coded noise without 0xFF: libjpeg warns ("corrupt JPEG data") and decodes on; Pillow says nothing."""

DHT_IN_SCAN = b"\xff\xc4\x00\x03\x00"
"""A Huffman-table marker with an impossible length in the middle of the scan: a fatal libjpeg error."""


def _jpeg_exif_garbage() -> bytes:
    data = good_jpeg()
    app1 = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff broken IFD"
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


# --- WebP surgery ------------------------------------------------------------------------------------------


def _webp_bitstream_replaced(data: bytes, garbage: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + garbage + data[middle + len(garbage):]


def _gray_jpeg() -> bytes:
    return _encode(_photo((1280, 1024), seed=4).convert("L"), "JPEG", quality=90)


def _cmyk_jpeg() -> bytes:
    return _encode(_photo((1280, 1024), seed=5).convert("CMYK"), "JPEG", quality=90)


def _sixteen_bit_png() -> bytes:
    import numpy as np

    return _encode(Image.fromarray(np.asarray(_photo((96, 64)).convert("L"), dtype="uint16") * 257), "PNG")


def _over_pixel_limit_png() -> bytes:
    """A tiny PNG whose header declares 13400 x 13400 pixels: just over twice Pillow's default limit."""
    ihdr = struct.pack(">IIBBBBB", 13400, 13400, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        png_chunk(b"IEND", b"")


@dataclass(frozen=True)
class Case:
    """One file: how to build it, whether the trainer's decode succeeds (measured, Pillow 13), and for a file
    that fails, words the scan's reason must contain."""

    build: Callable[[], bytes]
    decodes: bool
    reason: str = ""


TRUNCATED = "truncated"
BROKEN_STREAM = "cannot decode"
BAD_HEADER = "damaged PNG header"

CASES: dict[str, Case] = {
    # PNG. Pillow checks the CRCs of the chunks before the image data only: it never checks IDAT's CRC, and
    # reads the chunks after the image data leniently. The trainer trains on such a file, so the scan must say
    # ok too: being stricter than the trainer would drop good training images.
    "png_good.png": Case(good_png, True),
    "png_sixteen_bit.png": Case(_sixteen_bit_png, True),
    "png_zlib_damaged.png": Case(lambda: _replace_idat_middle(good_png(), ZLIB_GARBAGE), False, BROKEN_STREAM),
    # The original bug: EXIF after the image data (or none) made the scan's EXIF read decode the image first;
    # the swallowed error left Pillow's image half-loaded, the next load() returned it, and the file was "ok".
    "png_zlib_damaged_exif_after_idat.png": Case(
        lambda: _replace_idat_middle(_png_exif_after_idat(), ZLIB_GARBAGE), False, BROKEN_STREAM),
    "png_zlib_damaged_exif_before_idat.png": Case(
        lambda: _replace_idat_middle(_insert_before(good_png(), b"IDAT", EXIF), ZLIB_GARBAGE), False, BROKEN_STREAM),
    "png_zlib_stream_short.png": Case(lambda: _short_zlib(good_png()), False, TRUNCATED),
    "png_idat_bad_crc.png": Case(lambda: _bad_crc(good_png(), b"IDAT"), True),
    "png_text_bad_crc_before_idat.png": Case(
        lambda: _bad_crc(_insert_before(good_png(), b"IDAT", TEXT), b"tEXt"), False, BAD_HEADER),
    "png_text_bad_crc_after_idat.png": Case(lambda: _bad_crc(_insert_before(good_png(), b"IEND", TEXT), b"tEXt"), True),
    "png_exif_bad_crc_before_idat.png": Case(
        lambda: _bad_crc(_insert_before(good_png(), b"IDAT", EXIF), b"eXIf"), False, BAD_HEADER),
    "png_exif_bad_crc_after_idat.png": Case(lambda: _bad_crc(_png_exif_after_idat(), b"eXIf"), True),
    "png_exif_garbage_before_idat.png": Case(lambda: _insert_before(good_png(), b"IDAT", EXIF_GARBAGE), True),
    "png_exif_garbage_after_idat.png": Case(lambda: _insert_before(good_png(), b"IEND", EXIF_GARBAGE), True),
    "png_cut_in_header.png": Case(lambda: good_png()[:20], False, TRUNCATED),
    "png_cut_in_first_idat.png": Case(lambda: _cut_in_idat(good_png(), 0, 0.5), False, TRUNCATED),
    "png_cut_after_first_idat.png": Case(lambda: _cut_in_idat(good_png(), 0, 1.0), False, TRUNCATED),
    "png_cut_in_last_idat.png": Case(lambda: _cut_in_idat(good_png(), -1, 0.9), False, TRUNCATED),
    "png_cut_before_iend.png": Case(lambda: good_png()[:_find(good_png(), b"IEND")[0]], True),
    "png_cut_in_iend.png": Case(lambda: good_png()[:-6], True),
    "png_garbage_after_iend.png": Case(lambda: good_png() + b"trailing garbage" * 64, True),
    "png_over_pixel_limit.png": Case(_over_pixel_limit_png, False, "decompression bomb"),
    # JPEG. libjpeg treats bad entropy-coded data as a warning (it decodes on, with wrong pixels: the trainer
    # trains on them) and a stream that ends early, even one that lacks only its EOI marker, as an error.
    "jpg_good.jpg": Case(good_jpeg, True),
    "jpg_progressive_good.jpg": Case(lambda: good_jpeg(True), True),
    "jpg_cmyk_good.jpg": Case(_cmyk_jpeg, True),
    "jpg_cut_in_header.jpg": Case(lambda: good_jpeg()[:_sos(good_jpeg()) // 2], False, TRUNCATED),
    "jpg_cut_at_sos.jpg": Case(lambda: good_jpeg()[:_sos(good_jpeg()) + 4], False, TRUNCATED),
    "jpg_cut_in_scan_10.jpg": Case(lambda: _cut_in_scan(good_jpeg(), 0.1), False, TRUNCATED),
    "jpg_cut_in_scan_50.jpg": Case(lambda: _cut_in_scan(good_jpeg(), 0.5), False, TRUNCATED),
    "jpg_cut_in_scan_99.jpg": Case(lambda: _cut_in_scan(good_jpeg(), 0.99), False, TRUNCATED),
    "jpg_cut_before_eoi.jpg": Case(lambda: good_jpeg()[:-2], False, TRUNCATED),
    "jpg_gray_cut_in_scan.jpg": Case(lambda: _cut_in_scan(_gray_jpeg(), 0.5), False, TRUNCATED),
    "jpg_cmyk_cut_in_scan.jpg": Case(lambda: _cut_in_scan(_cmyk_jpeg(), 0.5), False, TRUNCATED),
    "jpg_progressive_cut_in_scan.jpg": Case(lambda: _cut_in_scan(good_jpeg(True), 0.5), False, TRUNCATED),
    "jpg_progressive_cut_before_eoi.jpg": Case(lambda: good_jpeg(True)[:-2], False, TRUNCATED),
    "jpg_bad_huffman_data.jpg": Case(lambda: _scan_bytes_replaced(good_jpeg(), HUFFMAN_GARBAGE), True),
    "jpg_progressive_bad_huffman_data.jpg": Case(
        lambda: _scan_bytes_replaced(good_jpeg(True), HUFFMAN_GARBAGE), True),
    "jpg_marker_in_scan.jpg": Case(lambda: _scan_bytes_replaced(good_jpeg(), DHT_IN_SCAN), False, BROKEN_STREAM),
    "jpg_garbage_after_eoi.jpg": Case(lambda: good_jpeg() + b"trailing garbage" * 64, True),
    "jpg_exif_garbage.jpg": Case(_jpeg_exif_garbage, True),
    # WebP. libwebp refuses a lossy (VP8) frame with damaged data, while damage in a lossless (VP8L) bitstream
    # decodes to wrong pixels without complaint; any truncation is refused when the file is opened.
    "webp_good.webp": Case(good_webp, True),
    "webp_lossless_good.webp": Case(lambda: good_webp(True), True),
    "webp_cut_in_header.webp": Case(lambda: good_webp()[:20], False, BROKEN_STREAM),
    "webp_cut_in_bitstream.webp": Case(lambda: good_webp()[:len(good_webp()) // 2], False, BROKEN_STREAM),
    "webp_lossless_cut_in_bitstream.webp": Case(
        lambda: good_webp(True)[:len(good_webp(True)) // 2], False, BROKEN_STREAM),
    "webp_bitstream_damaged.webp": Case(
        lambda: _webp_bitstream_replaced(good_webp(), HUFFMAN_GARBAGE), False, BROKEN_STREAM),
    "webp_lossless_bitstream_damaged.webp": Case(
        lambda: _webp_bitstream_replaced(good_webp(True), HUFFMAN_GARBAGE), True),
    "webp_garbage_after_end.webp": Case(lambda: good_webp() + b"trailing garbage" * 64, True),
}


def write_cases(folder: Path) -> dict[str, Path]:
    """Write every case into `folder`; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, case in CASES.items():
        paths[name] = folder / name
        paths[name].write_bytes(case.build())
    return paths
