"""A loss-over-steps plot in braille dots, with up to two runs overlaid (the current one and one to compare)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""Braille dot bits by (row 0-3, column 0-1) inside one cell."""
COLOURS = ("cyan", "magenta")


def braille_rows(series: list[list[tuple[int, float]]], width: int, height: int) -> tuple[list[list[int]], list[list[int]], tuple]:
    """Rasterise series of (step, loss) into a width x height grid of braille bit masks (one grid per series).

    Returns the grids and the axes (min step, max step, min loss, max loss).
    """
    points = [p for s in series for p in s]
    grids = [[[0] * width for _ in range(height)] for _ in series]
    if not points or width < 1 or height < 1:
        return grids, (0, 0, 0.0, 0.0)
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    xs, ys = max(x1 - x0, 1), (y1 - y0) or 1.0
    dots_w, dots_h = width * 2, height * 4
    for grid, data in zip(grids, series):
        previous = None
        for step, loss in data:
            dx = round((step - x0) / xs * (dots_w - 1))
            dy = round((y1 - loss) / ys * (dots_h - 1))
            for px, py in _line(previous, (dx, dy)):
                grid[py // 4][px // 2] |= _DOTS[py % 4][px % 2]
            previous = (dx, dy)
    return grids, (x0, x1, y0, y1)


def _line(a, b):
    """Dots from a to b (Bresenham); just b when a is None."""
    if a is None:
        return [b]
    (x0, y0), (x1, y1) = a, b
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err, out = dx + dy, []
    while True:
        out.append((x0, y0))
        if (x0, y0) == (x1, y1):
            return out
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


class LossPlot(Widget):
    """Plots `series` ([(label, [(step, loss), ...]), ...], at most two) with a y range and legend."""

    DEFAULT_CSS = "LossPlot { height: 10; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[tuple[str, list[tuple[int, float]]]] = []

    def set_series(self, series: list[tuple[str, list[tuple[int, float]]]]) -> None:
        """Replace the plotted runs (the first is the current run)."""
        self.series = series[:2]
        self.refresh()

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        label_w = 8
        plot_w, plot_h = max(width - label_w, 1), max(height - 1, 1)
        data = [points for _, points in self.series]
        if not any(data):
            return Text("no loss values yet", style="dim")
        grids, (x0, x1, y0, y1) = braille_rows(data, plot_w, plot_h)
        text = Text()
        for row in range(plot_h):
            label = f"{y1:.4g}" if row == 0 else (f"{y0:.4g}" if row == plot_h - 1 else "")
            text.append(label.rjust(label_w - 1)[: label_w - 1] + "│", style="dim")
            for col in range(plot_w):
                bits = [grid[row][col] for grid in grids]
                mask = 0
                for b in bits:
                    mask |= b
                if not mask:
                    text.append(" ")
                    continue
                colour = COLOURS[0] if bits[0] else COLOURS[1]
                text.append(chr(0x2800 + mask), style=colour)
            text.append("\n")
        legend = "  ".join(f"[{COLOURS[i]}]■[/] {label}" for i, (label, _) in enumerate(self.series))
        text.append(" " * label_w + f"steps {x0}–{x1}  ", style="dim")
        text.append_text(Text.from_markup(legend))
        return text
