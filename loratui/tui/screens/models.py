"""The models screen: base models on disk and downloads from the Hub or Civitai.

Opened with `M` (ScreenAction `models.open`). Keys: d download (hash-checked, runs as a job with progress on the
status line; Hub files through huggingface_hub, Civitai resuming its .part file), F5 reload, escape back. The table follows recorded downloads made anywhere
(``apply_changes``).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from loratui.loras import civitai, download
from loratui.loras.present import human_size
from loratui.store.changes import ChangeSet
from loratui.tui.extensions import ScreenAction
from loratui.tui.screens.lora_dialogs import DownloadDialog, DownloadRequest
from loratui.tui.widgets.key_footer import KeyFooter
from loratui.tui.workers import work


class ModelsScreen(Screen):
    """What is on disk, and a way to fetch more."""

    CSS_PATH = "loras.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="models.back"),
        Binding("d", "download", "Download", id="models.download"),
        Binding("f5", "reload", "Reload", id="models.reload"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("Models", id="models-title")
        yield DataTable(id="models-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="models-status")
        yield KeyFooter()

    async def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("source", "ref", "file", "size", "on disk")
        await self.reload()
        table.focus()

    def apply_changes(self, changes: ChangeSet) -> None:
        """A download was recorded (here or elsewhere): read the list again."""
        if changes.full or changes.models:
            self._reload_worker()

    @work(exclusive=True, group="models-reload")
    async def _reload_worker(self) -> None:
        await self.reload()

    async def reload(self) -> None:
        """Re-read the models table and the models folder."""
        rows = await download.list_models(self.app.store, self.app.ctx.paths.models)
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            table.add_row(row["source"], Text(row["ref"] or ""), Text(row["path"]), human_size(row["size"]),
                          "yes" if row["exists"] else "MISSING")
        if not rows:
            self.status(f"No models yet. Press d to download one into {self.app.ctx.paths.models}.")

    def status(self, message: str) -> None:
        """One line under the table."""
        self.query_one("#models-status", Static).update(Text(message))

    def action_back(self) -> None:
        self.app.pop_screen()

    async def action_reload(self) -> None:
        await self.reload()

    def action_download(self) -> None:
        def start(request: DownloadRequest | None) -> None:
            if request is not None:
                self.run_download(request)

        self.app.push_screen(DownloadDialog(self.app.ctx.paths.models), start)

    @work(group="models-download")
    async def run_download(self, request: DownloadRequest) -> None:
        """Download as a job; the status line shows bytes done."""
        # Imported here, not at the top: the Hub client adds ~25 ms to every TUI start.
        from loratui.loras.hub import token_from_env
        from loratui.loras.tasks import run_job

        token = token_from_env(request.token_env)
        self.status(f"downloading {request.ref} ...")

        def job(progress):
            report = lambda name, done, total: progress(done, total, name)  # noqa: E731
            if request.source == "civitai":
                return [civitai.download_civitai(request.ref, request.folder, token=token, progress=report)]
            return download.download_hf(request.ref, request.folder, request.file, token=token, progress=report)

        def show(done: int, total: int | None, name: str | None) -> None:
            amount = f"{human_size(done)} of {human_size(total)}" if total else human_size(done)
            self.app.call_from_thread(self.status, f"downloading {name or request.ref}: {amount}")

        try:
            job_id, results = await run_job(self.app.store, "download", f"Download {request.ref}",
                                            {"source": request.source, "ref": request.ref, "file": request.file,
                                             "to": str(request.folder)}, job, on_progress=show)
            for item in results:
                await download.record_download(self.app.store, item)
        except BaseException:
            self.status("")
            raise
        names = ", ".join(Path(r.path).name for r in results)
        self.status(f"job {job_id}: downloaded {names}")
        self.notify(f"Downloaded {names}", markup=False)


def open_models(app) -> ModelsScreen | None:
    """ScreenAction factory."""
    if getattr(app, "store", None) is None:
        app.notify("The database is not open yet", severity="warning")
        return None
    return ModelsScreen()


ACTIONS = [ScreenAction(id="models.open", key="M", description="Models (downloads)", factory=open_models)]
