"""The virtualised image list: one line per image, drawn on demand with the line API.

Only the visible lines are ever rendered (``render_line``), from compact arrays (``ImageRows``); there is no
widget per image, so 50,000 rows cost a few megabytes and a cursor move repaints two lines.
"""

from __future__ import annotations

import textwrap
from array import array
from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from loratui.text import literal

from loratui.datasets.image_repo import FLAG_LETTERS, ImageRows

FLAGS_W = 4
DIMS_W = 10
BUCKET_W = 10
TAGS_W = 4


def shorten_path(path: str, width: int) -> str:
    """Fit a relative path into `width` cells, shortening the folder part first so the file name stays whole."""
    if len(path) <= width:
        return path
    folder, _sep, base = path.rpartition("/")
    if not folder or len(base) + 2 >= width:
        return "…" + path[-(width - 1):]
    return folder[: width - len(base) - 2] + "…/" + base


COLUMN_LEGENDS = (
    "flags: B broken · U uncaptioned · D duplicate · E edited │ last column: tags",
    "B broken · U uncaptioned · D duplicate · E edited │ tags →",
    "B broken U uncaptioned D dup E edited │ tags",
    "B broken U uncapt. D dup E edited",
    "B/U/D/E flags: see ?",
)
"""What the list's columns mean, longest first: the list's bottom border shows the longest that fits."""


def column_legend(width: int) -> str:
    """The longest legend that fits in `width` cells ("" when none does)."""
    return next((legend for legend in COLUMN_LEGENDS if len(legend) <= width), "")


class ImageList(ScrollView, can_focus=True):
    """Rows of (flags, name, WxH, bucket, tags); posts Highlighted when the cursor lands on an image."""

    HELP_NOTES = ["Columns: flags (B broken image, U uncaptioned, D duplicate, E edited here), file name, "
                  "width x height, training bucket (on wide panels), number of tags."]

    BINDINGS = [
        Binding("down,j", "cursor_down", "Next image", id="list.down", show=False),
        Binding("up,k", "cursor_up", "Previous image", id="list.up", show=False),
        Binding("pagedown,ctrl+f", "page_down", "Page down", id="list.page_down", show=False),
        Binding("pageup,ctrl+b", "page_up", "Page up", id="list.page_up", show=False),
        Binding("home,g", "first", "First image", id="list.first", show=False),
        Binding("end,G", "last", "Last image", id="list.last", show=False),
        Binding("enter,e", "edit", "Edit caption", id="list.edit"),
    ]

    COMPONENT_CLASSES = {
        "image-list--cursor", "image-list--dim", "image-list--flag", "image-list--broken", "image-list--empty",
    }

    class Highlighted(Message):
        """The cursor landed on an image."""

        def __init__(self, image_list: "ImageList", image_id: int, index: int) -> None:
            super().__init__()
            self.image_list = image_list
            self.image_id = image_id
            self.index = index

    class EditRequested(Message):
        """The user asked to edit the highlighted image's caption."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows = ImageRows()
        self.view = array("l")
        """Row indices shown, in order (all rows, or those passing the filter)."""
        self.cursor = 0
        self.empty_message = "No dataset open"
        self._styles: dict[str, Style] | None = None
        self.on_cursor_moved: Callable[[int], None] | None = None
        """Called with the new index as soon as the cursor moves, before the Highlighted message is handled: the
        screen starts the preview's decode here, ahead of the list's repaint and the message round trip."""
        self.drawn_rows: ImageRows | None = None
        """The rows object the last drawn line came from (lets a caller wait until new rows are on screen)."""

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None

    def _line_styles(self) -> dict[str, Style]:
        """The base and component styles, resolved once per style change instead of once per line."""
        if self._styles is None:
            base = self.rich_style
            styles = {"base": base}
            for name in self.COMPONENT_CLASSES:
                styles[name] = base + self.get_component_rich_style(name)
            styles["cursor_dim"] = styles["image-list--cursor"]
            styles["cursor_flag"] = styles["image-list--cursor"] + self.get_component_rich_style("image-list--flag")
            styles["cursor_broken"] = (styles["image-list--cursor"]
                                       + self.get_component_rich_style("image-list--broken"))
            self._styles = styles
        return self._styles

    # -- data ---------------------------------------------------------------------------------------------

    def set_rows(self, rows: ImageRows, keep: set[int] | None = None, select_id: int | None = None, *,
                 center: bool = True) -> None:
        """Show new rows (optionally only ids in `keep`), putting the cursor on `select_id` if present."""
        self.rows = rows
        self._apply(keep, select_id, center)

    def set_filter(self, keep: set[int] | None) -> None:
        """Show only ids in `keep` (None: all), keeping the cursor's image when it still shows."""
        self._apply(keep, self.highlighted_id)

    def _apply(self, keep: set[int] | None, select_id: int | None, center: bool = True) -> None:
        ids = self.rows.ids
        if keep is None:
            self.view = array("l", range(len(ids)))
        else:
            self.view = array("l", (i for i, image_id in enumerate(ids) if image_id in keep))
        self.virtual_size = Size(self.size.width, len(self.view))
        target = 0
        if select_id is not None:
            row = self.rows.index_of(select_id)
            if row is not None:
                try:
                    target = self.view.index(row)
                except ValueError:
                    target = 0
        self.cursor = -1
        self.refresh()
        self.move_to(target, scroll_center=center)

    def update_row(self, image_id: int, *, tag_count: int | None = None, flags: int | None = None,
                   bucket: str | None = None) -> None:
        """Change one row's tag count / flags / bucket after an edit (or a new dataset target) and repaint it."""
        row = self.rows.index_of(image_id)
        if row is None:
            return
        if tag_count is not None:
            self.rows.tag_counts[row] = tag_count
        if flags is not None:
            self.rows.flags[row] = flags
        if bucket is not None:
            self.rows.buckets[row] = bucket
        try:
            self._refresh_index(self.view.index(row))
        except ValueError:
            pass

    @property
    def highlighted_id(self) -> int | None:
        """The image id under the cursor, or None when the list is empty."""
        if 0 <= self.cursor < len(self.view):
            return self.rows.ids[self.view[self.cursor]]
        return None

    @property
    def count(self) -> int:
        """How many rows are shown."""
        return len(self.view)

    # -- cursor -------------------------------------------------------------------------------------------

    def move_to(self, index: int, *, scroll_center: bool = False) -> None:
        """Put the cursor on row `index` (clamped), scroll it into view and announce the image."""
        if not self.view:
            self.cursor = 0
            self.refresh()
            return
        index = max(0, min(index, len(self.view) - 1))
        if index == self.cursor:
            return
        old, self.cursor = self.cursor, index
        self._refresh_index(old)
        self._refresh_index(index)
        if self.on_cursor_moved is not None:
            self.on_cursor_moved(index)
        self.scroll_to_region(Region(0, index, 1, 1), animate=False, center=scroll_center, immediate=True)
        self.post_message(self.Highlighted(self, self.rows.ids[self.view[index]], index))

    def move_by(self, delta: int) -> None:
        """Move the cursor by `delta` rows."""
        self.move_to(self.cursor + delta)

    def _refresh_index(self, index: int) -> None:
        y = index - self.scroll_offset.y
        if 0 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def action_cursor_down(self) -> None:
        self.move_by(1)

    def action_cursor_up(self) -> None:
        self.move_by(-1)

    def action_page_down(self) -> None:
        self.move_by(max(1, self.size.height - 1))

    def action_page_up(self) -> None:
        self.move_by(-max(1, self.size.height - 1))

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self.view) - 1)

    def action_edit(self) -> None:
        if self.view:
            self.post_message(self.EditRequested())

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None:
            self.move_to(offset.y + self.scroll_offset.y)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self.view))
        self.border_subtitle = column_legend(self.outer_size.width - 4)

    # -- drawing ------------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        self.drawn_rows = self.rows
        width = self.size.width
        index = self.scroll_offset.y + y
        styles = self._line_styles()
        base = styles["base"]
        if index >= len(self.view):
            if not self.view:
                lines = textwrap.wrap(self.empty_message, max(width - 1, 8))
                if y < len(lines):
                    return Strip([Segment(lines[y][:width].ljust(width), styles["image-list--empty"])], width)
            return Strip.blank(width, base)
        row = self.view[index]
        rows = self.rows
        flags_value = rows.flags[row]
        broken = flags_value & 1
        if index == self.cursor:
            style = styles["image-list--cursor"]
            dim = styles["cursor_dim"]
            flag_style = styles["cursor_broken" if broken else "cursor_flag"]
        else:
            style = base
            dim = styles["image-list--dim"]
            flag_style = styles["image-list--broken" if broken else "image-list--flag"]
        flag_text = "".join(letter if flags_value & bit else "·" for bit, letter in FLAG_LETTERS)
        show_bucket = width >= 48
        fixed = FLAGS_W + 1 + DIMS_W + TAGS_W + (BUCKET_W if show_bucket else 0)
        name_w = max(4, width - fixed)
        name = shorten_path(literal(rows.names[row]), name_w)
        w, h = rows.widths[row], rows.heights[row]
        dims = f"{w}x{h}" if w else "?"
        tail = dims.rjust(DIMS_W)
        if show_bucket:
            tail += rows.buckets[row].rjust(BUCKET_W)
        tail += str(rows.tag_counts[row]).rjust(TAGS_W)
        segments = [
            Segment(flag_text, flag_style),
            Segment(" " + name.ljust(name_w), style),
            Segment(tail, dim),
        ]
        return Strip(segments).crop_extend(0, width, style)
