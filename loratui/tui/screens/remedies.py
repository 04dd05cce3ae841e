"""The remedies dialog of the training monitor: why a training failed on the GPU, and its family's memory savers.

A digit applies that remedy to a COPY of the job's config (``loratui.training.run.remedies.apply_remedy``: a new
file beside the original, which is never changed); then `s` starts a training from the copy. Escape closes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from loratui.gpu.failures import cause
from loratui.gpu.telemetry import gib
from loratui.jobs.model import Job
from loratui.text import literal
from loratui.training.run.launch import start_training
from loratui.training.run.remedies import Remedy, apply_remedy
from loratui.tui.workers import work

MAX_REMEDIES = 9


class RemediesDialog(ModalScreen[int | None]):
    """Remedies of one failed training; dismisses with the id of a training it started, or None."""

    CSS_PATH = str(Path(__file__).with_name("remedies.tcss"))
    BINDINGS = [
        Binding("escape", "close", "Close", id="remedies.close"),
        Binding("s", "start", "Start from the copy", id="remedies.start"),
        *[Binding(str(n), f"apply({n})", f"Apply remedy {n}", id=f"remedies.apply{n}", show=n == 1)
          for n in range(1, MAX_REMEDIES + 1)],
    ]

    def __init__(self, store, ctx, job: Job, remedies: list[Remedy]) -> None:
        super().__init__()
        self.store = store
        self.ctx = ctx
        self.job = job
        self.remedies = remedies[:MAX_REMEDIES]
        self.written: Path | None = None
        self.applied: Remedy | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="remedies-dialog"):
            yield Static(self._title(), id="remedies-title")
            yield Static(self._body(), id="remedies-list")
            yield Static(self._footer(), id="remedies-result")

    def _title(self) -> Text:
        failure = cause(self.job.failure_cause)
        text = Text(f"Job {self.job.id}: ", style="bold")
        text.append(failure.title if failure else f"{self.job.status.value}", style="bold red")
        if self.job.peak_memory:
            text.append(f"  (peak {gib(self.job.peak_memory)})")
        return text

    def _body(self) -> Text:
        if not self.remedies:
            return Text("This trainer has no memory saver left to turn on in this config.")
        text = Text()
        for number, remedy in enumerate(self.remedies, start=1):
            text.append(f"{number} ", style="bold reverse")
            text.append(f" {remedy.title}\n", style="bold")
            sets = ", ".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in remedy.changes.items())
            text.append(f"   {sets}", style="cyan")
            if remedy.cost:
                text.append(f"  ({remedy.cost})", style="dim")
            text.append("\n")
        return text

    def _footer(self) -> Text:
        if self.written is None:
            return Text("A digit writes a copy of the config with that change (the original is kept). Esc: close",
                        style="dim")
        text = Text("wrote ")
        text.append(literal(str(self.written)), style="bold")
        text.append("\ns: start a training from it   digit: another copy   Esc: close", style="dim")
        return text

    @work(exclusive=True, group="remedies")
    async def action_apply(self, number: int) -> None:
        """Write a copy of the config with remedy `number` applied."""
        if not 1 <= number <= len(self.remedies):
            self.notify(f"there is no remedy {number}", severity="warning")
            return
        self.applied = self.remedies[number - 1]
        self.written = await asyncio.to_thread(apply_remedy, self.job, self.applied)
        self.query_one("#remedies-result", Static).update(self._footer())

    @work(exclusive=True, group="remedies")
    async def action_start(self) -> None:
        """Start a training from the copy just written."""
        if self.written is None:
            self.notify("apply a remedy first (its digit)", severity="warning")
            return
        job_id = await start_training(self.store, self.ctx, self.written,
                                      title=f"{self.job.title} ({self.applied.id})")
        self.dismiss(job_id)

    def action_close(self) -> None:
        self.dismiss(None)
