"""The half-block image preview: decoded in its own thread, cached, debounced while the cursor moves.

The thread decodes (a stored thumbnail, else the file) to the panel's pixel size; the UI thread turns the pixels
into half-block strips when they arrive. Images decoded ahead (the neighbours) get their strips in the thread,
while the user looks at the current one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from textual.message import Message
from textual.timer import Timer

from loratui.datasets.image_repo import ThumbnailReader
from loratui.tui import preview_render
from loratui.tui.preview_render import Pixels, Preview, PreviewCache
from loratui.tui.widgets.halfblock import HalfBlockView

SETTLE_S = 0.045
"""Debounce: a request within this long of the previous one (a held key repeats every 25-40 ms) waits until the
cursor has rested this long; a request after a rest decodes at once."""
PREFETCH_DELAY_S = 0.06
"""Prefetching starts this long after a preview was handed to the UI, so it never competes with drawing it."""


class PreviewDecoder:
    """The preview's background thread: decodes the newest request first, then the images it was told come next.

    A thread of its own rather than a Textual thread worker: a request reaches it at once (no hop through the
    event loop and an executor), and prefetching yields to a new request between images. Decoded pixels go back to
    the UI thread with ``loop.call_soon_threadsafe``, which does not wait for the UI to run them.
    """

    def __init__(self, widget: ImagePreview, loop: asyncio.AbstractEventLoop) -> None:
        self.widget = widget
        self.loop = loop
        self._cond = threading.Condition()
        self._request: tuple | None = None
        self._prefetch: tuple[tuple, list[tuple[Path, int, int | None]]] | None = None
        self._prefetch_at = 0.0
        self._busy = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="loratui-preview", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True while a request or prefetch is queued or being decoded."""
        with self._cond:
            return self._busy or self._request is not None or self._prefetch is not None

    def request(self, key: tuple) -> None:
        """Decode `key` (path, mtime_ns, cols, rows, image_id) next, dropping any queued prefetch."""
        with self._cond:
            self._request = key
            self._prefetch = None
            self._cond.notify()

    def prefetch(self, shown: tuple, images: list[tuple[Path, int, int | None]]) -> None:
        """Decode `images` in the background while `shown` stays the wanted preview."""
        with self._cond:
            if self._request is None:
                self._prefetch = (shown, images)
                self._prefetch_at = time.monotonic() + PREFETCH_DELAY_S
                self._cond.notify()

    def stop(self) -> None:
        """End the thread after the image it is decoding."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                request = prefetch = None
                while not self._stopped:
                    if self._request is not None:
                        request, self._request, self._prefetch = self._request, None, None
                        break
                    if self._prefetch is not None:
                        wait = self._prefetch_at - time.monotonic()
                        if wait <= 0:
                            prefetch, self._prefetch = self._prefetch, None
                            break
                        self._cond.wait(wait)
                        continue
                    self._busy = False
                    self._cond.wait()
                if self._stopped:
                    return
                self._busy = True
            try:
                if request is not None:
                    self._decode(request)
                else:
                    self._prefetch_images(*prefetch)
            except RuntimeError:  # the event loop closed under us: the app is gone
                return

    def _pending(self) -> bool:
        with self._cond:
            return self._request is not None or self._stopped

    def _thumbnail(self, image_id: int | None):
        reader = self.widget.thumbnails
        return reader.get(image_id) if reader is not None and image_id is not None else None

    def _pixels(self, key: tuple) -> Pixels:
        """The decoded pixels of `key`, from the widget's LRU or decoded now (and kept); raises if unreadable."""
        pixels = self.widget.pixels.get(key)
        if pixels is None:
            path, _mtime, cols, rows, image_id = key
            pixels = preview_render.decode_pixels(Path(path), cols, rows, self._thumbnail(image_id), self.widget.root)
            self.widget.pixels.put(key, pixels)
        return pixels

    def _decode(self, key: tuple) -> None:
        widget = self.widget
        if key != widget._wanted:
            return
        try:
            pixels = self._pixels(key)
        except Exception as exc:  # a broken or vanished file: say so in the panel
            self.loop.call_soon_threadsafe(widget._set_failed, key, f"Cannot preview: {exc}")
            return
        if key == widget._wanted:
            # The strips (~7 ms of Python for a new image) are built by the UI thread: built here they would compete
            # for the GIL with the UI thread's own drawing of the same key press, and both took twice as long.
            self.loop.call_soon_threadsafe(widget._set_pixels, key, pixels)

    def _prefetch_images(self, shown: tuple, images: list[tuple[Path, int, int | None]]) -> None:
        widget = self.widget
        _path, _mtime, cols, rows, _id = shown
        for position, (path, mtime_ns, image_id) in enumerate(images):
            if self._pending() or widget._wanted != shown:
                return  # the cursor moved: that request comes first
            key = (str(path), mtime_ns, cols, rows, image_id)
            if widget.cache.get(key) is not None:
                continue
            try:
                pixels = self._pixels(key)
            except Exception:  # shown as an error if the user goes there
                continue
            if position == 0 and widget._wanted == shown:
                widget.cache.put(key, preview_render.preview_from_pixels(pixels))  # the next image: ready to draw


class ImagePreview(HalfBlockView):
    """Shows one image as half-block cells; `show()` asks for an image, the newest request wins."""

    class Painted(Message):
        """A requested preview (or its error) was drawn (used by the benchmark)."""

        def __init__(self, key: tuple, cached: bool) -> None:
            super().__init__()
            self.key = key
            self.cached = cached

    def __init__(self, *, enabled: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.enabled = enabled
        self.cache = PreviewCache(capacity=3)
        """Rendered strips of the last few previews (the shown one and the next, decoded ahead)."""
        self.pixels = PreviewCache(capacity=512)
        """Decoded pixels of many more (about 12 KiB each at 53x40 cells; strips are rebuilt in a few ms)."""
        self._wanted: tuple | None = None
        self._timer: Timer | None = None
        self._last_request = 0.0
        self._prefetch: list[tuple[Path, int, int | None]] = []
        self._decoder: PreviewDecoder | None = None
        self.thumbnails: ThumbnailReader | None = None
        """Where stored preview thumbnails are read (set by the screen); None: always decode the files."""
        self.root: Path | None = None
        """The open dataset's folder (set by the screen): no file outside it is opened."""

    def on_mount(self) -> None:
        self._decoder = PreviewDecoder(self, asyncio.get_running_loop())

    def on_unmount(self) -> None:
        if self._decoder is not None:
            self._decoder.stop()
        if self.thumbnails is not None:
            self.thumbnails.close()

    @property
    def busy(self) -> bool:
        """True while a preview waits for the debounce or the decoder has work (tests wait on this)."""
        return self._timer is not None or (self._decoder is not None and self._decoder.busy)

    def show(self, path: Path | None, mtime_ns: int = 0, note: str | None = None,
             prefetch: list[tuple[Path, int, int | None]] | None = None, image_id: int | None = None) -> None:
        """Request a preview of `path` (None: clear). Cached previews appear at once, others after decoding.

        `image_id` lets the preview use the image's stored thumbnail. Asking again for the image already shown or
        on its way does nothing. Once it is shown, the images in `prefetch` (path, mtime, image id) are decoded in
        the background, so stepping to them is quicker.
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
        key = (str(path), mtime_ns, cols, rows, image_id)
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

    def _decode(self, key: tuple) -> None:
        self._timer = None
        if key == self._wanted and self._decoder is not None:
            self._decoder.request(key)

    def _set_pixels(self, key: tuple, pixels: Pixels) -> None:
        if key != self._wanted:
            return
        preview = preview_render.preview_from_pixels(pixels)
        self.cache.put(key, preview)
        self._set_preview(key, preview, False)

    def _set_failed(self, key: tuple, message: str) -> None:
        if key == self._wanted:
            self.preview = None
            self.message = message
            self.refresh()
            self.call_after_refresh(lambda: self.post_message(self.Painted(key, False)))

    def _set_preview(self, key: tuple, preview: Preview, cached: bool) -> None:
        if key != self._wanted:
            return
        self.preview = preview
        self.refresh()
        # After the frame that draws it; created in this widget's own context, so it bubbles up to the app even
        # when show() ran in a parent's handler (Textual stops a message below the node that sent it).
        self.call_after_refresh(lambda: self.post_message(self.Painted(key, cached)))
        if self._prefetch and self._decoder is not None:
            self._decoder.prefetch(key, self._prefetch)  # starts after PREFETCH_DELAY_S
            self._prefetch = []

    def on_resize(self) -> None:
        if self._wanted is not None:
            path, mtime, _cols, _rows, image_id = self._wanted
            self._wanted = None
            self._last_request = 0.0
            self.show(Path(path), mtime, image_id=image_id)
