"""The newest sample images of a training as half-block previews, each with the step that made it."""

from __future__ import annotations

from pathlib import Path

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from loratui.tui.workers import work

HALF = "▀"


def halfblock(path: str | Path, cols: int, rows: int) -> Text:
    """An image as `rows` lines of `cols` half-block cells (top pixel = foreground, bottom = background)."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = min(cols / image.width, rows * 2 / image.height)
        size = (max(1, int(image.width * scale)), max(2, int(image.height * scale) // 2 * 2))
        image = image.resize(size)
        pixels = image.load()
        text = Text()
        for y in range(0, size[1], 2):
            for x in range(size[0]):
                top = pixels[x, y]
                bottom = pixels[x, y + 1] if y + 1 < size[1] else top
                text.append(HALF, Style(color=f"rgb({top[0]},{top[1]},{top[2]})",
                                        bgcolor=f"rgb({bottom[0]},{bottom[1]},{bottom[2]})"))
            text.append("\n")
    return text


class SampleStrip(Widget):
    """Shows up to `count` newest samples side by side; `set_samples([(path, step), ...])` (oldest first)."""

    DEFAULT_CSS = "SampleStrip { height: 12; }"

    def __init__(self, *, count: int = 3, id: str | None = None) -> None:
        super().__init__(id=id)
        self.count = count
        self.samples: list[tuple[str, int | None]] = []
        self.rendered: list[tuple[str, int | None, Text]] = []

    def set_samples(self, samples: list[tuple[str, int | None]]) -> None:
        """Show the newest `count` of these (decoded in a thread)."""
        newest = samples[-self.count:]
        if newest != self.samples:
            self.samples = newest
            self._decode(list(newest))

    @work(thread=True, exclusive=True, group="samples")
    def _decode(self, samples: list[tuple[str, int | None]]) -> None:
        cols = max(8, (self.size.width or 60) // max(1, self.count) - 2)
        rows = max(2, (self.size.height or 12) - 1)
        out = []
        for path, step in samples:
            try:
                out.append((path, step, halfblock(path, cols, rows)))
            except OSError:
                continue
        self.app.call_from_thread(self._show, out)

    def _show(self, rendered) -> None:
        self.rendered = rendered
        self.refresh()

    def render(self) -> Text:
        if not self.rendered:
            return Text("no samples yet (set sample_prompts and sample_every_n_steps)", style="dim")
        blocks = [(f"step {step}" if step is not None else Path(path).name, pic.split("\n"))
                  for path, step, pic in self.rendered]
        height = max(len(lines) for _, lines in blocks)
        width = max((line.cell_len for _, lines in blocks for line in lines), default=0)
        text = Text()
        for row in range(height):
            for _, lines in blocks:
                line = lines[row] if row < len(lines) else Text()
                text.append_text(line)
                text.append(" " * (width - line.cell_len + 2))
            text.append("\n")
        for caption, _ in blocks:
            text.append(caption.ljust(width + 2), style="bold")
        return text
