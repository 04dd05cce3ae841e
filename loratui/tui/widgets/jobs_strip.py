"""The jobs strip: jobs not yet ended, with progress; read again whenever a job changes (``reload``).

Cancelling: `x` on the strip (the selected job) or on any panel of the main screen (the only job, else the strip
takes the focus to pick one) posts ``CancelRequested``; the screen asks before it cancels.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from loratui.jobs import repo
from loratui.jobs.model import Job
from loratui.text import literal
from loratui.tui.widgets.gpu_telemetry import strip_gpus
from loratui.tui.workers import work

MAX_LINES = 4
BAR_W = 16


def job_line(job: Job, gpu_samples: list[dict] | None = None) -> Text:
    """One strip line for a job: id, kind, status, bar, numbers, and its GPUs with their newest telemetry."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"#{job.id} ", style="bold")
    text.append(f"{job.kind} ")
    if job.title:
        text.append(f"{literal(job.title)} ", style="italic")
    text.append(job.status.value, style="cyan")
    fraction = job.fraction
    if fraction is not None:
        filled = int(round(fraction * BAR_W))
        text.append("  ")
        text.append("█" * filled, style="green")
        text.append("░" * (BAR_W - filled), style="dim")
        text.append(f" {fraction * 100:3.0f}%")
    gpus = strip_gpus(job, gpu_samples)
    if gpus:
        text.append(f"  {gpus}", style="magenta")
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

    class CancelRequested(Message):
        """The user asked to cancel `job` (not confirmed yet)."""

        def __init__(self, job: Job) -> None:
            super().__init__()
            self.job = job

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.jobs: list[Job] = []
        self.gpu_samples: dict[int, list[dict]] = {}
        self.selected = 0

    def on_mount(self) -> None:
        self.reload()

    @work(exclusive=True, group="jobs-strip")
    async def reload(self) -> None:
        """Read the jobs not yet ended and redraw when they changed (the main screen calls this on job changes)."""
        store = self.app.store
        if store is None:
            return
        jobs = await store.run(repo.list_jobs, limit=50, unfinished=True)
        jobs.reverse()  # oldest first, so lines keep their place
        samples = await store.run(repo.latest_gpu_samples, [j.id for j in jobs if j.gpu_ids])
        if jobs != self.jobs or samples != self.gpu_samples:
            self.jobs = jobs
            self.gpu_samples = samples
            self.selected = min(self.selected, max(len(jobs) - 1, 0))
            self.styles.height = max(1, min(len(jobs), MAX_LINES))
            self.refresh()

    @property
    def selected_job(self) -> Job | None:
        """The job under the selection, if any."""
        return self.jobs[self.selected] if 0 <= self.selected < len(self.jobs) else None

    def action_select(self, delta: int) -> None:
        if self.jobs:
            self.selected = (self.selected + delta) % len(self.jobs)
            self.refresh()

    def action_cancel_job(self) -> None:
        job = self.selected_job
        if job is None:
            self.notify("No job is running", severity="warning")
            return
        self.confirm_cancel(job)

    def cancel_from_anywhere(self) -> None:
        """`x` on another panel: cancel the only job (after asking), or take the focus to pick one."""
        if not self.jobs:
            self.notify("No job is running", severity="warning")
        elif self.has_focus:
            self.action_cancel_job()
        elif len(self.jobs) == 1:
            self.confirm_cancel(self.jobs[0])
        else:
            self.focus()
            self.notify(f"{len(self.jobs)} jobs: pick one with j/k, then press x")

    def confirm_cancel(self, job: Job) -> None:
        """Ask the screen to confirm and cancel job `job` (it owns dialogs)."""
        if job.cancel_requested:
            self.notify(f"Job #{job.id} is stopping already")
            return
        self.post_message(self.CancelRequested(job))

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
        job = self.jobs[index]
        text = job_line(job, self.gpu_samples.get(job.id))
        text.truncate(width, overflow="ellipsis")
        segments = [Segment(s.text, style + s.style if s.style else style) for s in text.render(self.app.console)]
        return Strip(segments).crop_extend(0, width, style)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
