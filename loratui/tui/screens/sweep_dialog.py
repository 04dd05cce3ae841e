"""Asks for the grid of a training sweep (from the training form, Ctrl+R) and previews the runs it makes.

The grid is typed as ``KEY=V1,V2`` items separated by spaces (``learning_rate=1e-4,5e-5 network_dim=16,32``);
every change is checked against the form's option schema (unknown options name close matches, values are
converted by type) and the runs' names are listed before anything is created. Dismisses with the grid, or None.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from loratui.errors import LoratuiError
from loratui.text import literal
from loratui.training.config import TrainConfig
from loratui.training.run.sweep import check_axes, expand, parse_grid
from loratui.training.schema import Schema

PREVIEW_RUNS = 8


def preview_grid(text: str, schema: Schema, config: TrainConfig) -> tuple[list[tuple[str, list[str]]] | None, str]:
    """(the grid, a preview of its runs) for dialog text, or (None, why it cannot be used)."""
    try:
        grid = parse_grid(text.split())
        axes = check_axes(grid, schema)
        args = config.resolved_args()
        output_dir = str(args.get("output_dir") or "")
        if not output_dir:
            return None, "set output_dir first: each run trains into a folder of its own inside it"
        runs = expand(str(args.get("output_name") or "lora"), axes, output_dir)
    except LoratuiError as exc:
        return None, exc.message + (f" ({exc.hint})" if exc.hint else "")
    names = [run.output_name for run in runs[:PREVIEW_RUNS]]
    more = f"\n… and {len(runs) - PREVIEW_RUNS} more" if len(runs) > PREVIEW_RUNS else ""
    return grid, f"{len(runs)} training job(s), queued in this order:\n" + "\n".join(names) + more


class SweepDialog(ModalScreen[list | None]):
    """The grid of a training sweep; Enter starts it when the grid is valid, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="sweep_dialog.cancel")]

    def __init__(self, schema: Schema, config: TrainConfig) -> None:
        super().__init__()
        self.schema = schema
        self.config = config
        self.grid: list[tuple[str, list[str]]] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("Training sweep: one job per combination", style="bold"), id="dialog-title")
            yield Input(placeholder="learning_rate=1e-4,5e-5 network_dim=16,32", id="sweep-grid")
            yield Static("type KEY=V1,V2 items separated by spaces; Enter starts, Escape cancels",
                         id="sweep-preview")

    def on_mount(self) -> None:
        self.query_one("#sweep-grid", Input).focus()

    @on(Input.Changed, "#sweep-grid")
    def _changed(self, event: Input.Changed) -> None:
        if not event.value.strip():
            self.grid = None
            return
        self.grid, text = preview_grid(event.value, self.schema, self.config)
        self.query_one("#sweep-preview", Static).update(
            Text(literal(text, newlines=True), style="" if self.grid else "red"))

    @on(Input.Submitted, "#sweep-grid")
    def _submitted(self) -> None:
        if self.grid is None:
            self.notify("the grid is not valid yet (see the message under it)", severity="warning")
            return
        self.dismiss(self.grid)

    def action_cancel(self) -> None:
        """Close without creating anything."""
        self.dismiss(None)
