"""The half-block image preview: decoded in a thread worker, cached, debounced while the cursor moves."""

from __future__ import annotations

import time
from pathlib import Path

from rich.segment import Segment
from rich.text import Text
from textual import work
from textual.filter import ANSIToTruecolor
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from loratui.tui.preview_render import (
    Preview, PreviewCache, decode_pixels, preview_from_pixels, set_truecolor_output,
)

SETTLE_S = 0.045
"""Debounce: a request within this long of the previous one (a held key repeats every 25-40 ms) waits until the
cursor has rested this long; a request after a rest decodes at once."""


class ImagePreview(Widget):
    """Shows one image as half-block cells; `show()` asks for an image, the newest request wins."""

    class Painted(Message):
        """A requested preview was put on screen (used by the benchmark)."""

        def __init__(self, key: tuple, cached: bool) -> None:
            super().__init__()
            self.key = key
            self.cached = cached

    def __init__(self, *, enabled: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.enabled = enabled
        self.cache = PreviewCache(capacity=8)
        """Rendered strips of the last few previews."""
        self.pixels = PreviewCache(capacity=512)
        """Decoded pixels of many more (about 12 KiB each at 53x40 cells)."""
        self.preview: Preview | None = None
        self.message = "No image"
        self._wanted: tuple | None = None
        self._timer: Timer | None = None
        self._last_request = 0.0
        self._prefetch: list[tuple[Path, int]] = []
        self._lines: tuple[tuple, list[Strip]] | None = None
        """Full-width lines of the current preview for one (preview, size, style): repaints reuse them."""

    def on_mount(self) -> None:
        set_truecolor_output(self.app.console.color_system == "truecolor")

    def show(self, path: Path | None, mtime_ns: int = 0, note: str | None = None,
             prefetch: list[tuple[Path, int]] | None = None) -> None:
        """Request a preview of `path` (None: clear). Cached previews appear at once, others after decoding.

        Asking again for the image already shown or on its way does nothing. Once it is shown, the images in
        `prefetch` (path, mtime) are decoded in the background, so stepping to them is quicker.
        """
        if path is None or not self.enabled:
            self._stop_timer()
            self._wanted = None
            self.preview = None
            self.message = note or ("Preview off" if not self.enabled else "No image")
            self.refresh()
            return
        cols, rows = self.size.width, self.size.height
        if cols < 2 or rows < 1:
            return
        key = (str(path), mtime_ns, cols, rows)
        if key == self._wanted:
            return
        self._stop_timer()
        self._wanted = key
        self._prefetch = list(prefetch or [])
        cached = self.cache.get(key)
        now = time.monotonic()
        moving = now - self._last_request < SETTLE_S
        self._last_request = now
        if cached is not None:
            self._set_preview(key, cached, True)
        elif moving:
            self._timer = self.set_timer(SETTLE_S, lambda: self._decode(key))
        else:
            self._decode(key)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    @work(thread=True, exclusive=True, group="preview")
    def _decode(self, key: tuple) -> None:
        if key != self._wanted:
            return
        path, _mtime, cols, rows = key
        pixels = self.pixels.get(key)
        if pixels is None:
            try:
                pixels = decode_pixels(Path(path), cols, rows)
            except Exception as exc:  # a broken or vanished file: say so in the panel
                self.app.call_from_thread(self._set_failed, key, f"Cannot preview: {exc}")
                return
            self.pixels.put(key, pixels)
        if key != self._wanted:
            return
        preview = preview_from_pixels(pixels)
        self.cache.put(key, preview)
        self.app.call_from_thread(self._set_preview, key, preview, False)

    def _set_failed(self, key: tuple, message: str) -> None:
        if key == self._wanted:
            self.preview = None
            self.message = message
            self.refresh()

    def _set_preview(self, key: tuple, preview: Preview, cached: bool) -> None:
        if key != self._wanted:
            return
        self.preview = preview
        self.refresh()
        # Created in this widget's own context, so it bubbles up to the app even when show() ran in a parent's
        # handler (Textual stops a message below the node that sent it).
        self.call_later(lambda: self.post_message(self.Painted(key, cached)))
        if self._prefetch:
            self.call_after_refresh(self._prefetch_pixels, key, self._prefetch)
            self._prefetch = []

    @work(thread=True, exclusive=True, group="prefetch")
    def _prefetch_pixels(self, shown: tuple, images: list[tuple[Path, int]]) -> None:
        _path, _mtime, cols, rows = shown
        for position, (path, mtime_ns) in enumerate(images):
            if self._wanted != shown:
                return  # the cursor moved: that request comes first
            key = (str(path), mtime_ns, cols, rows)
            if self.cache.get(key) is not None:
                continue
            pixels = self.pixels.get(key)
            if pixels is None:
                try:
                    pixels = decode_pixels(Path(path), cols, rows)
                except Exception:  # shown as an error if the user goes there
                    continue
                self.pixels.put(key, pixels)
            if position == 0 and self._wanted == shown:
                self.cache.put(key, preview_from_pixels(pixels))  # the next image: ready to draw

    def on_resize(self) -> None:
        if self._wanted is not None:
            path, mtime, _cols, _rows = self._wanted
            self._wanted = None
            self._last_request = 0.0
            self.show(Path(path), mtime)

    def get_line_filters(self):
        # Preview cells are 24-bit colours already: the ANSI-to-truecolor pass over ~2,000 segments per preview
        # changes nothing, so skip it (other filters, such as NO_COLOR's, still apply).
        filters = super().get_line_filters()
        if self.preview is None:
            return filters
        return [f for f in filters if not isinstance(f, ANSIToTruecolor)]

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines = None

    def _preview_lines(self, preview: Preview) -> list[Strip]:
        width, height = self.size.width, self.size.height
        key = (id(preview), width, height)
        if self._lines is not None and self._lines[0] == key:
            return self._lines[1]
        base = self.rich_style
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
                if shown < preview.cells_w:  # the panel shrank under a preview being replaced
                    strip = Strip(strip.crop(0, shown)._segments, shown)
                # Built at full width directly: Textual's crop_extend() would return the strip itself and keep it in
                # its own cache, a reference cycle that only the GC's slow full passes free.
                lines.append(Strip(pad_left + strip._segments + pad_right, width))
            else:
                lines.append(blank)
        self._lines = (key, lines)
        return lines

    def render_line(self, y: int) -> Strip:
        preview = self.preview
        if preview is not None:
            lines = self._preview_lines(preview)
            return lines[y] if y < len(lines) else Strip.blank(self.size.width, self.rich_style)
        width, height = self.size.width, self.size.height
        base = self.rich_style
        if y == height // 2:
            text = Text(self.message[:width].center(width),
                        style=base + self.get_component_rich_style("image-preview--message"))
            return Strip(list(text.render(self.app.console)), width)
        return Strip.blank(width, base)

    COMPONENT_CLASSES = {"image-preview--message"}
