"""The training form's import dialog: read another tool's files (kohya_ss, sd-scripts, musubi-tuner, OneTrainer,
ai-toolkit), show what was mapped, defaulted and dropped, and hand the config to the form on Apply.

Opened from the training form with Ctrl+O (``training.import``); dismisses with the ``Imported`` result or None.
"""

from __future__ import annotations

import shlex

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from loratui.text import literal
from loratui.training.imports.importer import Imported
from loratui.training.imports.service import import_config
from loratui.tui.workers import work

HINT = ("kohya_ss .json, sd-scripts/musubi .toml, a run script, OneTrainer .json or ai-toolkit .yaml; "
        "several files: separate with spaces (quote paths with spaces)")


def report_text(imported: Imported) -> str:
    """The dialog's report: counts, warnings, then every entry (dropped ones first: they need a look)."""
    report = imported.report
    counts = {s: len(report.by_status(s)) for s in ("mapped", "default", "dropped")}
    config = imported.config
    lines = [f"{config.backend} {config.family}: {counts['mapped']} mapped, {counts['default']} from the tool's "
             f"defaults, {counts['dropped']} dropped"]
    lines += [f"! {w}" for w in report.warnings]
    order = {"dropped": 0, "default": 1, "mapped": 2}
    lines += [e.line() for e in sorted(report.entries, key=lambda e: order.get(e.status, 3))]
    return "\n".join(lines)


class ImportConfigScreen(ModalScreen[Imported | None]):
    """Files in, a report out; Apply gives the imported config to the form."""

    CSS_PATH = "training_import.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="training_import.cancel")]

    def __init__(self, ctx, store, dataset: str | None) -> None:
        super().__init__()
        self.ctx, self.store, self.dataset = ctx, store, dataset or None
        self.result: Imported | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="import-dialog"):
            yield Static(Text("Import a training config", style="bold"))
            yield Input(placeholder="file(s) to import", id="import-files")
            yield Static(HINT, id="import-hint", markup=False)
            with VerticalScroll(id="import-report"):
                yield Static("", id="import-report-text", markup=False)
            with Horizontal(id="import-buttons"):
                yield Button("Read", id="import-read", variant="primary")
                yield Button("Apply", id="import-apply", variant="success", disabled=True)
                yield Button("Cancel", id="import-cancel")

    def on_mount(self) -> None:
        self.query_one("#import-files", Input).focus()

    @on(Input.Submitted, "#import-files")
    @on(Button.Pressed, "#import-read")
    def read_pressed(self) -> None:
        text = self.query_one("#import-files", Input).value.strip()
        try:
            paths = shlex.split(text)
        except ValueError as exc:
            self.notify(f"cannot split the file names: {exc}", severity="error")
            return
        if not paths:
            self.notify("name a file to import", severity="warning")
            return
        self.read_files(paths)

    @work(exclusive=True, group="import")
    async def read_files(self, paths: list[str]) -> None:
        self.result = None
        self.query_one("#import-apply", Button).disabled = True
        imported = await import_config(self.store, self.ctx, paths, self.dataset)
        self.result = imported
        self.query_one("#import-report-text", Static).update(Text(literal(report_text(imported), newlines=True)))
        self.query_one("#import-apply", Button).disabled = False
        self.query_one("#import-apply", Button).focus()

    @on(Button.Pressed, "#import-apply")
    def apply_pressed(self) -> None:
        self.dismiss(self.result)

    @on(Button.Pressed, "#import-cancel")
    def cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
