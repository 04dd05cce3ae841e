"""Asks how to render a checkpoint sweep of one training (monitor, `S`): seeds, every Nth checkpoint, LoRA
strengths and an optional prompts file (blank: the run's own sample prompts). The same request as
`loratui lora sweep JOB`; dismisses with a ``SweepRequest``, or None.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from loratui.errors import InputError, LoratuiError
from loratui.training.sweep.build import RowSpec
from loratui.training.sweep.launch import SweepRequest


def _numbers(text: str, kind, what: str) -> list:
    try:
        values = [kind(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise InputError(f"{what}: comma-separated numbers, e.g. {'1,2' if kind is int else '0.8,1.0'}") from None
    if not values:
        raise InputError(f"{what}: at least one value")
    return values


def sweep_request(job_id: int, seeds: str, every: str, strengths: str, prompts: str) -> SweepRequest:
    """The request the dialog's fields describe (InputError naming the field that is wrong)."""
    seed_list = _numbers(seeds, int, "seeds")
    (every_n,) = _numbers(every or "1", int, "every Nth checkpoint")[:1]
    if every_n < 1:
        raise InputError("every Nth checkpoint: 1 or more")
    strength_list = tuple(_numbers(strengths or "1.0", float, "strengths"))
    return SweepRequest(targets=[str(job_id)], prompts_file=prompts.strip() or None, seeds=seed_list,
                        rows=RowSpec(every=every_n, strengths=strength_list))


class SweepStartDialog(ModalScreen[SweepRequest | None]):
    """Seeds, every Nth checkpoint, strengths, prompts file; Enter queues the sweep, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="sweep_start.cancel")]

    def __init__(self, job_id: int, title: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.job_title = title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(f"Checkpoint sweep of job {self.job_id}", style="bold"), id="dialog-title")
            yield Static(Text(self.job_title), id="sweep-start-job")
            yield Input("1,2", placeholder="seeds, e.g. 1,2", id="sweep-seeds")
            yield Input("1", placeholder="every Nth checkpoint (the last is always in)", id="sweep-every")
            yield Input("1.0", placeholder="LoRA strengths, e.g. 0.8,1.0", id="sweep-strengths")
            yield Input("", placeholder="prompts file (blank: the run's sample prompts)", id="sweep-prompts")
            yield Static("seeds · every Nth checkpoint · strengths · prompts file; Enter queues, Escape cancels",
                         id="sweep-start-help")

    def on_mount(self) -> None:
        self.query_one("#sweep-seeds", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        fields = [self.query_one(f"#sweep-{name}", Input).value for name in ("seeds", "every", "strengths", "prompts")]
        try:
            request = sweep_request(self.job_id, *fields)
        except LoratuiError as exc:
            self.query_one("#sweep-start-help", Static).update(Text(exc.message, style="red"))
            return
        self.dismiss(request)

    def action_cancel(self) -> None:
        """Close without starting anything."""
        self.dismiss(None)
