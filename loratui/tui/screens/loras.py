"""The LoRA library screen: table of indexed LoRAs, details panel (metadata, tag frequency), and actions.

Opened with `L` (ScreenAction `loras.open`). Keys: r resize, u upload, c compare (press on A, then on B),
j the job that made it, g the checkpoint sweeps of its run (``<folder>/sweeps``), s scan a folder, F5 reload,
escape back. ★ marks a checkpoint kept as the winner of a sweep. Resizes, uploads and scans run as jobs in
workers. The table follows the library: whatever indexes a LoRA (a scan here or in the CLI, a finished
training, a resize) reaches it as a change (``apply_changes``).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from loratui.errors import LoratuiError
from loratui.jobs import repo as job_repo
from loratui.loras import library
from loratui.loras.inspect import LoraInfo, inspect_file
from loratui.loras.present import human_size, info_rows
from loratui.store.changes import ChangeSet
from loratui.training.run import sweep_repo
from loratui.tui.extensions import ScreenAction
from loratui.tui.screens.compare import CompareScreen
from loratui.tui.screens.lora_dialogs import FolderDialog, ResizeDialog, TableDialog, UploadDialog, UploadRequest
from loratui.tui.widgets.key_footer import KeyFooter
from loratui.tui.workers import work


class LorasScreen(Screen):
    """Browse the library and act on the highlighted LoRA."""

    HELP_SECTION = "LoRA library"

    CSS_PATH = "loras.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="loras.back"),
        Binding("r", "resize", "Resize", id="loras.resize"),
        Binding("u", "upload", "Upload", id="loras.upload"),
        Binding("c", "compare", "Compare", id="loras.compare"),
        Binding("j", "reveal_job", "Job", id="loras.reveal_job"),
        Binding("g", "sweeps", "Sweep grid", id="loras.sweeps", show=False),
        Binding("s", "scan", "Scan folder", id="loras.scan"),
        Binding("f5", "reload", "Reload", id="loras.reload"),
        Binding("t", "compare_runs", "Compare runs", id="loras.compare_runs"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, library.LoraRecord] = {}
        self.compare_with: library.LoraRecord | None = None
        self.run_a: library.LoraRecord | None = None
        self._info_cache: dict[str, LoraInfo | str] = {}
        self._select_next: str | None = None
        """A path to put the cursor on at the next reload (a file this screen just wrote)."""

    def compose(self) -> ComposeResult:
        yield Static("LoRA library", id="loras-title")
        with Horizontal(id="loras-panels"):
            yield DataTable(id="loras-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="loras-details"):
                yield Static("", id="loras-meta")
                yield Static("", id="loras-tags")
        yield Static("", id="loras-status")
        yield KeyFooter()

    async def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("id", "file", "size", "dim", "alpha", "base model", "trigger words", "job")
        await self.reload()
        table.focus()

    @property
    def store(self):
        """The app's open Store."""
        return self.app.store

    def apply_changes(self, changes: ChangeSet) -> None:
        """The library changed (a scan, a finished training, a resize, here or elsewhere): read it again."""
        if changes.full or changes.loras:
            self._reload_worker()

    @work(exclusive=True, group="loras-reload")
    async def _reload_worker(self) -> None:
        self._info_cache.clear()
        select, self._select_next = self._select_next, None
        await self.reload(select_path=select)

    async def reload(self, select_path: str | None = None) -> None:
        """Re-read the library into the table (keeping or moving the cursor)."""
        records = await library.list_loras(self.store)
        table = self.query_one(DataTable)
        current = self.selected
        table.clear()
        self.records = {}
        for record in records:
            key = str(record.id)
            self.records[key] = record
            name = Text(("★ " if record.chosen_at else "") + record.name)
            table.add_row(str(record.id), name, human_size(record.size), str(record.dim or ""),
                          "" if record.alpha is None else f"{record.alpha:g}", Text(record.base_model or ""),
                          Text(", ".join(record.trigger_words[:3])), str(record.job_id or ""), key=key)
        target = select_path or (current.path if current else None)
        for index, record in enumerate(records):
            if record.path == target:
                table.move_cursor(row=index)
        if not records:
            self.query_one("#loras-meta", Static).update(
                Text("The library is empty. Press s to scan a folder, or run `loratui lora scan DIR`."))
            self.query_one("#loras-tags", Static).update("")
        else:
            self.show_details(self.selected)

    @property
    def selected(self) -> library.LoraRecord | None:
        """The highlighted library entry."""
        table = self.query_one(DataTable)
        if not self.records or table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - no cursor row yet
            return None
        return self.records.get(key)

    @on(DataTable.RowHighlighted, "#loras-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_details(self.records.get(event.row_key.value))

    def _info(self, record: library.LoraRecord) -> LoraInfo | str:
        cached = self._info_cache.get(record.path)
        if cached is None:
            try:
                cached = inspect_file(record.path)
            except LoratuiError as exc:
                cached = exc.one_line()
            self._info_cache[record.path] = cached
        return cached

    def show_details(self, record: library.LoraRecord | None) -> None:
        """Fill the details panel: metadata rows and tag frequency."""
        meta = self.query_one("#loras-meta", Static)
        tags = self.query_one("#loras-tags", Static)
        if record is None:
            meta.update("")
            tags.update("")
            return
        info = self._info(record)
        if isinstance(info, str):
            meta.update(Text(f"{record.path}\n\n{info}"))
            tags.update("")
            return
        text = Text()
        width = 16
        job = {"id": record.job_id, "status": "j: details"} if record.job_id else None
        for label, value in info_rows(info, job, record.id):
            text.append(f"{label:<{width}}", style="bold")
            text.append(f"{value}\n")
        meta.update(text)
        top = info.summary.top_tags(40)
        tag_text = Text("Tag frequency\n", style="bold")
        if top:
            peak = top[0][1]
            for tag, count in top:
                bar = "█" * max(1, round(12 * count / peak))
                tag_text.append(f"{count:>5} {bar:<12} ")
                tag_text.append(f"{tag}\n")
        else:
            tag_text.append("(no ss_tag_frequency in the metadata)\n")
        tags.update(tag_text)

    def status(self, message: str) -> None:
        """One line under the table."""
        self.query_one("#loras-status", Static).update(Text(message))

    # -- actions ------------------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    async def action_reload(self) -> None:
        self._info_cache.clear()
        await self.reload()

    def _need_selection(self) -> library.LoraRecord | None:
        record = self.selected
        if record is None:
            self.notify("No LoRA selected", severity="warning")
        elif not Path(record.path).exists():
            self.notify(f"{record.path} no longer exists; rescan its folder", severity="warning")
            return None
        return record

    def action_resize(self) -> None:
        record = self._need_selection()
        if record is None:
            return

        def start(result) -> None:
            if result is not None:
                options, out = result
                self.status(f"resizing {record.name} ...")
                self.run_resize(record, options, out)

        self.app.push_screen(ResizeDialog(Path(record.path), record.dim), start)

    @work(group="loras-resize")
    async def run_resize(self, record: library.LoraRecord, options, out: Path | None) -> None:
        """Resize as a job; progress goes to the status line."""
        # Imported here, not at the top: resize, upload and compare together add ~50 ms to every TUI start.
        from loratui.loras.resize import run_resize_job

        try:
            job_id, report = await run_resize_job(
                self.store, record.path, out, options,
                progress=lambda done, total, _name: self.status(f"resizing {record.name}: {done}/{total} modules"))
        except BaseException:
            self.status("")
            raise
        self._select_next = str(report.output)
        await library.index_file(self.store, report.output, job_id=job_id)
        self.status(f"job {job_id}: wrote {Path(report.output).name}, "
                    f"{report.energy_retained:.2%} Frobenius energy retained")
        self.notify(f"Resized: {Path(report.output).name}", markup=False)

    def action_upload(self) -> None:
        record = self._need_selection()
        if record is None:
            return

        def start(request: UploadRequest | None) -> None:
            if request is not None:
                self.run_upload(record, request)

        self.app.push_screen(UploadDialog(Path(record.path)), start)

    @work(group="loras-upload")
    async def run_upload(self, record: library.LoraRecord, request: UploadRequest) -> None:
        """Upload as a job (the token is read from the environment variable, never shown)."""
        # Imported here, not at the top: resize, upload and compare together add ~50 ms to every TUI start.
        from loratui.loras.hub import token_from_env, upload_lora
        from loratui.loras.tasks import run_job

        token = token_from_env(request.token_env)
        if token is None:
            self.notify(f"No Hub token: set the environment variable {request.token_env}", severity="error")
            return
        self.status(f"uploading {record.name} to {request.repo} ...")

        def job(progress):
            return upload_lora(record.path, request.repo, private=request.private, token=token,
                               progress=lambda phase, done, total: progress(done, total, phase))

        try:
            job_id, result = await run_job(
                self.store, "upload", f"Upload {record.name} to {request.repo}",
                {"path": record.path, "repo": request.repo, "private": request.private}, job,
                on_progress=lambda _d, _t, phase: self.app.call_from_thread(
                    self.status, f"upload {record.name} to {request.repo}: {phase}"))
        except BaseException:
            self.status("")
            raise
        self.status(f"job {job_id}: uploaded to {result.url}")
        self.notify(f"Uploaded to {result.url}", markup=False)

    def action_compare(self) -> None:
        record = self.selected
        if record is None:
            return
        if self.compare_with is None or self.compare_with.id == record.id:
            self.compare_with = record
            self.status(f"compare: A = {record.name}; highlight another LoRA and press c")
            return
        first, self.compare_with = self.compare_with, None
        info_a, info_b = self._info(first), self._info(record)
        if isinstance(info_a, str) or isinstance(info_b, str):
            self.notify(info_a if isinstance(info_a, str) else info_b, severity="error", markup=False)
            return
        # Imported here, not at the top: resize, upload and compare together add ~50 ms to every TUI start.
        from loratui.loras.compare import compare

        result = compare(info_a, info_b)
        rows = [[key, _cell(a), _cell(b)] for key, a, b in result.differing_overview]
        rows += [[key, _cell(a), _cell(b)] for key, a, b in result.metadata_changed]
        note = (f"{result.metadata_same} metadata keys equal; {len(result.rank_changes)} modules differ in rank; "
                f"tags only in A: {len(result.tags_only_a)}, only in B: {len(result.tags_only_b)}")
        self.status("")
        self.app.push_screen(TableDialog(f"A = {first.name}   B = {record.name}", ["", "A", "B"], rows, note))

    async def action_compare_runs(self) -> None:
        """Compare the trainings behind LoRAs: the selected one's training sweep, else two LoRAs' jobs (t on
        each)."""
        record = self.selected
        if record is None:
            return
        if record.job_id is None:
            self.notify("No known training made this LoRA (it was found by a folder scan)", severity="warning")
            return
        if self.run_a is None or self.run_a.id == record.id:
            sweep = (await self.store.run(sweep_repo.sweeps_of_jobs, [record.job_id])).get(record.job_id)
            if sweep is not None and self.run_a is None:
                self.app.push_screen(CompareScreen(self.store, self.app.ctx, sweep_id=sweep[0]))
                return
            self.run_a = record
            self.status(f"compare runs: A = job {record.job_id}; highlight another LoRA and press t")
            return
        first, self.run_a = self.run_a, None
        self.status("")
        self.app.push_screen(CompareScreen(self.store, self.app.ctx, [first.job_id, record.job_id]))

    async def action_reveal_job(self) -> None:
        record = self.selected
        if record is None:
            return
        if record.job_id is None:
            self.notify("No known job made this LoRA (it was found by a folder scan)")
            return
        job = await self.store.run(job_repo.find_job, record.job_id)
        if job is None:
            self.notify(f"Job {record.job_id} that made this LoRA is no longer recorded", severity="warning")
            return
        fields = ["id", "kind", "title", "status", "message", "step", "total_steps", "epoch", "epochs", "loss",
                  "log_path", "workdir", "output", "error"]
        rows = [[name, _cell(getattr(job, name))] for name in fields if getattr(job, name) not in (None, "")]
        self.app.push_screen(TableDialog(f"Job {job.id} that made {record.name}", ["field", "value"], rows))

    def action_sweeps(self) -> None:
        """Open the checkpoint sweeps of the highlighted LoRA's run (the sweep it was kept in first)."""
        # Imported here, not at the top: the grid and its image encoders are only needed once a sweep is opened.
        from loratui.loras.sweep_find import find_sweeps
        from loratui.tui.screens.sweeps.grid import open_sweeps

        record = self.selected
        if record is None:
            return
        folder = Path(record.path).parent
        found = find_sweeps(folder)
        if record.sweep_folder and Path(record.sweep_folder).is_dir():
            kept = Path(record.sweep_folder)
            found = [kept, *(f for f in found if f.resolve() != kept.resolve())]
        open_sweeps(self.app, found, f"No checkpoint sweep under {folder}/sweeps (loratui lora sweep makes one; "
                                     "loratui lora grid FOLDER --open opens one elsewhere)")

    def action_scan(self) -> None:
        def start(result) -> None:
            if result is not None:
                folder, force = result
                self.run_scan(folder, force)

        self.app.push_screen(FolderDialog(), start)

    @work(exclusive=True, group="loras-scan")
    async def run_scan(self, folder: Path, force: bool) -> None:
        """Scan a folder into the library."""
        self.status(f"scanning {folder} ...")
        try:
            report = await library.scan_dir(self.store, folder, force=force)
        except BaseException:
            self.status("")
            raise
        self.status(f"scan: {report.summary()}")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, Enum):
        value = value.value
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 70 else text[:67] + "..."


def open_loras(app) -> LorasScreen | None:
    """ScreenAction factory."""
    if getattr(app, "store", None) is None:
        app.notify("The database is not open yet", severity="warning")
        return None
    return LorasScreen()


ACTIONS = [ScreenAction(id="loras.open", key="L", description="LoRA library", factory=open_loras)]
