"""The jobs strip: active jobs with progress, polled from the store about once a second."""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from loratui.errors import LoratuiError
from loratui.jobs import repo
from loratui.jobs.model import Job

POLL_S = 1.0
MAX_LINES = 4
BAR_W = 16


def job_line(job: Job) -> Text:
    """One strip line for a job: id, kind, status, bar, numbers."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"#{job.id} ", style="bold")
    text.append(f"{job.kind} ")
    if job.title:
        text.append(f"{job.title} ", style="italic")
    text.append(job.status.value, style="cyan")
    fraction = job.fraction
    if fraction is not None:
        filled = int(round(fraction * BAR_W))
        text.append("  ")
        text.append("█" * filled, style="green")
        text.append("░" * (BAR_W - filled), style="dim")
        text.append(f" {fraction * 100:3.0f}%")
    if job.total_steps:
        text.append(f"  step {job.step or 0}/{job.total_steps}")
    elif job.progress_total:
        text.append(f"  {job.progress_done}/{job.progress_total}")
    if job.loss is not None:
        text.append(f"  loss {job.loss:.4f}")
    if job.eta_s:
        minutes, seconds = divmod(int(job.eta_s), 60)
        text.append(f"  ETA {minutes}m{seconds:02d}s")
    if job.cancel_requested:
        text.append("  cancelling…", style="yellow")
    elif job.message:
        text.append(f"  {job.message}", style="dim")
    return text


class JobsStrip(Widget, can_focus=True):
    """Active (not finished) jobs, one line each; select with j/k and cancel with x."""

    BINDINGS = [
        Binding("down,j", "select(1)", "Next job", id="jobs.down", show=False),
        Binding("up,k", "select(-1)", "Previous job", id="jobs.up", show=False),
        Binding("x,delete", "cancel_job", "Cancel job", id="jobs.cancel"),
    ]

    COMPONENT_CLASSES = {"jobs-strip--selected", "jobs-strip--empty"}

    class Polled(Message):
        """The strip read the job table (tests and the benchmark wait on this)."""

    def __init__(self, store_getter, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._store_getter = store_getter
        self.jobs: list[Job] = []
        self.selected = 0
        self._polling = False

    def on_mount(self) -> None:
        self.set_interval(POLL_S, self.poll)
        self.call_later(self.poll)

    async def poll(self) -> None:
        """Read active jobs from the store and redraw when they changed."""
        store = self._store_getter()
        if store is None or self._polling:
            return
        self._polling = True
        try:
            jobs = [job for job in await repo.list_jobs(store, limit=50) if not job.terminal]
        finally:
            self._polling = False
        jobs.reverse()  # oldest first, so lines keep their place
        if jobs != self.jobs:
            self.jobs = jobs
            self.selected = min(self.selected, max(len(jobs) - 1, 0))
            self.styles.height = max(1, min(len(jobs), MAX_LINES))
            self.refresh()
        self.post_message(self.Polled())

    @property
    def selected_job(self) -> Job | None:
        """The job under the selection, if any."""
        return self.jobs[self.selected] if 0 <= self.selected < len(self.jobs) else None

    def action_select(self, delta: int) -> None:
        if self.jobs:
            self.selected = (self.selected + delta) % len(self.jobs)
            self.refresh()

    async def action_cancel_job(self) -> None:
        job = self.selected_job
        store = self._store_getter()
        if job is None or store is None:
            self.notify("No job selected", severity="warning")
            return
        try:
            await repo.request_cancel(store, job.id)
        except LoratuiError as exc:
            self.notify(exc.message, title=exc.title, severity="error")
            return
        self.notify(f"Asked job #{job.id} to stop")
        await self.poll()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if not self.jobs:
            if y == 0:
                text = Text("No active jobs", style=base + self.get_component_rich_style("jobs-strip--empty"))
                return Strip(list(text.render(self.app.console)), text.cell_len).crop_extend(0, width, base)
            return Strip.blank(width, base)
        first = max(0, self.selected - self.size.height + 1)
        index = first + y
        if index >= len(self.jobs):
            return Strip.blank(width, base)
        style = base
        if index == self.selected and self.has_focus:
            style = base + self.get_component_rich_style("jobs-strip--selected")
        text = job_line(self.jobs[index])
        text.truncate(width, overflow="ellipsis")
        segments = [Segment(s.text, style + s.style if s.style else style) for s in text.render(self.app.console)]
        return Strip(segments).crop_extend(0, width, style)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
