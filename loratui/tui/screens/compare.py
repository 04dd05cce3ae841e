"""The run comparison: several trainings' loss curves overlaid and a table of what differs between them.

Opened from the training monitor (jobs marked with space, or the selected job's training sweep: `V`) and from
the LoRA library (`t`: the training sweep of the selected LoRA's job, or two LoRAs' jobs). The curves are each
run's per-step loss (``job_metrics``), smoothed with an EMA (`s` cycles the weight) and drawn by step or by epoch
(`e`); the table lists the config values that differ (from each job's saved config), status, steps, final and
minimum loss, time, and the chosen checkpoint and peak GPU memory where those are recorded. Running trainings
update it through ``apply_changes``.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Static

from loratui.errors import LoratuiError
from loratui.store.changes import ChangeSet
from loratui.text import literal
from loratui.training.run.compare import SMOOTHING_STEPS, Comparison, curve, load_comparison
from loratui.tui.widgets.curveplot import PALETTE, CurvePlot
from loratui.tui.widgets.key_footer import KeyFooter
from loratui.tui.workers import report_error, work

CURVE_POINTS = 1000
"""Points per curve after smoothing (a 50,000-step run is averaged down to this; the plot has fewer dots)."""


class CompareScreen(Screen):
    """Loss curves of several runs on top, the differing config values and results below."""

    HELP_SECTION = "run comparison"

    CSS_PATH = str(Path(__file__).with_name("compare.tcss"))
    BINDINGS = [
        Binding("escape", "close", "Back", id="compare.close"),
        Binding("s", "smoothing", "Smoothing", id="compare.smoothing"),
        Binding("e", "axis", "Step/epoch", id="compare.axis"),
    ]

    def __init__(self, store, ctx, job_ids: list[int] | None = None, sweep_id: int | None = None) -> None:
        super().__init__()
        self.store = store
        self.ctx = ctx
        self.job_ids = list(job_ids or [])
        self.sweep_id = sweep_id
        self.comparison: Comparison | None = None
        self.smoothing_index = 0
        self.by_epoch = False

    def compose(self) -> ComposeResult:
        yield Static("", id="compare-title")
        yield CurvePlot(id="compare-plot")
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    async def on_mount(self) -> None:
        try:
            await self.reload()
        except LoratuiError as exc:  # a job deleted meanwhile, fewer than two runs: say so and go back
            report_error(self.app, exc)
            self.app.pop_screen()

    def apply_changes(self, changes: ChangeSet) -> None:
        """A compared training moved on (new loss values, ended): read the runs again."""
        ids = {run.job.id for run in self.comparison.runs} if self.comparison else set(self.job_ids)
        if changes.full or changes.jobs & ids:
            self._reload_worker()

    @work(exclusive=True, group="compare-reload")
    async def _reload_worker(self) -> None:
        await self.reload()

    async def reload(self) -> None:
        """Read the runs, their configs and loss histories, and redraw."""
        self.comparison = await load_comparison(self.store, self.job_ids, sweep_id=self.sweep_id)
        try:
            self._draw_table()
            self._draw_curves()
        except NoMatches:
            pass  # closed while loading

    @property
    def smoothing(self) -> float:
        """The EMA weight in use."""
        return SMOOTHING_STEPS[self.smoothing_index]

    def _draw_curves(self) -> None:
        comparison = self.comparison
        if comparison is None:
            return
        series = [(f"{run.job.id} {run.label}", curve(run, smoothing=self.smoothing, by_epoch=self.by_epoch,
                                                       limit=CURVE_POINTS)) for run in comparison.runs]
        self.query_one("#compare-plot", CurvePlot).set_series(series, "epoch" if self.by_epoch else "step")
        what = f" of training sweep {comparison.sweep_id}" if comparison.sweep_id is not None else ""
        smoothing = f"EMA {self.smoothing:g}" if self.smoothing else "raw"
        self.query_one("#compare-title", Static).update(
            Text(f"{len(comparison.runs)} runs{what} · loss by {'epoch' if self.by_epoch else 'step'} · {smoothing} "
                 f"· {len(comparison.differing)} differing config values"))

    def _draw_table(self) -> None:
        comparison = self.comparison
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        table.add_column("", key="field")
        for index, run in enumerate(comparison.runs):
            header = Text("■ ", style=PALETTE[index % len(PALETTE)])
            header.append(literal(f"{run.job.id} {run.label}"))
            table.add_column(header, key=str(run.job.id))
        for name, cells in comparison.rows():
            table.add_row(Text(name, style="bold"), *[Text(literal(cell)) for cell in cells])

    # -- actions
    def action_close(self) -> None:
        """Back to where the comparison was opened."""
        self.app.pop_screen()

    def action_smoothing(self) -> None:
        """Cycle the EMA weight: raw, 0.6, 0.8, 0.9, 0.95, 0.99."""
        self.smoothing_index = (self.smoothing_index + 1) % len(SMOOTHING_STEPS)
        self._draw_curves()

    def action_axis(self) -> None:
        """Draw the curves by step or by epoch (runs with other batch sizes line up by epoch)."""
        self.by_epoch = not self.by_epoch
        self._draw_curves()
