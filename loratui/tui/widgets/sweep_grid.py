"""The grid of a checkpoint sweep: rows = checkpoints (the baseline first), columns = prompt x seed.

Drawn with the line API (one widget, whatever the number of cells): a header of two lines (prompt, seed) that
stays on top, a label column (checkpoint, epoch, strength, chosen) that stays on the left, and the cells in
between as half-block thumbnails (``tui.preview_render``), decoded in a thread and cached per cell and size. The
view scrolls with the cursor: at 80x24 about three columns and two rows show. Cells not rendered yet show a
placeholder; ``reload()`` picks up images written since (the screen calls it while the sweep renders).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from loratui.loras.sweep_export import row_label
from loratui.loras.sweep_manifest import SweepManifest, cell_path
from loratui.text import literal
from loratui.tui.preview_render import Preview, PreviewCache, layout_lines, render_preview, set_truecolor_output
from loratui.tui.workers import work

LABEL_WIDTH = 14
HEADER_LINES = 2
MIN_CELL_ROWS, MAX_CELL_ROWS = 4, 20


@dataclass(frozen=True)
class CellSize:
    """A cell's image box in terminal cells (the frame and the line under it come on top)."""

    cols: int
    rows: int


class SweepGrid(Widget, can_focus=True):
    """The sweep's cells around a cursor; arrows move it, `+`/`-` change the cell size."""

    HELP_NOTES = ["Rows are checkpoints (the baseline first), columns a prompt and a seed; ★ marks the kept "
                  "checkpoint. Cells the sweep has not rendered yet say so and fill in as it goes."]
    BINDINGS = [
        Binding("up", "move(-1, 0)", "Row up", id="sweep_grid.up", show=False),
        Binding("down", "move(1, 0)", "Row down", id="sweep_grid.down", show=False),
        Binding("left", "move(0, -1)", "Column left", id="sweep_grid.left", show=False),
        Binding("right", "move(0, 1)", "Column right", id="sweep_grid.right", show=False),
        Binding("home", "first_row", "First row", id="sweep_grid.first", show=False),
        Binding("end", "last_row", "Last row", id="sweep_grid.last", show=False),
        Binding("plus", "zoom(2)", "Larger cells", id="sweep_grid.zoom_in", show=False),
        Binding("minus", "zoom(-2)", "Smaller cells", id="sweep_grid.zoom_out", show=False),
    ]
    COMPONENT_CLASSES = {"sweep-grid--cursor", "sweep-grid--chosen", "sweep-grid--muted", "sweep-grid--header"}

    renders = PreviewCache(capacity=256)
    """(path, mtime_ns, cols, rows) -> Preview, or the message saying why there is none."""

    class CursorMoved(Message):
        """The cursor moved to another cell."""

        def __init__(self, row: int, column: int) -> None:
            super().__init__()
            self.row = row
            self.column = column

    def __init__(self, folder: Path, manifest: SweepManifest, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.folder = Path(folder)
        self.manifest = manifest
        self.row = 0
        self.column = 0
        self.first_row = 0
        self.first_column = 0
        self.zoom = 0
        self._present: dict[tuple[str, str], int] = {}
        """(row key, column key) -> mtime_ns of the cell images on disk."""
        self._pending: set[tuple] = set()
        self.scan_cells()

    # -- data ---------------------------------------------------------------------------------------------

    def scan_cells(self) -> bool:
        """Stat every cell's image; True when something appeared, changed or went since the last look."""
        present = {}
        for row in self.manifest.rows:
            for column in self.manifest.columns:
                try:
                    present[(row.key, column.key)] = cell_path(self.folder, row, column).stat().st_mtime_ns
                except OSError:
                    pass
        changed = present != self._present
        self._present = present
        return changed

    def set_manifest(self, manifest: SweepManifest) -> None:
        """Show another version of the manifest (rows added, the chosen row changed), keeping the cursor in range."""
        self.manifest = manifest
        self.row = min(self.row, max(0, len(manifest.rows) - 1))
        self.column = min(self.column, max(0, len(manifest.columns) - 1))
        self.scan_cells()
        self.refresh()

    def reload(self) -> None:
        """Look for cells rendered since; redraw when there are any."""
        if self.scan_cells():
            self.refresh()

    @property
    def rendered(self) -> int:
        """How many cells have an image."""
        return len(self._present)

    # -- geometry -----------------------------------------------------------------------------------------

    @property
    def cell(self) -> CellSize:
        """The image box of one cell for the widget's current size and zoom."""
        free = max(1, self.size.height - HEADER_LINES)
        rows = max(MIN_CELL_ROWS, min(MAX_CELL_ROWS, free // (3 if free > 30 else 2) - 1 + self.zoom))
        # Square-ish boxes (a cell is about twice as tall as wide), widened to share the width out evenly among
        # the columns that fit, so no strip of the terminal is left empty on the right.
        room = max(1, self.size.width - LABEL_WIDTH)
        shown = max(1, min(len(self.manifest.columns) or 1, room // (rows * 2 + 2)))
        return CellSize(cols=max(rows * 2, min(rows * 3, room // shown - 2)), rows=rows)

    def _visible(self) -> tuple[int, int]:
        cell = self.cell
        columns = max(1, (self.size.width - LABEL_WIDTH) // (cell.cols + 2))
        rows = max(1, (self.size.height - HEADER_LINES) // (cell.rows + 1))
        return rows, columns

    def _scroll_to_cursor(self) -> None:
        rows, columns = self._visible()
        if self.row < self.first_row:
            self.first_row = self.row
        elif self.row >= self.first_row + rows:
            self.first_row = self.row - rows + 1
        if self.column < self.first_column:
            self.first_column = self.column
        elif self.column >= self.first_column + columns:
            self.first_column = self.column - columns + 1
        self.first_row = max(0, min(self.first_row, max(0, len(self.manifest.rows) - rows)))
        self.first_column = max(0, min(self.first_column, max(0, len(self.manifest.columns) - columns)))

    def move_to(self, row: int, column: int) -> None:
        """Put the cursor on a cell (clamped) and scroll it into view."""
        row = max(0, min(row, len(self.manifest.rows) - 1))
        column = max(0, min(column, len(self.manifest.columns) - 1))
        moved = (row, column) != (self.row, self.column)
        self.row, self.column = row, column
        self._scroll_to_cursor()
        self.refresh()
        if moved:
            self.post_message(self.CursorMoved(row, column))

    def on_resize(self) -> None:
        self._scroll_to_cursor()

    def on_mount(self) -> None:
        set_truecolor_output(self.app.console.color_system == "truecolor")

    # -- actions ------------------------------------------------------------------------------------------

    def action_move(self, rows: int, columns: int) -> None:
        self.move_to(self.row + rows, self.column + columns)

    def action_first_row(self) -> None:
        self.move_to(0, self.column)

    def action_last_row(self) -> None:
        self.move_to(len(self.manifest.rows) - 1, self.column)

    def action_zoom(self, step: int) -> None:
        before = self.cell
        self.zoom = max(-8, min(12, self.zoom + step))
        if self.cell != before:
            self._scroll_to_cursor()
            self.refresh()

    # -- drawing ------------------------------------------------------------------------------------------

    def _preview(self, row_index: int, column_index: int, cell: CellSize) -> Preview | str | None:
        """The cell's preview, a message, or None while it is being decoded (a decode is then started)."""
        row, column = self.manifest.rows[row_index], self.manifest.columns[column_index]
        mtime = self._present.get((row.key, column.key))
        if mtime is None:
            return "·"
        path = cell_path(self.folder, row, column)
        key = (str(path), mtime, cell.cols, cell.rows)
        cached = self.renders.get(key)
        if cached is None:
            if key not in self._pending:
                self._pending.add(key)
                self._decode(key)
            return None
        return cached

    @work(thread=True, group="sweep-grid-decode")
    def _decode(self, key: tuple) -> None:
        path, _mtime, cols, rows = key
        try:
            result: Preview | str = render_preview(Path(path), cols, rows)
        except Exception as exc:  # a file being written or broken: say so in the cell
            result = f"unreadable: {exc}"[:40]
        self.renders.put(key, result)
        try:
            self.app.call_from_thread(self._decoded, key)
        except RuntimeError:  # the app is closing
            pass

    def _decoded(self, key: tuple) -> None:
        self._pending.discard(key)
        self.refresh()

    @property
    def busy(self) -> bool:
        """True while thumbnails are being decoded."""
        return bool(self._pending)

    def _text(self, text: str, width: int, style: Style) -> list[Segment]:
        shown = literal(text)
        if len(shown) > width:
            shown = shown[: max(0, width - 1)] + "…"
        return [Segment(shown.ljust(width)[:width], style)]

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if not self.manifest.rows or not self.manifest.columns:
            return Strip(self._text("This sweep has no rows or columns." if y == 0 else "", width, base), width)
        cell = self.cell
        rows_shown, columns_shown = self._visible()
        block = cell.cols + 2
        columns = range(self.first_column, min(len(self.manifest.columns), self.first_column + columns_shown))
        header_style = base + self.get_component_rich_style("sweep-grid--header")
        muted = base + self.get_component_rich_style("sweep-grid--muted")
        cursor = base + self.get_component_rich_style("sweep-grid--cursor")
        if y < HEADER_LINES:
            segments = self._text("prompt" if y == 0 else "seed", LABEL_WIDTH, muted)
            for index in columns:
                column = self.manifest.columns[index]
                text = " ".join(column.prompt.split()) if y == 0 else f"seed {column.seed}"
                style = cursor if index == self.column else header_style
                segments += self._text(" " + text, block, style)
            return Strip(segments).extend_cell_length(width, base).crop(0, width)
        offset = y - HEADER_LINES
        row_index = self.first_row + offset // (cell.rows + 1)
        line = offset % (cell.rows + 1)
        if row_index >= len(self.manifest.rows) or row_index >= self.first_row + rows_shown:
            return Strip.blank(width, base)
        segments = self._label(row_index, line, base, muted, cursor)
        for index in columns:
            segments += self._cell_line(row_index, index, line, cell, base, muted)
        return Strip(segments).extend_cell_length(width, base).crop(0, width)

    def _label(self, row_index: int, line: int, base: Style, muted: Style, cursor: Style) -> list[Segment]:
        row = self.manifest.rows[row_index]
        chosen = self.manifest.chosen == row.key
        lines = [row.label]
        if row.lora is not None:
            if row.strength is not None:
                lines.append(f"strength {row.strength:g}")
            if row.step is not None:
                lines.append(f"step {row.step}")
        else:
            lines.append("(baseline)")
        if chosen:
            lines.append("★ chosen")
        if line >= len(lines):
            return self._text("", LABEL_WIDTH, base)
        style = cursor if row_index == self.row and line == 0 else (
            base + self.get_component_rich_style("sweep-grid--chosen") if chosen else (base if line == 0 else muted))
        return self._text(lines[line], LABEL_WIDTH - 1, style) + [Segment(" ", base)]

    def _cell_line(self, row_index: int, column_index: int, line: int, cell: CellSize, base: Style,
                   muted: Style) -> list[Segment]:
        selected = (row_index, column_index) == (self.row, self.column)
        frame = base
        if selected:  # the cursor's colour drawn as a frame around the cell
            colour = self.get_component_rich_style("sweep-grid--cursor").bgcolor
            frame = base + Style(color=colour)
        if line == cell.rows:  # the line under the cell: the frame's bottom under the cursor
            return [Segment(" " * (cell.cols + 2), base)] if not selected else [
                Segment(" ", base), Segment("▀" * cell.cols, frame), Segment(" ", base)]
        left = Segment("▐" if selected else " ", frame)
        right = Segment("▌" if selected else " ", frame)
        preview = self._preview(row_index, column_index, cell)
        if isinstance(preview, Preview):
            lines = layout_lines(preview, cell.cols, cell.rows, base)
            return [left, *lines[line], right]
        message = "…" if preview is None else ("not rendered" if preview == "·" else preview)  # "…": decoding
        text = message.center(cell.cols) if line == cell.rows // 2 else ""
        return [left, *self._text(text, cell.cols, muted), right]

    def cell_label(self) -> Text:
        """One line about the cell under the cursor (row, prompt, seed, whether it is rendered)."""
        row = self.manifest.rows[self.row]
        column = self.manifest.columns[self.column]
        done = (row.key, column.key) in self._present
        text = Text()
        text.append(row_label(row), style="bold")
        text.append(f"  seed {column.seed}  ")
        text.append(literal(" ".join(column.prompt.split())))
        if not done:
            text.append("  (not rendered yet)", style="italic")
        return text
