"""Half-block image widgets: the drawing every image view shares, and a still image decoded off the UI thread.

Every image in the TUI goes through loratui.tui.preview_render (a stored thumbnail when it is current, else the
file; half-block strips built from numpy runs). `HalfBlockView` draws a rendered `Preview` centred in its box, or
a one-line message. `HalfBlockImage` shows one image (the duplicates screen's cards, the training monitor's
samples); `ImagePreview` (widgets/preview.py) adds the main screen's debounce, caches and prefetching.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.filter import ANSIToTruecolor
from textual.strip import Strip
from textual.widget import Widget

from loratui.datasets.image_repo import ThumbnailReader
from loratui.tui.preview_render import Preview, PreviewCache, layout_lines, render_preview, set_truecolor_output
from loratui.tui.workers import work


class HalfBlockView(Widget):
    """Draws `preview` centred in the widget's box, or `message` on its middle line when there is none."""

    COMPONENT_CLASSES = {"halfblock--message"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.preview: Preview | None = None
        self.message = "No image"
        self._lines: tuple[tuple, list[Strip]] | None = None
        """Full-width lines of the current preview for one (preview, size): repaints reuse them."""

    def on_mount(self) -> None:
        set_truecolor_output(self.app.console.color_system == "truecolor")

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

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        preview = self.preview
        if preview is not None:
            key = (id(preview), width, height)
            if self._lines is None or self._lines[0] != key:
                # rich_style walks the ancestors' styles: once per layout, not once per line.
                self._lines = (key, layout_lines(preview, width, height, self.rich_style))
            lines = self._lines[1]
            if y < len(lines):
                return lines[y]
        base = self.rich_style
        if preview is None and y == height // 2:
            text = Text(self.message[:width].center(width),
                        style=base + self.get_component_rich_style("halfblock--message"))
            return Strip(list(text.render(self.app.console)), width)
        return Strip.blank(width, base)


class HalfBlockImage(HalfBlockView):
    """One image fitted to the widget's box (aspect kept), decoded in a thread; `show()` changes the image.

    With `thumbnails` and an image id, the stored thumbnail is drawn when it is current and large enough;
    otherwise the file is decoded (JPEGs in draft mode). The last few renders are shared by all instances, so a
    screen that rebuilds its cards (the duplicates screen, on every choice) shows them again at once.
    """

    renders = PreviewCache(capacity=24)
    """(path, mtime_ns, image id, cols, rows) -> Preview, or the message saying why there is none."""

    def __init__(self, path: Path | str | None = None, *, image_id: int | None = None,
                 thumbnails: ThumbnailReader | None = None, root: Path | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.thumbnails = thumbnails
        self.root = root
        """The dataset folder the images lie in: nothing outside it is opened (None: any regular file)."""
        self.source: tuple[str, int | None] | None = (str(path), image_id) if path is not None else None
        self._key: tuple | None = None
        """(path, mtime_ns, image id, cols, rows) last asked for."""
        self._shown: tuple | None = None
        """The key whose result is on screen."""
        self.message = "" if path is not None else "No image"

    @property
    def busy(self) -> bool:
        """True until the requested image (or why it cannot be shown) is on screen."""
        return self.source is not None and (self._key is None or self._shown != self._key)

    def show(self, path: Path | str | None, image_id: int | None = None) -> None:
        """Show another image (None: none)."""
        self.source = (str(path), image_id) if path is not None else None
        self._request()

    def on_resize(self) -> None:
        self._request()

    def _request(self) -> None:
        if self.source is None:
            self._key = self._shown = self.preview = None
            self.message = "No image"
            self.refresh()
            return
        cols, rows = self.size.width, self.size.height
        if cols < 1 or rows < 1:
            return  # not laid out yet: on_resize asks again
        path, image_id = self.source
        try:
            mtime_ns = Path(path).stat().st_mtime_ns
        except OSError:
            mtime_ns = 0  # decoding says why
        key = (path, mtime_ns, image_id, cols, rows)
        if key == self._key:
            return
        self._key = key
        cached = self.renders.get(key)
        if cached is not None:
            self._set_preview(key, *cached)
        else:
            self._decode(key)

    @work(thread=True, exclusive=True, group="halfblock")
    def _decode(self, key: tuple) -> None:
        path, _mtime_ns, image_id, cols, rows = key
        try:
            thumbnail = self.thumbnails.get(image_id) if self.thumbnails is not None and image_id is not None else None
            preview, message = render_preview(Path(path), cols, rows, thumbnail, self.root), ""
        except Exception as exc:  # a broken or vanished file: say so in the box
            preview, message = None, f"no preview: {exc}"
        self.renders.put(key, (preview, message))
        try:
            self.app.call_from_thread(self._set_preview, key, preview, message)
        except RuntimeError:  # the app is closing
            pass

    def _set_preview(self, key: tuple, preview: Preview | None, message: str) -> None:
        if key == self._key:
            self._shown, self.preview, self.message = key, preview, message
            self.refresh()
