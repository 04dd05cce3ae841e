"""Modal dialogs of the LoRA library and models screens: resize, upload, scan folder, download, compare, job.

Each dialog validates its fields and dismisses with a small request object (or None on Escape); the screen
that opened it runs the work. Form errors are shown in the dialog and nothing is dismissed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, DataTable, Input, Label, Select, Static

from loratui.errors import InputError, LoratuiError
from loratui.loras.resize import ResizeOptions


@dataclass
class UploadRequest:
    """What the upload dialog asks for."""

    repo: str
    private: bool
    token_env: str


@dataclass
class DownloadRequest:
    """What the download dialog asks for."""

    source: str  # hf | civitai
    ref: str
    file: str | None
    folder: Path
    token_env: str


class FormDialog(ModalScreen):
    """Base: a titled form; ctrl+s submits, escape cancels, errors show under the fields."""

    CSS_PATH = "loras.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="lora_dialog.cancel"),
        Binding("ctrl+s", "submit", "OK", id="lora_dialog.submit"),
    ]
    TITLE_TEXT = ""

    def compose_fields(self) -> ComposeResult:  # pragma: no cover - overridden
        yield from ()

    def compose(self) -> ComposeResult:
        with Vertical(classes="lora-dialog"):
            yield Static(Text(self.TITLE_TEXT, style="bold"), classes="lora-dialog-title")
            with VerticalScroll(classes="lora-dialog-body"):
                yield from self.compose_fields()
            yield Static("", classes="lora-dialog-error", id="dialog-error")
            yield Static("ctrl+s: OK   escape: cancel", classes="lora-dialog-help")

    def on_mount(self) -> None:
        inputs = self.query(Input)
        if inputs:
            inputs.first().focus()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_submit()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def build(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def action_submit(self) -> None:
        try:
            result = self.build()
        except LoratuiError as exc:
            self.query_one("#dialog-error", Static).update(Text(exc.one_line()))
            return
        self.dismiss(result)

    def value(self, widget_id: str) -> str:
        """The stripped text of an Input."""
        return self.query_one(f"#{widget_id}", Input).value.strip()


def _int(text: str, name: str, required: bool = True) -> int | None:
    if not text:
        if required:
            raise InputError(f"{name} is required")
        return None
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{name} must be a whole number, got {text!r}") from None


class ResizeDialog(FormDialog):
    """Rank (or dynamic method + parameter), conv rank, precision and output file for a resize."""

    TITLE_TEXT = "Resize LoRA"

    def __init__(self, source: Path, current_rank: int | None) -> None:
        super().__init__()
        self.source = source
        self.current_rank = current_rank

    def compose_fields(self) -> ComposeResult:
        yield Label(f"{self.source.name} (rank {self.current_rank})")
        yield Label("Rank (dynamic: the maximum; empty = current)")
        yield Input(str(max(1, (self.current_rank or 8) // 2)), id="resize-rank")
        yield Label("Dynamic method")
        yield Select([("fixed rank", "none"), ("sv_fro", "sv_fro"), ("sv_ratio", "sv_ratio"),
                      ("sv_cumulative", "sv_cumulative")], value="none", allow_blank=False, id="resize-dynamic")
        yield Label("Dynamic parameter (e.g. sv_fro 0.9, sv_ratio 8)")
        yield Input("", id="resize-param")
        yield Label("Conv rank (empty = rank)")
        yield Input("", id="resize-conv-rank")
        yield Label("Precision")
        yield Select([("float", "float"), ("fp16", "fp16"), ("bf16", "bf16")], value="float", allow_blank=False,
                     id="resize-precision")
        yield Label("Output file (empty = NAME-rR.safetensors)")
        yield Input("", id="resize-out")

    def build(self) -> tuple[ResizeOptions, Path | None]:
        dynamic = self.query_one("#resize-dynamic", Select).value
        dynamic = None if dynamic == "none" else str(dynamic)
        rank = _int(self.value("resize-rank"), "rank", required=dynamic is None) or self.current_rank or 1
        param_text = self.value("resize-param")
        try:
            param = float(param_text) if param_text else None
        except ValueError:
            raise InputError(f"the dynamic parameter must be a number, got {param_text!r}") from None
        options = ResizeOptions(rank=rank, conv_rank=_int(self.value("resize-conv-rank"), "conv rank", False),
                                dynamic=dynamic, param=param,
                                precision=str(self.query_one("#resize-precision", Select).value)).validate()
        out = self.value("resize-out")
        return options, Path(out).expanduser() if out else None


class UploadDialog(FormDialog):
    """Hub repo, visibility and the environment variable holding the token (the token itself is never typed)."""

    TITLE_TEXT = "Upload to the Hugging Face Hub"

    def __init__(self, source: Path) -> None:
        super().__init__()
        self.source = source

    def compose_fields(self) -> ComposeResult:
        yield Label(f"{self.source.name}: the file and a generated model card")
        yield Label("Repo (USER/NAME)")
        yield Input("", placeholder="alice/my-lora", id="upload-repo")
        yield Checkbox("Private repo", value=True, id="upload-private")
        yield Label("Environment variable with the token")
        yield Input("HF_TOKEN", id="upload-token-env")

    def build(self) -> UploadRequest:
        repo = self.value("upload-repo")
        if "/" not in repo:
            raise InputError("give the repo as USER/NAME")
        env = self.value("upload-token-env") or "HF_TOKEN"
        return UploadRequest(repo, self.query_one("#upload-private", Checkbox).value, env)


class FolderDialog(FormDialog):
    """A folder to scan into the library."""

    TITLE_TEXT = "Scan a folder for LoRAs"

    def compose_fields(self) -> ComposeResult:
        yield Label("Folder (searched recursively for .safetensors)")
        yield Input("", id="scan-folder")
        yield Checkbox("Re-read every file (--force)", value=False, id="scan-force")

    def build(self) -> tuple[Path, bool]:
        text = self.value("scan-folder")
        if not text:
            raise InputError("give a folder")
        folder = Path(text).expanduser()
        if not folder.is_dir():
            raise InputError(f"not a folder: {folder}")
        return folder, self.query_one("#scan-force", Checkbox).value


class DownloadDialog(FormDialog):
    """A Hub repo (and file) or a Civitai URL/id, and where to put it."""

    TITLE_TEXT = "Download a model"

    def __init__(self, default_folder: Path) -> None:
        super().__init__()
        self.default_folder = default_folder

    def compose_fields(self) -> ComposeResult:
        yield Label("Source")
        yield Select([("Hugging Face Hub", "hf"), ("Civitai", "civitai")], value="hf", allow_blank=False,
                     id="download-source")
        yield Label("Hub repo id, or Civitai model URL / version id")
        yield Input("", id="download-ref")
        yield Label("File in the repo (Hub; empty = top-level .safetensors)")
        yield Input("", id="download-file")
        yield Label("Folder")
        yield Input(str(self.default_folder), id="download-folder")
        yield Label("Token variable (empty = HF_TOKEN / CIVITAI_API_TOKEN)")
        yield Input("", id="download-token-env")

    def build(self) -> DownloadRequest:
        source = str(self.query_one("#download-source", Select).value)
        ref = self.value("download-ref")
        if not ref:
            raise InputError("give a repo id or a Civitai URL / id")
        file = self.value("download-file") or None
        if source == "civitai" and file:
            raise InputError("a file name is for Hub repos only")
        env = self.value("download-token-env") or ("CIVITAI_API_TOKEN" if source == "civitai" else "HF_TOKEN")
        folder = Path(self.value("download-folder") or str(self.default_folder)).expanduser()
        return DownloadRequest(source, ref, file, folder, env)


class TableDialog(ModalScreen[None]):
    """Read-only rows in a table (comparison, job details); escape or q closes."""

    CSS_PATH = "loras.tcss"
    BINDINGS = [Binding("escape,q", "close", "Close", id="lora_table.close")]

    def __init__(self, title: str, columns: list[str], rows: list[list[str]], note: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.columns = columns
        self.rows = rows
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="lora-dialog lora-table-dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="lora-dialog-title")
            yield DataTable(id="dialog-table", cursor_type="row", zebra_stripes=True)
            if self.note:
                yield Static(Text(self.note), classes="lora-dialog-help")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*self.columns)
        for row in self.rows:
            table.add_row(*[Text(str(cell)) for cell in row])
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
