"""The newest sample images of a training as half-block previews, each with the step that made it."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from loratui.tui.widgets.halfblock import HalfBlockImage

EMPTY = "no samples yet (set sample_prompts and sample_every_n_steps)"


def sample_label(path: str, step: int | None) -> str:
    """The caption under a sample: its step, or its file name when the step is unknown."""
    return f"step {step}" if step is not None else Path(path).name


class SampleStrip(Horizontal):
    """Shows up to `count` newest samples side by side; `set_samples([(path, step), ...])` (oldest first)."""

    DEFAULT_CSS = """
    SampleStrip { height: 12; }
    SampleStrip > .sample-card { width: 1fr; height: 1fr; }
    SampleStrip .sample-image { height: 1fr; }
    SampleStrip .sample-label { height: 1; text-style: bold; content-align: center top; width: 1fr; }
    SampleStrip > #samples-empty { width: 1fr; color: $text-muted; }
    """

    def __init__(self, *, count: int = 3, id: str | None = None) -> None:
        super().__init__(id=id)
        self.count = count
        self.samples: list[tuple[str, int | None]] = []
        """The (path, step) pairs shown, oldest first."""

    def compose(self) -> ComposeResult:
        yield Static(EMPTY, id="samples-empty")
        for _ in range(self.count):
            with Vertical(classes="sample-card") as card:
                card.display = False
                yield HalfBlockImage(classes="sample-image")
                yield Static("", classes="sample-label")

    def set_samples(self, samples: list[tuple[str, int | None]]) -> None:
        """Show the newest `count` of these (each decoded in a thread)."""
        newest = samples[-self.count:]
        if newest != self.samples:
            self.samples = newest
            if self.is_mounted:
                self._show_samples()

    def on_mount(self) -> None:
        self._show_samples()

    def _show_samples(self) -> None:
        newest = self.samples
        self.query_one("#samples-empty").display = not newest
        for index, card in enumerate(self.query(".sample-card").results(Vertical)):
            sample = newest[index] if index < len(newest) else None
            card.display = sample is not None
            card.query_one(HalfBlockImage).show(sample[0] if sample else None)
            card.query_one(".sample-label", Static).update(sample_label(*sample) if sample else "")
