"""A checkpoint sweep as a grid: look at every checkpoint on the same prompts and seeds, and keep the winner.

``SweepGridScreen`` takes a sweep folder (``loras.sweep_manifest``): rows are the checkpoints, columns prompt x
seed. Enter opens a cell full screen (``SweepCellScreen``): up/down step through the checkpoints on one prompt
(over-training shows as you go), left/right through the prompts. ``c`` keeps the row under the cursor
(``loras.sweep_keep``: library mark, other checkpoints to the trash or deleted), ``z`` undoes the last trash,
``u`` uploads the kept checkpoint with its images on the model card, ``x`` writes a contact sheet and an HTML page
into the sweep folder. While the sweep renders, the grid polls its folder once a second (and at once when the
sweep's job changes), so new cells appear as they are written.

Full-screen cells use the terminal's graphics protocol when it has one (``termgraphics.detect``; ``[ui] graphics``
or ``loratui lora grid --graphics``): the image area is left blank and the image is sent over it. Everywhere
else, and inside tmux and GNU screen, it is drawn with half-blocks.

Reached from the LoRA library and the training monitor (``g``), or ``loratui lora grid FOLDER --open``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from loratui.errors import LoratuiError
from loratui.loras import sweep_export, sweep_keep, sweep_manifest
from loratui.loras.sweep_export import row_label
from loratui.loras.sweep_manifest import SweepManifest, cell_path
from loratui.store.changes import ChangeSet
from loratui.termgraphics import detect as graphics_detect
from loratui.termgraphics.encode import encode, fit_box, wrap_tmux
from loratui.text import literal
from loratui.tui.screens.confirm import ConfirmScreen
from loratui.tui.screens.lora_dialogs import UploadDialog
from loratui.tui.textual_compat import write_to_terminal
from loratui.tui.widgets.halfblock import HalfBlockImage
from loratui.tui.widgets.key_footer import KeyFooter
from loratui.tui.widgets.sweep_grid import SweepGrid
from loratui.tui.workers import report_error, work

POLL_S = 1.0
"""How often the grid looks for newly rendered cells."""
KITTY_CLEAR = "\x1b_Ga=d,d=A,q=2\x1b\\"
"""kitty: delete every image placement (and free the images)."""


def resolve_graphics(mode: str, settings=None, device_attributes: str | None = None) -> graphics_detect.Graphics:
    """The protocol for `mode` (auto, halfblock, kitty, sixel, iterm2) in this process's terminal (and its
    device-attributes reply, when one was read before the app started)."""
    passthrough = bool(getattr(settings, "tmux_passthrough", False)) if settings is not None else False
    return graphics_detect.choose(mode, os.environ, device_attributes, tmux_passthrough=passthrough)


class KeepDialog(ModalScreen[str | None]):
    """Keep this checkpoint: and the other checkpoints of the run? k keep them, t trash, d delete, Esc cancel."""

    CSS_PATH = "grid.tcss"
    BINDINGS = [
        Binding("k", "answer('keep')", "Keep the others", id="sweep_keep.keep"),
        Binding("t", "answer('trash')", "Trash the others", id="sweep_keep.trash"),
        Binding("d", "answer('delete')", "Delete the others", id="sweep_keep.delete"),
        Binding("escape", "answer(None)", "Cancel", id="sweep_keep.cancel"),
    ]

    def __init__(self, label: str, plan: sweep_keep.KeepPlan) -> None:
        super().__init__()
        self.label = label
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical(id="keep-dialog"):
            yield Static(Text(f"Keep {literal(self.label)}", style="bold"))
            yield Static(Text(literal(str(self.plan.chosen_file))))
            others = len(self.plan.others)
            text = (f"The sweep's {others} other checkpoint file(s):\n"
                    "  t  move them to the trash beside them (z in the grid puts them back)\n"
                    "  d  delete them (asks again)\n"
                    "  k  leave them where they are\n"
                    "  Esc  cancel") if others else "No other checkpoint file of this sweep is on disk.\n  k  keep"
            yield Static(text, id="keep-dialog-text")

    def action_answer(self, answer: str | None) -> None:
        if answer in ("trash", "delete") and not self.plan.others:
            answer = "keep"
        self.dismiss(answer)


class SweepPicker(ModalScreen[Path | None]):
    """Choose one of several sweeps (Enter), or Esc."""

    CSS_PATH = "grid.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="sweep_picker.cancel")]
    HELP_KEYS = [("Enter", "open the highlighted sweep")]

    def __init__(self, folders: list[Path]) -> None:
        super().__init__()
        self.folders = folders

    def compose(self) -> ComposeResult:
        with Vertical(id="sweep-picker"):
            yield Static(Text("Sweeps of this run", style="bold"))
            yield OptionList(*[Option(Text(literal(f"{folder.name}   {folder}")), id=str(i))
                               for i, folder in enumerate(self.folders)], id="sweep-picker-list")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.folders[int(event.option.id)])

    def action_cancel(self) -> None:
        self.dismiss(None)


def open_sweeps(app, folders: list[Path], empty_message: str) -> None:
    """Open the grid of the one sweep in `folders`, let the user pick among several, or say there is none."""
    mode = app.ctx.settings.ui.graphics
    if not folders:
        app.notify(empty_message)
    elif len(folders) == 1:
        app.push_screen(SweepGridScreen(folders[0], graphics=mode))
    else:
        app.push_screen(SweepPicker(folders),
                        lambda folder: folder is not None and app.push_screen(SweepGridScreen(folder, graphics=mode)))


class GraphicsArea(Widget):
    """An empty box an image is sent over with a terminal graphics protocol."""

    def render_line(self, y: int) -> Strip:
        return Strip.blank(self.size.width, self.rich_style)


class SweepCellScreen(Screen[tuple[int, int]]):
    """One cell full screen; up/down through the checkpoints, left/right through the prompts. Dismisses with the
    (row, column) it ended on, so the grid's cursor follows."""

    HELP_SECTION = "sweep cell"
    CSS_PATH = "grid.tcss"
    BINDINGS = [
        Binding("escape,enter", "back", "Back to the grid", id="sweep_cell.back"),
        Binding("up", "step(-1, 0)", "Previous checkpoint", id="sweep_cell.up"),
        Binding("down", "step(1, 0)", "Next checkpoint", id="sweep_cell.down"),
        Binding("left", "step(0, -1)", "Previous prompt", id="sweep_cell.left"),
        Binding("right", "step(0, 1)", "Next prompt", id="sweep_cell.right"),
        Binding("c", "choose", "Keep this checkpoint", id="sweep_cell.choose"),
    ]

    def __init__(self, grid_screen: "SweepGridScreen", row: int, column: int) -> None:
        super().__init__()
        self.grid_screen = grid_screen
        self.row = row
        self.column = column
        self.graphics = grid_screen.graphics

    @property
    def manifest(self) -> SweepManifest:
        """The grid's current manifest."""
        return self.grid_screen.manifest

    def compose(self) -> ComposeResult:
        yield Static("", id="cell-title")
        if self.graphics.is_graphics:
            yield GraphicsArea(id="cell-image")
        else:
            yield HalfBlockImage(id="cell-image")
        yield Static("", id="cell-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.show()

    def on_resize(self) -> None:
        if self.graphics.is_graphics:
            self.call_after_refresh(self._send_image)

    def show(self) -> None:
        """Show the current cell and say which it is."""
        row = self.manifest.rows[self.row]
        column = self.manifest.columns[self.column]
        path = cell_path(self.grid_screen.folder, row, column)
        title = Text()
        title.append(f"{row_label(row)}", style="bold")
        if self.manifest.chosen == row.key:
            title.append("  ★ chosen", style="bold")
        title.append(f"   row {self.row + 1}/{len(self.manifest.rows)}   seed {column.seed}   "
                     f"prompt {self.column + 1}/{len(self.manifest.columns)}")
        self.query_one("#cell-title", Static).update(title)
        status = Text(literal(" ".join(column.prompt.split())))
        if not path.is_file():
            status.append("   (not rendered yet)", style="italic")
        self.query_one("#cell-status", Static).update(status)
        image = self.query_one("#cell-image")
        if isinstance(image, HalfBlockImage):
            image.show(path if path.is_file() else None)
            if not path.is_file():
                image.message = "not rendered yet"
        else:
            self.call_after_refresh(self._send_image)

    def _send_image(self) -> None:
        area = self.query_one("#cell-image")
        region = area.region
        row = self.manifest.rows[self.row]
        column = self.manifest.columns[self.column]
        path = cell_path(self.grid_screen.folder, row, column)
        self._encode(path, region.x, region.y, region.width, region.height)

    @work(thread=True, exclusive=True, group="sweep-cell-graphics")
    def _encode(self, path: Path, x: int, y: int, cols: int, rows: int) -> None:
        from PIL import Image

        clear = encode_clear(self.graphics)
        if not path.is_file() or cols < 1 or rows < 1:
            self.app.call_from_thread(write_to_terminal, self.app, clear)
            return
        with Image.open(path) as image:
            image.load()
            fitted_cols, fitted_rows = fit_box(image.width, image.height, cols, rows)
            sequences = encode(self.graphics.protocol, image, fitted_cols, fitted_rows, tmux=self.graphics.tmux,
                               name=path.name)
        x += (cols - fitted_cols) // 2
        y += (rows - fitted_rows) // 2
        data = clear + f"\x1b7\x1b[{y + 1};{x + 1}H" + "".join(sequences) + "\x1b8"
        self.app.call_from_thread(write_to_terminal, self.app, data)

    def action_step(self, rows: int, columns: int) -> None:
        self.row = max(0, min(len(self.manifest.rows) - 1, self.row + rows))
        self.column = max(0, min(len(self.manifest.columns) - 1, self.column + columns))
        self.show()

    def action_choose(self) -> None:
        self.grid_screen.choose_row(self.row, after=self.show)

    def action_back(self) -> None:
        if self.graphics.is_graphics:
            write_to_terminal(self.app, encode_clear(self.graphics))
        self.dismiss((self.row, self.column))


def encode_clear(graphics: graphics_detect.Graphics) -> str:
    """What removes the images a protocol left on screen (kitty keeps them in a layer of their own; sixel and
    iTerm2 images are drawn over by the next repaint)."""
    if graphics.protocol != "kitty":
        return ""
    return wrap_tmux(KITTY_CLEAR) if graphics.tmux else KITTY_CLEAR


class SweepGridScreen(Screen):
    """The grid of one sweep folder (see the module docstring)."""

    HELP_SECTION = "checkpoint sweep"
    CSS_PATH = "grid.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="sweep.back"),
        Binding("enter", "open_cell", "Full view", id="sweep.open"),
        Binding("c", "choose", "Keep row", id="sweep.choose"),
        Binding("z", "undo_trash", "Undo trash", id="sweep.undo_trash"),
        Binding("x", "export", "Export", id="sweep.export"),
        Binding("u", "upload", "Upload kept", id="sweep.upload"),
        Binding("f5", "reload", "Reload", id="sweep.reload"),
    ]
    HELP_NOTES = ["Enter shows a cell full screen: ↑/↓ step through the checkpoints on one prompt, ←/→ through "
                  "the prompts. c keeps the checkpoint (then: trash, delete or leave the others)."]

    def __init__(self, folder: Path | str, manifest: SweepManifest | None = None, *, graphics: str = "auto",
                 device_attributes: str | None = None) -> None:
        super().__init__()
        self.folder = Path(folder).expanduser().resolve()
        self.manifest = manifest if manifest is not None else sweep_manifest.load(self.folder)
        self.graphics_mode = graphics
        self.device_attributes = device_attributes
        self.graphics = resolve_graphics(graphics, device_attributes=device_attributes)
        self._manifest_mtime = self._mtime()

    def _mtime(self) -> int:
        try:
            return (self.folder / sweep_manifest.MANIFEST_NAME).stat().st_mtime_ns
        except OSError:
            return 0

    def compose(self) -> ComposeResult:
        yield Static("", id="sweep-title")
        yield SweepGrid(self.folder, self.manifest, id="sweep-grid")
        yield Static("", id="sweep-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.graphics = resolve_graphics(self.graphics_mode, self.app.ctx.settings.ui, self.device_attributes)
        self.grid.focus()
        self.update_labels()
        self.set_interval(POLL_S, self.poll, name="sweep-poll")

    @property
    def grid(self) -> SweepGrid:
        """The grid widget."""
        return self.query_one(SweepGrid)

    @property
    def store(self):
        """The app's open Store."""
        return self.app.store

    def update_labels(self) -> None:
        """The title (sweep, progress, chosen row) and the status line (the cell under the cursor)."""
        manifest = self.manifest
        total = len(manifest.rows) * len(manifest.columns)
        title = Text()
        title.append(f"Sweep {literal(manifest.id)}", style="bold")
        title.append(f"  {literal(manifest.family)} · {literal(manifest.trainer)} · "
                     f"{self.grid.rendered}/{total} rendered")
        if manifest.chosen:
            try:
                title.append(f" · kept: {literal(row_label(manifest.row(manifest.chosen)))}")
            except LoratuiError:
                pass
        self.query_one("#sweep-title", Static).update(title)
        if manifest.rows and manifest.columns:
            self.query_one("#sweep-status", Static).update(self.grid.cell_label())

    def on_sweep_grid_cursor_moved(self, _event: SweepGrid.CursorMoved) -> None:
        self.update_labels()

    # -- following the sweep ------------------------------------------------------------------------------

    def poll(self) -> None:
        """Pick up a rewritten manifest and newly rendered cells."""
        mtime = self._mtime()
        if mtime != self._manifest_mtime:
            self._manifest_mtime = mtime
            try:
                self.manifest = sweep_manifest.load(self.folder)
            except LoratuiError:
                return  # being rewritten: the next poll reads it
            self.grid.set_manifest(self.manifest)
        elif self.grid.scan_cells():
            self.grid.refresh()
        else:
            return
        self.update_labels()

    def apply_changes(self, changes: ChangeSet) -> None:
        """The sweep's job changed (a cell rendered, the sweep ended): look at the folder now."""
        if changes.full or (self.manifest.job_id is not None and self.manifest.job_id in changes.jobs):
            self.poll()

    def action_reload(self) -> None:
        self._manifest_mtime = -1
        self.poll()

    # -- actions ------------------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_open_cell(self) -> None:
        if not self.manifest.rows or not self.manifest.columns:
            return
        grid = self.grid

        def follow(result: tuple[int, int] | None) -> None:
            if result is not None:
                grid.move_to(*result)
            self.update_labels()

        self.app.push_screen(SweepCellScreen(self, grid.row, grid.column), follow)

    def action_choose(self) -> None:
        self.choose_row(self.grid.row)

    def choose_row(self, row_index: int, after=None) -> None:
        """Ask what to do with the other checkpoints, then keep row `row_index`."""
        row = self.manifest.rows[row_index]
        try:
            plan = sweep_keep.plan_keep(self.manifest, row.key)
        except LoratuiError as exc:
            report_error(self.app, exc)
            return

        def chosen(others: str | None) -> None:
            if others == "delete":
                names = "\n".join(path.name for path in plan.others[:12])
                more = f"\n... and {len(plan.others) - 12} more" if len(plan.others) > 12 else ""
                self.app.push_screen(
                    ConfirmScreen("Delete checkpoints", f"Delete {len(plan.others)} checkpoint file(s)? This cannot "
                                  f"be undone.\n{names}{more}", yes="Delete"),
                    lambda sure: sure and self.run_keep(row.key, "delete", after))
            elif others is not None:
                self.run_keep(row.key, others, after)

        self.app.push_screen(KeepDialog(row_label(row), plan), chosen)

    @work(exclusive=True, group="sweep-keep")
    async def run_keep(self, row_key: str, others: str, after=None) -> None:
        """Keep a row (library mark, manifest) and trash or delete the other checkpoints."""
        self.query_one("#sweep-status", Static).update(Text(f"keeping {row_key} ..."))
        result = await sweep_keep.keep(self.store, self.folder, row_key, others)
        self.action_reload()
        message = f"Kept {result.plan.chosen_file.name}"
        if result.trash is not None:
            message += f"; {len(result.trash.files)} other checkpoint(s) in the trash (z puts them back)"
        elif result.deleted:
            message += f"; deleted {len(result.deleted)} other checkpoint(s)"
        self.notify(message)
        if after is not None:
            after()

    async def action_undo_trash(self) -> None:
        ops = await asyncio.to_thread(sweep_keep.trash_operations, self.folder)
        pending = [op for op in ops if op.state != "undone"]
        if not pending:
            self.notify("Nothing of this sweep is in the trash")
            return
        op = pending[0]
        self.app.push_screen(
            ConfirmScreen("Undo trash", f"Put back {len(op.moved)} checkpoint file(s) moved to the trash "
                          f"({op.reason})?\n{op.folder}", yes="Put back"),
            lambda sure: sure and self.run_undo(op.folder))

    @work(exclusive=True, group="sweep-keep")
    async def run_undo(self, folder: str) -> None:
        """Undo one trash operation; restored files are indexed again."""
        report = await sweep_keep.undo_trash(self.store, folder)
        text = f"Restored {len(report.restored)} checkpoint(s)"
        if report.skipped:
            text += f"; {len(report.skipped)} left in the trash: " + "; ".join(
                f"{Path(p).name} ({why})" for p, why in report.skipped[:3])
        self.notify(text, severity="warning" if report.skipped else "information")

    @work(exclusive=True, group="sweep-export")
    async def action_export(self) -> None:
        """Write contact-sheet.png and sweep.html into the sweep folder."""
        png = self.folder / "contact-sheet.png"
        page = self.folder / "sweep.html"
        self.query_one("#sweep-status", Static).update(Text("writing the contact sheet and the HTML page ..."))
        await asyncio.to_thread(sweep_export.save_contact_sheet, self.folder, self.manifest, png)
        await asyncio.to_thread(sweep_export.save_html, self.folder, self.manifest, page)
        self.update_labels()
        self.notify(f"Wrote {png} and {page}")

    def action_upload(self) -> None:
        if not self.manifest.chosen:
            self.notify("Keep a checkpoint first (c), then upload it", severity="warning")
            return
        row = self.manifest.row(self.manifest.chosen)
        path = Path(row.lora or "")
        if not path.is_file():
            self.notify(f"The kept checkpoint is not on disk: {path}", severity="warning")
            return
        self.app.push_screen(UploadDialog(path), lambda request: request is not None and self.run_upload(path,
                                                                                                     request))

    @work(group="sweep-upload")
    async def run_upload(self, path: Path, request) -> None:
        """Upload the kept checkpoint as a job, with the row's images on the model card."""
        # Imported here, not at the top: the Hub client adds to every TUI start.
        from loratui.loras.hub import token_from_env, upload_lora
        from loratui.loras.tasks import run_job

        token = token_from_env(request.token_env)
        if token is None:
            self.notify(f"No Hub token: set the environment variable {request.token_env}", severity="error")
            return
        images = sweep_keep.chosen_images(self.folder, self.manifest)

        def job(progress):
            return upload_lora(path, request.repo, private=request.private, token=token, images=images,
                               progress=lambda phase, done, total: progress(done, total, phase))

        job_id, result = await run_job(
            self.store, "upload", f"Upload {path.name} to {request.repo}",
            {"path": str(path), "repo": request.repo, "private": request.private, "sweep": str(self.folder)}, job)
        self.notify(f"Job {job_id}: uploaded to {result.url} with {len(images)} image(s)")
