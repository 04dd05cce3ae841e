"""The preview row of the main screen: the image, and beside it its control image when it is half of an edit-model
pair (``loratui.datasets.pairs``).

Both sides are ``ImagePreview`` half-block views; the control side draws from the control images' stored
thumbnails (``pair_repo.ControlReader``). It takes half of the row only while the shown image is a target (its
subset has a control folder); otherwise the image has the whole row, as before. A line below says which control is
shown (``c`` steps through several) and what is wrong with the pair.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from loratui.datasets.pair_repo import ControlImage, ControlReader
from loratui.text import literal
from loratui.tui.widgets.preview import ImagePreview

PROBLEM_STYLE = {"ok": "green", "mismatch": "yellow", "extra": "yellow"}
"""How a pair status (or problem) is coloured: green fine, yellow cropped or ignored, anything else red (musubi-tuner
stops on it, or the file is unreadable)."""


class ControlPreview(ImagePreview):
    """The control side: hidden (no size) until a pair is shown, so what it was asked to show while hidden is drawn
    once the layout gives it a size."""

    def __init__(self, *, enabled: bool = True, id: str | None = None) -> None:
        super().__init__(enabled=enabled, id=id)
        self._asked: tuple | None = None

    def show(self, path: Path | None, mtime_ns: int = 0, note: str | None = None,
             prefetch: list | None = None, image_id: int | None = None) -> None:
        """As ``ImagePreview.show``; remembered for when the view gets its size."""
        self._asked = (path, mtime_ns, note, image_id)
        super().show(path, mtime_ns, note, prefetch, image_id)

    def on_resize(self) -> None:
        # ImagePreview.on_resize redraws what it is showing; this draws what was asked before there was room.
        if self._wanted is None and self._asked is not None and self._asked[0] is not None:
            path, mtime_ns, note, image_id = self._asked
            super().show(path, mtime_ns, note, None, image_id)


class PairPreview(Vertical):
    """The image preview, with its control image beside it for edit-model pairs."""

    def __init__(self, *, enabled: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.enabled = enabled
        self.controls: list[ControlImage] = []
        self.pair: tuple[int, str, str | None] | None = None
        self.index = 0
        """Which of the target's controls is shown."""
        self.root: Path | None = None
        """The open dataset's folder: no file outside it is opened."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="preview-row"):
            yield ImagePreview(id="preview", enabled=self.enabled)
            yield ControlPreview(id="control-preview", enabled=self.enabled)
        yield Static("", id="pair-info")

    @property
    def control_view(self) -> ControlPreview:
        return self.query_one("#control-preview", ControlPreview)

    def open(self, db_path: Path) -> None:
        """Read control thumbnails from the database at `db_path` (the control view closes the reader)."""
        self.control_view.thumbnails = ControlReader(db_path)

    def set_root(self, root: Path) -> None:
        """The open dataset's folder, for both views."""
        self.root = root
        self.query_one("#preview", ImagePreview).root = root
        self.control_view.root = root

    @property
    def paired(self) -> bool:
        """True while the shown image is a target of an edit-model pair (the control side is shown)."""
        return self.pair is not None

    def pending(self) -> None:
        """The cursor moved on: blank the control side until the new image's pair is known (no stale control)."""
        if self.paired:
            self.control_view.show(None, note="…")

    def show_pair(self, pair: tuple[int, str, str | None] | None, controls: list[ControlImage],
                  same_image: bool = False) -> None:
        """Show a target's controls beside it (`pair`: ``pair_repo.pair_of``; None: not a target, one view only).

        `same_image`: the pair of the image already shown was refreshed, so the chosen control stays chosen.
        """
        self.pair, self.controls = pair, controls
        if not same_image or self.index >= len(controls):
            self.index = 0
        self.set_class(pair is not None, "-paired")
        if pair is None:
            self.control_view.show(None)
            self.query_one("#pair-info", Static).update("", layout=False)
            return
        self._show_control()

    def clear(self) -> None:
        """Nothing is shown."""
        self.show_pair(None, [])

    def next_control(self) -> bool:
        """Show the target's next control image; False when it has fewer than two."""
        if len(self.controls) < 2:
            return False
        self.index = (self.index + 1) % len(self.controls)
        self._show_control()
        return True

    def _show_control(self) -> None:
        if self.pair is None:
            return
        status, detail = self.pair[1], self.pair[2]
        info = Text(no_wrap=True, overflow="ellipsis")
        info.append(status.replace("_", " "), style=PROBLEM_STYLE.get(status, "red"))
        view = self.control_view
        if not self.controls:
            view.show(None, note="No control image")
            info.append("  " + literal(detail or "no control image with this name"), style="dim")
        else:
            control = self.controls[self.index]
            name = literal(control.rel_path.rsplit("/", 1)[-1])
            info.append(f"  control {self.index + 1}/{len(self.controls)} " if len(self.controls) > 1
                        else "  control ")
            info.append(name, style="bold")
            if control.width:
                info.append(f" {control.width}x{control.height}", style="dim")
            if control.status == "broken":
                view.show(None, note=f"Broken: {control.reason or 'unreadable'}")
            elif self.root is not None:
                view.show(self.root / control.rel_path, control.mtime_ns, image_id=control.id)
            words = control.detail if control.problem else None
            if words or (detail and status != "ok"):
                info.append("  " + literal(words or detail), style="dim")
        self.query_one("#pair-info", Static).update(info, layout=False)
