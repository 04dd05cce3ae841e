"""The training monitor: every training job, the selected one's live log, progress, loss plot and samples.

It reads everything from the database and the job's log file, so it shows trainings started by any loratui
(or still running after the TUI was closed and opened again). It is read again whenever a training job changes
(``apply_changes``: the supervisor's progress writes arrive as changes); supervisors that died are marked
interrupted by the app's reconcile step. Keys cancel or resume the selected training and reorder or remove
queued ones.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Input, ProgressBar, Static
from textual.worker import get_current_worker

from loratui.jobs import repo
from loratui.jobs.model import SUPERVISED_KINDS, Job, JobStatus
from loratui.store.changes import ChangeSet
from loratui.training.run import queue as run_queue
from loratui.training.run import sweep_repo
from loratui.training.run.launch import cancel_training, resume_training
from loratui.training.run.procgroup import group_members
from loratui.training.run.remedies import job_config, remedies_for
from loratui.training.run.status import status_line
from loratui.training.schema import load_schema
from loratui.training.sweep.launch import resume_sweep
from loratui.tui.extensions import ScreenAction
from loratui.tui.screens.compare import CompareScreen
from loratui.tui.screens.remedies import RemediesDialog
from loratui.tui.widgets.gpu_telemetry import SPARK_SECONDS, monitor_line
from loratui.tui.widgets.key_footer import KeyFooter
from loratui.tui.widgets.logview import LogView
from loratui.tui.widgets.lossplot import LossPlot
from loratui.tui.widgets.samplestrip import SampleStrip
from loratui.tui.workers import work

CONFIRM_S = 3.0
"""A second press of the cancel key within this time confirms it."""


def describe(job: Job) -> str:
    """The stats line: status, epoch, step, loss, speed, ETA."""
    text = status_line(job)
    if job.message:
        text += f"\n{job.message}"
    return text


class MonitorScreen(Screen):
    """Training jobs on the left; the selected job's progress, loss plot, samples and log on the right."""

    HELP_SECTION = "training monitor"

    CSS_PATH = str(Path(__file__).with_name("monitor.tcss"))
    BINDINGS = [
        Binding("escape", "close", "Back", id="monitor.close"),
        Binding("c", "cancel_job", "Cancel (press twice)", id="monitor.cancel"),
        Binding("r", "resume_job", "Resume", id="monitor.resume"),
        Binding("left_square_bracket", "move_queued(-1)", "Queue up", id="monitor.queue_up"),
        Binding("right_square_bracket", "move_queued(1)", "Queue down", id="monitor.queue_down"),
        Binding("x", "remove_queued", "Unqueue", id="monitor.queue_remove"),
        Binding("v", "compare", "Compare run", id="monitor.compare"),
        Binding("slash", "search", "Search log", id="monitor.search"),
        Binding("space", "mark", "Mark run", id="monitor.mark"),
        Binding("V", "compare_runs", "Compare runs", id="monitor.compare_runs"),
        # not in the footer (it is full): the telemetry line says "m: remedies" when a training ran out of memory
        Binding("m", "remedies", "GPU memory remedies", id="monitor.remedies", show=False),
        Binding("S", "sweep_checkpoints", "Sweep checkpoints", id="monitor.sweep_checkpoints", show=False),
        Binding("g", "sweeps", "Sweep grid", id="monitor.sweeps", show=False),
    ]

    def __init__(self, store, ctx, job_id: int | None = None) -> None:
        super().__init__()
        self.store = store
        self.ctx = ctx
        self.job_id = job_id
        self.job: Job | None = None
        self.jobs: list[Job] = []
        self.compare_id: int | None = None
        self._compare_auto = True
        self._metrics: list[tuple[int, float]] = []
        self._compare_metrics: list[tuple[int, float]] = []
        self._followed: int | None = None
        self._cancel_armed: tuple[int, float] | None = None
        self.marked: list[int] = []
        self.sweeps: dict[int, tuple[int, str]] = {}

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield DataTable(id="monitor-jobs", cursor_type="row", zebra_stripes=True)
            with Vertical(id="monitor-main"):
                yield Static("no training selected", id="monitor-stats")
                yield ProgressBar(id="monitor-progress", show_eta=False)
                yield Static("", id="monitor-gpu")
                with Horizontal(id="monitor-charts"):
                    yield LossPlot(id="monitor-loss")
                    yield SampleStrip(id="monitor-samples")
                yield Input(placeholder="search the log (Enter: find, n/N: next/previous)", id="monitor-search")
                yield LogView(id="monitor-log")
        yield KeyFooter()

    async def on_mount(self) -> None:
        table = self.query_one("#monitor-jobs", DataTable)
        table.add_columns("id", "status", "step", "title")
        self.query_one("#monitor-search", Input).display = False
        await self.refresh_data()

    # -- data
    def apply_changes(self, changes: ChangeSet) -> None:
        """A job changed (a supervisor's progress, a new or ended training): read the trainings again."""
        if changes.full or changes.jobs:
            self._refresh_worker()

    @work(exclusive=True, group="monitor-refresh")
    async def _refresh_worker(self) -> None:
        await self.refresh_data()

    async def refresh_data(self) -> None:
        """Reload the jobs list and the selected job."""
        try:
            await self._refresh()
        except NoMatches:
            pass  # the screen was closed while this ran (after a cancel, for instance)

    async def _refresh(self) -> None:
        if not self.is_attached:
            return
        # trainings and checkpoint sweeps: both run in the training queue, under a supervisor
        self.jobs = await self.store.run(repo.list_jobs, kind=SUPERVISED_KINDS, limit=100)
        self.sweeps = await self.store.run(sweep_repo.sweeps_of_jobs, [j.id for j in self.jobs])
        self.jobs = group_sweeps(self.jobs, self.sweeps)
        if self.job_id is None and self.jobs:
            running = [j for j in self.jobs if not j.terminal and j.status != JobStatus.QUEUED]
            self.job_id = (running or self.jobs)[0].id
        self._fill_table()
        if self.job_id is not None:
            await self._load_job()

    def _fill_table(self) -> None:
        table = self.query_one("#monitor-jobs", DataTable)
        if not table.columns:
            return  # a change arrived before on_mount made the columns: on_mount fills the table
        # Rebuilding moves the cursor; only the user's moves may change the selected job.
        with table.prevent(DataTable.RowHighlighted):
            table.clear()
            for job in self.jobs:
                status = job.status.value + (f" #{job.queue_position}" if job.queue_position else "")
                step = f"{job.step or 0}/{job.total_steps or '?'}" if (job.step or job.total_steps) else ""
                mark = "*" if job.id in self.marked else ""
                sweep = self.sweeps.get(job.id)
                title = f"sweep {sweep[0]} · {sweep[1]}" if sweep else job.title
                table.add_row(f"{mark}{job.id}", status, step, title, key=str(job.id))
            if self.job_id is not None:
                for index, job in enumerate(self.jobs):
                    if job.id == self.job_id:
                        table.move_cursor(row=index, animate=False)
                        break

    async def _load_job(self) -> None:
        self.job = await self.store.run(repo.find_job, self.job_id)
        if self.job is None:
            return
        job = self.job
        self.query_one("#monitor-stats", Static).update(describe(job))
        bar = self.query_one("#monitor-progress", ProgressBar)
        if job.total_steps:
            bar.update(total=job.total_steps, progress=job.step or 0)
        else:
            bar.update(total=None)
        await self._load_gpu()
        await self._load_metrics()
        await self._load_samples()
        if self._followed != job.id:
            self._follow(job)

    async def _load_gpu(self) -> None:
        """The telemetry line: shown for trainings that held GPUs or failed on one (never on a CPU machine)."""
        line = self.query_one("#monitor-gpu", Static)
        job = self.job
        line.display = bool(job.gpu_ids or job.peak_memory or job.failure_cause)
        if not line.display:
            return
        samples = await self.store.run(repo.gpu_samples, job.id, time.time() - SPARK_SECONDS) if job.gpu_ids else []
        line.update(monitor_line(job, samples, max(self.query_one("#monitor-main").size.width - 2, 40)))

    async def _load_metrics(self) -> None:
        since = self._metrics[-1][0] if self._metrics else -1
        points = await self.store.run(repo.loss_points, self.job.id, since)
        self._metrics += [(step, loss) for step, loss in points if loss is not None]
        if self._compare_auto:
            self.compare_id = await self._default_compare()
        if self.compare_id is not None and not self._compare_metrics:
            points = await self.store.run(repo.loss_points, self.compare_id)
            self._compare_metrics = [(step, loss) for step, loss in points if loss is not None]
        series = [(f"job {self.job.id}", self._metrics)]
        if self.compare_id is not None:
            series.append((f"job {self.compare_id}", self._compare_metrics))
        self.query_one("#monitor-loss", LossPlot).set_series(series)

    async def _default_compare(self) -> int | None:
        """The run a resumed job continues, else the previous training that has a loss curve."""
        if self.job.parent_id:
            return self.job.parent_id
        return await self.store.run(repo.newest_job_with_metrics, self.job.id)

    async def _load_samples(self) -> None:
        events = await self.store.run(repo.job_events, self.job.id, ("sample",))
        samples = [(d["path"], d.get("step")) for _, d in events if Path(d["path"]).exists()]
        self.query_one("#monitor-samples", SampleStrip).set_samples(samples)

    def _follow(self, job: Job) -> None:
        if not job.log_path:
            return  # not started yet: try again at the next refresh
        log = self.query_one("#monitor-log", LogView)
        log.clear()
        self._followed = job.id
        self._tail(Path(job.log_path), job.id)

    @work(thread=True, exclusive=True, group="monitor-log")
    def _tail(self, path: Path, job_id: int) -> None:
        """Feed the log file to the view as it grows (until another job is selected or the screen closes)."""
        worker = get_current_worker()
        try:
            log = self.query_one("#monitor-log", LogView)
        except NoMatches:
            return
        offset = 0
        while not worker.is_cancelled and self._followed == job_id:
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    data = handle.read(1 << 20)
            except OSError:
                data = b""
            if data:
                offset += len(data)
                log.feed(data)
                continue
            time.sleep(0.2)

    # -- selection
    @on(DataTable.RowSelected, "#monitor-jobs")
    @on(DataTable.RowHighlighted, "#monitor-jobs")
    async def _job_chosen(self, event) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        job_id = int(event.row_key.value)
        if job_id != self.job_id:
            self.job_id = job_id
            self._metrics, self._compare_metrics = [], []
            self._compare_auto = True
            await self._load_job()

    # -- actions
    def action_close(self) -> None:
        """Close the search box, or leave the monitor (trainings keep running)."""
        box = self.query_one("#monitor-search", Input)
        if box.display:
            box.display = False
            self.query_one("#monitor-log", LogView).focus()
            return
        self._followed = None
        self.app.pop_screen()

    def action_cancel_job(self) -> None:
        """Stop the selected training (or take it out of the queue); asks for a second press first."""
        if self.job is None or self.job.terminal:
            self.notify("no running or queued training selected", severity="warning")
            return
        armed, self._cancel_armed = self._cancel_armed, None
        if armed is None or armed[0] != self.job.id or time.monotonic() - armed[1] > CONFIRM_S:
            self._cancel_armed = (self.job.id, time.monotonic())
            lost = "" if self.job.status == JobStatus.QUEUED else " (steps since the last saved state are lost)"
            self.notify(f"press c again to cancel job {self.job.id}{lost}", severity="warning")
            return
        self.notify(f"cancelling job {self.job.id}…")
        self._cancel(self.job.id)

    @work(group="monitor-cancel")
    async def _cancel(self, job_id: int) -> None:
        job = await cancel_training(self.store, self.ctx, job_id)
        left = group_members(job.pgid) if job.pgid else []
        self.notify(f"job {job_id} {job.status.value}" + (f"; still running: {left}" if left else ""),
                    severity="error" if left else "information")

    @work(exclusive=True, group="monitor-actions")
    async def action_resume_job(self) -> None:
        """Continue the selected failed/cancelled/interrupted training from its newest saved state."""
        if self.job is None:
            return
        if self.job.kind == "sweep":  # a checkpoint sweep renders the images it still lacks
            new_id = (await resume_sweep(self.store, self.ctx, self.job.params["sweep_id"]))["job_id"]
        else:
            new_id = await resume_training(self.store, self.ctx, self.job.id)
        self.notify(f"job {new_id} resumed job {self.job.id}")
        self.job_id = new_id
        self._metrics, self._compare_metrics, self._compare_auto = [], [], True
        await self.refresh_data()

    @work(exclusive=True, group="monitor-actions")
    async def action_move_queued(self, delta: int) -> None:
        """Move the selected queued training earlier (-1) or later (+1)."""
        if self.job is None or not self.job.queue_position:
            self.notify("select a queued training to reorder", severity="warning")
            return
        await run_queue.move(self.store, self.ctx, self.job.id, self.job.queue_position + delta)

    @work(exclusive=True, group="monitor-actions")
    async def action_remove_queued(self) -> None:
        """Take the selected training out of the queue."""
        if self.job is None:
            return
        await run_queue.remove(self.store, self.ctx, self.job.id)
        self.notify(f"job {self.job.id} removed from the queue")

    async def action_compare(self) -> None:
        """Overlay the next other training's loss curve (cycles; the last step turns it off)."""
        others = [j.id for j in self.jobs if self.job is not None and j.id != self.job.id]
        if not others:
            self.notify("no other training to compare with")
            return
        self._compare_auto = False
        if self.compare_id in others:
            index = others.index(self.compare_id) + 1
            self.compare_id = others[index] if index < len(others) else None
        else:
            self.compare_id = others[0]
        self._compare_metrics = []
        await self._load_metrics()

    def action_mark(self) -> None:
        """Mark or unmark the selected training for a comparison (V)."""
        if self.job is None:
            return
        if self.job.id in self.marked:
            self.marked.remove(self.job.id)
        else:
            self.marked.append(self.job.id)
        self._fill_table()
        self.notify(f"{len(self.marked)} run(s) marked: V compares them" if self.marked else "no run marked")

    def action_compare_runs(self) -> None:
        """Compare the marked trainings, else the training sweep of the selected one, side by side."""
        if len(self.marked) >= 2:
            self.app.push_screen(CompareScreen(self.store, self.ctx, list(self.marked)))
            return
        sweep = self.sweeps.get(self.job.id) if self.job is not None else None
        if sweep is not None:
            self.app.push_screen(CompareScreen(self.store, self.ctx, sweep_id=sweep[0]))
            return
        self.notify("mark two or more runs with space (or select a run of a training sweep), then press V",
                    severity="warning")

    @work(exclusive=True, group="monitor-actions")
    async def action_remedies(self) -> None:
        """Open the remedies of the selected training (out of GPU memory: its family's memory savers)."""
        job = self.job
        if job is None or not job.terminal:
            self.notify("select a training that ended to see what to change", severity="warning")
            return
        config, _folder = await asyncio.to_thread(job_config, job)
        schema = await asyncio.to_thread(load_schema, self.ctx, config.backend, config.family)
        self.app.push_screen(RemediesDialog(self.store, self.ctx, job, remedies_for(config, schema)),
                             self._remedy_started)

    def _remedy_started(self, job_id: int | None) -> None:
        if job_id is not None:
            self.notify(f"job {job_id} started from the edited copy")
            self.job_id = job_id
            self._metrics, self._compare_metrics, self._compare_auto = [], [], True
            self._refresh_worker()

    def action_sweep_checkpoints(self) -> None:
        """Render the selected training's checkpoints with prompts x seeds (a checkpoint sweep job, queued)."""
        from loratui.tui.screens.sweeps.start import SweepStartDialog

        if self.job is None or self.job.kind != "train":
            self.notify("select a training to render its checkpoints", severity="warning")
            return
        self.app.push_screen(SweepStartDialog(self.job.id, self.job.title), self._start_sweep)

    @work(exclusive=True, group="monitor-actions")
    async def _start_sweep(self, request) -> None:
        if request is None:
            return
        from loratui.training.sweep.launch import start_sweep

        result = await start_sweep(self.store, self.ctx, request)
        self.notify(f"sweep {result['id']}: job {result['job_id']}, {result['cells']} images (g opens its grid)")
        self.job_id = result["job_id"]
        await self.refresh_data()

    def action_sweeps(self) -> None:
        """Open the checkpoint sweeps of the selected training (``<output_dir>/sweeps``)."""
        # Imported here, not at the top: the grid and its image encoders are only needed once a sweep is opened.
        from loratui.loras.sweep_find import find_sweeps
        from loratui.tui.screens.sweeps.grid import open_sweeps

        if self.job is None:
            return
        if self.job.kind == "sweep":  # the sweep job itself: its own folder
            folder = Path(self.job.params.get("folder") or "")
            open_sweeps(self.app, [folder] if (folder / "sweep.json").is_file() else [],
                        f"The folder of sweep job {self.job.id} is gone")
            return
        output_dir = self.job.params.get("output_dir")
        open_sweeps(self.app, find_sweeps(output_dir),
                    f"No checkpoint sweep of job {self.job.id} under {output_dir or 'its output folder'}/sweeps "
                    "(S renders one)")

    def action_search(self) -> None:
        """Show the search box."""
        box = self.query_one("#monitor-search", Input)
        box.display = True
        box.focus()

    @on(Input.Submitted, "#monitor-search")
    def _search(self, event: Input.Submitted) -> None:
        log = self.query_one("#monitor-log", LogView)
        found = log.find(event.value)
        if found is None and event.value:
            self.notify(f"not found: {event.value}", severity="warning")
        event.input.display = False
        log.focus()


def group_sweeps(jobs: list[Job], sweeps: dict[int, tuple[int, str]]) -> list[Job]:
    """The jobs (newest first) with the runs of each training sweep together, where its newest run is."""
    anchor: dict[int, int] = {}
    for index, job in enumerate(jobs):
        if job.id in sweeps:
            anchor.setdefault(sweeps[job.id][0], index)
    order = {job.id: (anchor[sweeps[job.id][0]] if job.id in sweeps else index, index)
             for index, job in enumerate(jobs)}
    return sorted(jobs, key=lambda job: order[job.id])


def open_monitor(app) -> MonitorScreen:
    """ScreenAction factory: the monitor on the app's store."""
    return MonitorScreen(app.store, app.ctx)


ACTIONS = [ScreenAction(id="monitor.open", key="J", description="Training monitor", factory=open_monitor)]
