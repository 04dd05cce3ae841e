"""The half-block renderer every image view uses: decode fast, resize with a box filter, build '▀' strips directly.

Each terminal cell shows two pixels: the upper one as the foreground colour of '▀', the lower one as the
background. JPEGs are decoded in draft mode (libjpeg scales by 1/2, 1/4 or 1/8 while decoding), which is most
of the speed; styles are built with ``Style.from_color`` (no style parsing per cell) and cached per colour
pair. Two LRUs keyed by (path, mtime, cells) make going back to an image cheap: the rendered strips of the last
few previews (reused as they are), and the decoded pixels of many more (a few KiB each, rebuilt into strips in a
few milliseconds). Strips hold one Style per cell, which the garbage collector has to walk, so only a few are kept.

Every screen draws images with this module (widgets/halfblock.py, widgets/preview.py). It replaced rich-pixels in
the duplicates screen: for a 1024x1536 JPEG at 28x14 cells 6 ms instead of 25 ms (2 ms from the stored
thumbnail; bench/compat_hooks.py), a box filter instead of nearest-neighbour sampling, transparent pixels on
black instead of their hidden colour, 16-bit greys scaled instead of clipped to white. Off truecolor output the
codes are not preset, and Textual downgrades the same styles to the terminal's 256 colours.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.color import Color, ColorTriplet, ColorType
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from loratui.datasets.filekinds import is_video_name
from loratui.datasets.thumbnails import Thumbnail, decode_thumbnail, rgb_on_black
from loratui.fsutil import read_regular
from loratui.tui.textual_compat import preset_ansi_codes

HALF_BLOCK = "▀"


@dataclass(frozen=True)
class Preview:
    """A rendered preview: strips of `cells_w` cells, plus the image's real size."""

    strips: list[Strip]
    cells_w: int
    width: int
    height: int


def fit_cells(width: int, height: int, max_cols: int, max_rows: int) -> tuple[int, int]:
    """Preview size in pixels (cols, 2*rows) that fits the cell box and keeps the aspect ratio."""
    max_px_h = max_rows * 2
    scale = min(max_cols / max(width, 1), max_px_h / max(height, 1))
    cols = max(1, min(max_cols, round(width * scale)))
    px_h = max(2, min(max_px_h, round(height * scale)))
    return cols, px_h + (px_h % 2)


def decode_for_preview(path: Path, max_cols: int, max_rows: int, root: Path | None = None):
    """Open an image and return (RGB image of the preview's pixel size, (real width, real height)).

    The file is read through ``fsutil.open_regular``: inside `root` (the dataset's folder) when given, and never
    a FIFO or a device, which would block the decoder thread forever.
    """
    from PIL import Image, ImageOps

    if is_video_name(path.name):
        return _video_still(path, max_cols, max_rows, root)
    data, _ = read_regular(path, root=root, follow_links_inside=root is not None)
    with Image.open(io.BytesIO(data)) as image:  # reads the header only; refuses decompression bombs
        real = image.size
        orientation = image.getexif().get(0x0112, 1) if image.format in ("JPEG", "WEBP", "TIFF") else 1
        if orientation in (5, 6, 7, 8):
            real = (real[1], real[0])
        cols, px_h = fit_cells(real[0], real[1], max_cols, max_rows)
        if image.format == "PNG":
            array = _decode_png(data, (cols, px_h))
            if array is not None:
                return Image.fromarray(array, "RGB"), real
        if image.format == "JPEG":
            draft_size = (px_h, cols) if orientation in (5, 6, 7, 8) else (cols, px_h)
            image.draft("RGB", draft_size)
        image = ImageOps.exif_transpose(image) if orientation != 1 else image
        image = rgb_on_black(image).resize((cols, px_h), Image.Resampling.BOX)
    return image, real


def _video_still(path: Path, max_cols: int, max_rows: int, root: Path | None):
    """A video's first frame at the preview's pixel size (the video view, `V`, plays it)."""
    from PIL import Image

    from loratui.datasets.video_frames import VideoReader

    with VideoReader(path, root=root) as reader:
        real = (reader.info.width, reader.info.height)
        cols, px_h = fit_cells(real[0], real[1], max_cols, max_rows)
        return Image.fromarray(reader.frame(0, (cols, px_h)), "RGB"), real


def _decode_png(data: bytes, size: tuple[int, int]) -> np.ndarray | None:
    """A PNG decoded by OpenCV and box-resized to `size`: an RGB uint8 array, or None if OpenCV cannot read it.

    PNG has no reduced-size decoding (the whole zlib stream must be inflated), so a large PNG costs tens of
    milliseconds whoever decodes it. Pillow does it in 64 KiB steps and takes the GIL for each, so while the UI
    thread is busy every step waits its turn; OpenCV decodes in one call without the GIL. Transparent pixels are
    composited on black, as the Pillow path does.
    """
    import cv2

    try:
        flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
        array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except (OSError, cv2.error):
        return None
    if array is None or array.ndim not in (2, 3) or array.size == 0:
        return None
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        return None
    if array.ndim == 3 and array.shape[2] in (2, 4):
        colour, alpha = array[:, :, :-1], array[:, :, -1]
        alpha = cv2.merge([alpha] * colour.shape[2]) if colour.shape[2] > 1 else alpha[:, :, None]
        array = cv2.multiply(np.ascontiguousarray(colour), alpha, scale=1 / 255)  # composited on black
    if array.shape[1::-1] != size:
        array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    if array.ndim == 2 or array.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(array.reshape(size[1], size[0], 1), 3, axis=2))
    return np.ascontiguousarray(array[:, :, 2::-1])  # BGR -> RGB


_HEX = [f"{value:02x}" for value in range(256)]
_TRUECOLOR = ColorType.TRUECOLOR
_STYLE_CACHE: dict[int, Style] = {}
_STYLE_CACHE_SIZE = 4096
"""Styles kept for reuse (flat areas and the previews shown again); cleared when full."""
_PRIME_ANSI = [True]


def set_truecolor_output(truecolor: bool) -> None:
    """Say whether the terminal output is 24-bit; SGR codes are precomputed only then."""
    if _PRIME_ANSI[0] != truecolor:
        _PRIME_ANSI[0] = truecolor
        _STYLE_CACHE.clear()


def _color(rgb: int) -> Color:
    """A truecolor rich Color for 0xRRGGBB (this runs twice per new preview cell).

    Built with the NamedTuple's positional constructor: ``Color.from_rgb`` formats the hex name again and costs
    ~5 ms more per new preview. Not cached: in photos nearly every cell has colours of its own, and each cached
    Color is two more objects for the garbage collector to walk; the styles that use them are cached instead.
    """
    red, green, blue = rgb >> 16, (rgb >> 8) & 255, rgb & 255
    return Color("#" + _HEX[red] + _HEX[green] + _HEX[blue], _TRUECOLOR, None, ColorTriplet(red, green, blue))


def _style(pair: int) -> Style:
    """The style of a half-block cell: foreground = upper pixel, background = lower (pair = top << 24 | bottom)."""
    style = _STYLE_CACHE.get(pair)
    if style is None:
        if len(_STYLE_CACHE) > _STYLE_CACHE_SIZE:
            _STYLE_CACHE.clear()
        top, bottom = pair >> 24, pair & 0xFFFFFF
        style = _STYLE_CACHE[pair] = Style.from_color(_color(top), _color(bottom))
        if _PRIME_ANSI[0]:
            # The SGR codes a truecolor terminal needs, written directly rather than by Textual's generic path for
            # each of the ~2,000 cells of a new preview.
            preset_ansi_codes(style, f"38;2;{top >> 16};{(top >> 8) & 255};{top & 255};"
                                     f"48;2;{bottom >> 16};{(bottom >> 8) & 255};{bottom & 255}")
    return style


@dataclass(frozen=True)
class Pixels:
    """A decoded preview-sized RGB image (bytes, untracked by the GC) and the real image size."""

    data: bytes
    cols: int
    px_h: int
    width: int
    height: int


def decode_pixels(path: Path, max_cols: int, max_rows: int, thumbnail: Thumbnail | None = None,
                  root: Path | None = None) -> Pixels:
    """Decode an image to the preview's pixel size: from its stored `thumbnail` when that is current (the file's
    size and mtime match) and large enough, otherwise from the file (inside `root`, see ``decode_for_preview``)."""
    if thumbnail is not None and thumbnail.image_width and thumbnail.image_height:
        cols, px_h = fit_cells(thumbnail.image_width, thumbnail.image_height, max_cols, max_rows)
        # A video's preview is its first-frame thumbnail, scaled up if the box is larger: PIL cannot open the file.
        if (thumbnail.covers(cols, px_h) or is_video_name(path.name)) and thumbnail.matches(path):
            try:
                image = decode_thumbnail(thumbnail, cols, px_h)
            except Exception:  # a damaged thumbnail: the original is still there
                image = None
            if image is not None:
                return Pixels(image.tobytes(), cols, px_h, thumbnail.image_width, thumbnail.image_height)
    image, real = decode_for_preview(path, max_cols, max_rows, root)
    return Pixels(image.tobytes(), image.size[0], image.size[1], real[0], real[1])


def preview_from_pixels(pixels: Pixels) -> Preview:
    """Build the half-block strips of decoded pixels."""
    return Preview(strips_from_rgb(pixels.data, pixels.cols, pixels.px_h), pixels.cols, pixels.width, pixels.height)


def strips_from_rgb(data: bytes, width: int, height: int) -> list[Strip]:
    """Half-block strips from packed RGB bytes (`width` x `height`, height even).

    The pixel arithmetic and the run detection are vectorised; Python only touches one style per run of equal
    cells.
    """
    pixels = np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3).astype(np.uint64)
    packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    if height % 2:
        packed = np.vstack([packed, packed[-1:]])
    pairs = (packed[0::2] << 24) | packed[1::2]
    strips: list[Strip] = []
    for row in pairs:
        starts = np.flatnonzero(np.concatenate(([True], row[1:] != row[:-1])))
        lengths = np.diff(np.append(starts, width))
        keys = row[starts].tolist()
        segments = [Segment(HALF_BLOCK * length, _style(key)) for key, length in zip(keys, lengths.tolist())]
        strips.append(Strip(segments, width))
    return strips


def render_preview(path: Path, max_cols: int, max_rows: int, thumbnail: Thumbnail | None = None,
                   root: Path | None = None) -> Preview:
    """Decode and render one image to fit `max_cols` x `max_rows` cells (from `thumbnail` when it is current)."""
    return preview_from_pixels(decode_pixels(path, max_cols, max_rows, thumbnail, root))


def layout_lines(preview: Preview, width: int, height: int, base: Style) -> list[Strip]:
    """The `height` lines of a `width`-cell box showing `preview` centred on `base` (cropped if the box is smaller).

    Each line is built at full width directly: Textual's ``crop_extend`` would return a strip of the right length
    itself and keep it in its own cache, a reference cycle that only the GC's slow full passes free.
    """
    blank = Strip.blank(width, base)
    top = (height - len(preview.strips)) // 2
    shown = min(preview.cells_w, width)
    left = (width - shown) // 2
    pad_left = [Segment(" " * left, base)] if left else []
    right = width - left - shown
    pad_right = [Segment(" " * right, base)] if right else []
    lines = []
    for y in range(height):
        index = y - top
        if 0 <= index < len(preview.strips):
            strip = preview.strips[index]
            if shown < preview.cells_w:  # the box shrank under a preview being replaced
                strip = strip.crop(0, shown)
            lines.append(Strip([*pad_left, *strip, *pad_right], width))
        else:
            lines.append(blank)
    return lines


class PreviewCache:
    """A thread-safe LRU keyed by (path, mtime_ns, cols, rows)."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple):
        """The cached value for `key`, marking it recently used."""
        with self._lock:
            preview = self._items.get(key)
            if preview is not None:
                self._items.move_to_end(key)
            return preview

    def put(self, key: tuple, preview) -> None:
        """Store a value, evicting the least recently used beyond capacity."""
        with self._lock:
            self._items[key] = preview
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
