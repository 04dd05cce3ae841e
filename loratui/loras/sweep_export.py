"""Share a checkpoint sweep: a labelled PNG contact sheet, a self-contained HTML page, and the grid as a table.

The contact sheet has one row per sweep row (labelled with its checkpoint, epoch and strength) and one column per
prompt and seed (headed by the prompt, wrapped and cut to a few lines, and the seed); the chosen row is framed.
The HTML page inlines every image as a base64 data URI and escapes every prompt and label: it opens anywhere,
from a mail attachment too, and loads nothing from elsewhere. Cells not rendered yet are drawn as empty
placeholders in both.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loratui.errors import LoraError
from loratui.fsutil import atomic_write_bytes, atomic_write_text
from loratui.loras.sweep_manifest import SweepColumn, SweepManifest, SweepRow, cell_path

CELL = 256
"""Default size of a contact sheet cell, in pixels (images are fitted into it, aspect kept)."""
GAP = 6
HEADER_LINES = 3
"""Lines of prompt text a column header shows (the rest is cut with an ellipsis)."""
CHOSEN_COLOUR = (255, 196, 0)
BACKGROUND = (24, 24, 28)
TEXT = (230, 230, 230)
MUTED = (150, 150, 160)


def row_label(row: SweepRow) -> str:
    """How a row is named everywhere: its label, with epoch / step and strength when the sweep recorded them."""
    parts = [row.label]
    if row.lora is not None:
        extra = []
        if row.epoch is not None and f"{row.epoch}" not in row.label:
            extra.append(f"epoch {row.epoch}")
        elif row.step is not None and row.epoch is None:
            extra.append(f"step {row.step}")
        if row.strength is not None:
            extra.append(f"strength {row.strength:g}")
        parts += extra
    return "  ".join(parts)


def column_label(column: SweepColumn, width: int = 40) -> str:
    """A column's header on one line: the prompt cut to `width` characters, then the seed."""
    prompt = " ".join(column.prompt.split())
    if len(prompt) > width:
        prompt = prompt[: max(1, width - 1)] + "…"
    return f"{prompt}  seed {column.seed}"


def grid_rows(folder: Path, manifest: SweepManifest) -> list[dict[str, Any]]:
    """The grid as data: one dict per row with its label, file, chosen flag and each cell's image (or None)."""
    rows = []
    for row in manifest.rows:
        cells = []
        for column in manifest.columns:
            path = cell_path(folder, row, column)
            cells.append({"column": column.key, "image": str(path) if path.is_file() else None})
        rows.append({"key": row.key, "label": row_label(row), "lora": row.lora, "strength": row.strength,
                     "epoch": row.epoch, "step": row.step, "chosen": manifest.chosen == row.key,
                     "done": sum(1 for c in cells if c["image"]), "cells": cells})
    return rows


# -- contact sheet ---------------------------------------------------------------------------------------------


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size)  # Pillow >= 10.1: scalable, any text (10.0's bitmap font was latin-1 only)


def _text_width(font, text: str) -> int:
    box = font.getbbox(text)
    return int(box[2] - box[0])


def _fit_line(font, text: str, width: int) -> str:
    """`text` cut (with an ellipsis) to fit `width` pixels."""
    if _text_width(font, text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if _text_width(font, text[:middle] + "…") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "…"


def _wrap(font, text: str, width: int, lines: int) -> list[str]:
    """`text` wrapped to `width` pixels in at most `lines` lines, the last cut with an ellipsis if needed."""
    words = " ".join(text.split())
    average = max(1, _text_width(font, "abcdefghij") // 10)
    wrapped = textwrap.wrap(words, max(4, width // average)) or [""]
    out = [_fit_line(font, line, width) for line in wrapped[:lines]]
    if len(wrapped) > lines:
        out[-1] = _fit_line(font, out[-1] + " " + wrapped[lines], width)
        if not out[-1].endswith("…"):
            out[-1] = _fit_line(font, out[-1] + "…", width)
    return out


@dataclass(frozen=True)
class SheetLayout:
    """Where things are on a contact sheet (pixels)."""

    cell: int
    label_width: int
    header_height: int
    line_height: int
    width: int
    height: int

    def cell_box(self, row: int, column: int) -> tuple[int, int]:
        """Top-left corner of the cell at (row, column)."""
        return (self.label_width + GAP + column * (self.cell + GAP),
                self.header_height + GAP + row * (self.cell + GAP))


def sheet_layout(manifest: SweepManifest, cell: int = CELL) -> SheetLayout:
    """The contact sheet's geometry for `manifest` with cells of `cell` pixels."""
    if cell < 32:
        raise LoraError("contact sheet cells must be at least 32 pixels", title="Cell too small")
    font = _font(max(10, cell // 18))
    line = int(font.getbbox("Ag")[3]) + 4
    label_width = max(cell // 2, min(cell * 2, max(_text_width(font, row_label(r)) for r in manifest.rows) + 2 * GAP))
    header = line * (HEADER_LINES + 1) + GAP
    width = label_width + GAP + len(manifest.columns) * (cell + GAP)
    height = header + GAP + len(manifest.rows) * (cell + GAP)
    return SheetLayout(cell, label_width, header, line, width, height)


def contact_sheet(folder: Path, manifest: SweepManifest, cell: int = CELL):
    """The sweep as one labelled RGB Pillow image (see the module docstring)."""
    from PIL import Image, ImageDraw, ImageOps

    layout = sheet_layout(manifest, cell)
    font = _font(max(10, cell // 18))
    sheet = Image.new("RGB", (layout.width, layout.height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, column in enumerate(manifest.columns):
        x, _ = layout.cell_box(0, index)
        for number, text in enumerate(_wrap(font, column.prompt, cell, HEADER_LINES)):
            draw.text((x, GAP + number * layout.line_height), text, fill=TEXT, font=font)
        draw.text((x, GAP + HEADER_LINES * layout.line_height), f"seed {column.seed}", fill=MUTED, font=font)
    for row_index, row in enumerate(manifest.rows):
        _, y = layout.cell_box(row_index, 0)
        chosen = manifest.chosen == row.key
        lines = _wrap(font, row_label(row), layout.label_width - 2 * GAP, max(1, cell // layout.line_height))
        for number, text in enumerate(lines):
            draw.text((GAP, y + number * layout.line_height), text, fill=CHOSEN_COLOUR if chosen else TEXT,
                      font=font)
        if chosen:
            draw.text((GAP, y + len(lines) * layout.line_height), "chosen", fill=CHOSEN_COLOUR, font=font)
        for column_index, column in enumerate(manifest.columns):
            x, y = layout.cell_box(row_index, column_index)
            path = cell_path(folder, row, column)
            try:
                with Image.open(path) as image:
                    fitted = ImageOps.contain(image.convert("RGB"), (cell, cell))
                sheet.paste(fitted, (x + (cell - fitted.width) // 2, y + (cell - fitted.height) // 2))
            except (OSError, ValueError):  # not rendered yet, or unreadable: a placeholder
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), outline=MUTED)
                draw.text((x + GAP, y + cell // 2 - layout.line_height // 2),
                          "not rendered" if not path.exists() else "unreadable", fill=MUTED, font=font)
        if chosen:
            x0, y0 = layout.cell_box(row_index, 0)
            x1 = layout.cell_box(row_index, len(manifest.columns) - 1)[0] + cell
            draw.rectangle((2, y0 - GAP // 2 - 1, x1 + GAP // 2, y0 + cell + GAP // 2), outline=CHOSEN_COLOUR,
                           width=3)
    return sheet


def save_contact_sheet(folder: Path, manifest: SweepManifest, out: Path, cell: int = CELL) -> Path:
    """Write the contact sheet as a PNG (atomically) and return its path."""
    buffer = io.BytesIO()
    contact_sheet(folder, manifest, cell).save(buffer, "PNG", optimize=False)
    out = Path(out).expanduser()
    atomic_write_bytes(out, buffer.getvalue(), preserve=False)
    return out


# -- HTML ------------------------------------------------------------------------------------------------------

_STYLE = """
body { background: #18181c; color: #e6e6e6; font-family: system-ui, sans-serif; margin: 1em; }
table { border-collapse: collapse; }
th, td { padding: 4px; vertical-align: top; }
th.col { max-width: 260px; font-weight: normal; text-align: left; font-size: 0.85em; }
th.row { text-align: left; white-space: nowrap; font-size: 0.9em; }
.seed { color: #9696a0; }
tr.chosen th.row { color: #ffc400; }
tr.chosen td { outline: 3px solid #ffc400; }
img { max-width: 256px; max-height: 256px; display: block; }
.missing { width: 128px; height: 128px; border: 1px dashed #9696a0; color: #9696a0; font-size: 0.8em;
           display: flex; align-items: center; justify-content: center; }
"""


def html_page(folder: Path, manifest: SweepManifest) -> str:
    """The sweep as one self-contained HTML page (images inlined as data URIs, every text escaped)."""
    esc = html.escape
    title = f"Checkpoint sweep {manifest.id}"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{esc(title)}</title>",
           f"<style>{_STYLE}</style></head><body>", f"<h1>{esc(title)}</h1>",
           f"<p>{esc(manifest.family)} · {esc(manifest.trainer)} · base model {esc(Path(manifest.base_model).name)}"
           + (f" · chosen: {esc(row_label(manifest.row(manifest.chosen)))}" if manifest.chosen else "") + "</p>",
           "<table><thead><tr><th></th>"]
    for column in manifest.columns:
        negative = f"<br><span class=\"seed\">negative: {esc(column.negative)}</span>" if column.negative else ""
        out.append(f'<th class="col">{esc(column.prompt)}<br><span class="seed">seed {column.seed}</span>'
                   f"{negative}</th>")
    out.append("</tr></thead><tbody>")
    for row in manifest.rows:
        chosen = manifest.chosen == row.key
        opening = '<tr class="chosen">' if chosen else "<tr>"
        out.append(f'{opening}<th class="row">{esc(row_label(row))}' + ("<br>chosen" if chosen else "") + "</th>")
        for column in manifest.columns:
            path = cell_path(folder, row, column)
            try:
                data = path.read_bytes()
            except OSError:
                out.append('<td><div class="missing">not rendered</div></td>')
                continue
            alt = esc(f"{row_label(row)} / {column_label(column)}")
            out.append(f'<td><img alt="{alt}" src="data:image/png;base64,{base64.b64encode(data).decode()}"></td>')
        out.append("</tr>")
    out += ["</tbody></table>", "</body></html>", ""]
    return "\n".join(out)


def save_html(folder: Path, manifest: SweepManifest, out: Path) -> Path:
    """Write the HTML page (atomically) and return its path."""
    out = Path(out).expanduser()
    atomic_write_text(out, html_page(folder, manifest))
    return out
