"""Several loss curves overlaid in braille dots, one colour per run, with a y range, an x range and a legend.

``render_curves`` is a pure function (series in, lines of styled text out) so the drawing is tested without a
terminal; ``CurvePlot`` draws it at the widget's size. The rasterising is the monitor's (``lossplot.braille_rows``);
where two runs pass through the same cell, the first run's colour wins and the dots of both are drawn.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from loratui.text import literal
from loratui.tui.widgets.lossplot import braille_rows

PALETTE = ("cyan", "magenta", "yellow", "green", "red", "bright_blue", "bright_white", "orange1", "bright_cyan",
           "bright_magenta", "bright_yellow", "bright_green")
"""One colour per run, in the order the runs are given (12: the most runs a comparison takes)."""
LABEL_W = 8


def _num(value: float) -> str:
    return f"{value:.4g}"


def render_curves(series: list[tuple[str, list[tuple[float, float]]]], width: int, height: int, *,
                  x_name: str = "step") -> list[Text]:
    """The plot as `height` lines of at most `width` cells: plot rows (y labels on the left), an x-range line
    and the legend (wrapped over as many lines as it needs, counted in `height`)."""
    legend = _legend(series, width)
    plot_h = max(height - 1 - len(legend), 1)
    plot_w = max(width - LABEL_W, 1)
    data = [points for _, points in series]
    if not any(data):
        return [Text("no loss values recorded for these runs yet", style="dim")]
    grids, (x0, x1, y0, y1) = braille_rows(data, plot_w, plot_h)
    lines = []
    for row in range(plot_h):
        label = _num(y1) if row == 0 else (_num(y0) if row == plot_h - 1 else "")
        line = Text(label.rjust(LABEL_W - 1)[: LABEL_W - 1] + "│", style="dim")
        for col in range(plot_w):
            mask, owner = 0, None
            for index, grid in enumerate(grids):
                bits = grid[row][col]
                if bits and owner is None:
                    owner = index
                mask |= bits
            if not mask:
                line.append(" ")
            else:
                line.append(chr(0x2800 + mask), style=PALETTE[owner % len(PALETTE)])
        lines.append(line)
    axis = f"{x_name} {_num(x0)}–{_num(x1)}"
    lines.append(Text(" " * LABEL_W + axis[: max(width - LABEL_W, 0)], style="dim"))
    return lines + legend


def _legend(series: list[tuple[str, list]], width: int) -> list[Text]:
    """Each run's colour square and label, packed into lines of at most `width` cells."""
    lines: list[Text] = []
    line = Text(" " * LABEL_W)
    for index, (label, _points) in enumerate(series):
        item = Text("■ ", style=PALETTE[index % len(PALETTE)])
        item.append(literal(label)[: max(width - LABEL_W - 4, 4)])
        if line.cell_len > LABEL_W and line.cell_len + 2 + item.cell_len > width:
            lines.append(line)
            line = Text(" " * LABEL_W)
        if line.cell_len > LABEL_W:
            line.append("  ")
        line.append_text(item)
    lines.append(line)
    return lines


class CurvePlot(Widget):
    """Draws ``render_curves`` of `series` at the widget's size."""

    DEFAULT_CSS = "CurvePlot { height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[tuple[str, list[tuple[float, float]]]] = []
        self.x_name = "step"

    def set_series(self, series: list[tuple[str, list[tuple[float, float]]]], x_name: str = "step") -> None:
        """Replace the plotted runs (label, [(x, loss), ...]) and the x axis' name."""
        self.series, self.x_name = series, x_name
        self.refresh()

    def render(self) -> Text:
        lines = render_curves(self.series, self.size.width, self.size.height, x_name=self.x_name)
        return Text("\n").join(lines)
