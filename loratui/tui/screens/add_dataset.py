"""The add-dataset prompt: a folder path completed the way a shell completes it, and what the folder holds.

- Tab completes as far as the folders matching the typed name agree (their common prefix), like bash; a unique
  match gets its trailing '/'. When several remain, they are listed under the input: Tab never picks one for
  the user (`/data/real/` + Tab lists `2_gray/  10_photos/` instead of descending into the first). Hidden folders
  match only a name typed with a leading dot. The grey suggestion shows exactly what Tab would add.
- Once the text names a folder, the dialog says what it holds (kohya `N_name` subsets with repeats, images,
  captions; counted off the UI thread by a bounded walk, ``loratui.datasets.folder_summary``), and warns when
  the folder looks like one subset of a bigger dataset.
- Enter checks the folder (``datasets.service.check_new_dataset``); a refusal is shown in the dialog, which
  stays open with the text as typed. A failure later, during the scan, reopens it with the text and the error.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.timer import Timer
from textual.widgets import Input, Static

from loratui.datasets.folder_summary import FolderSummary, natural_key, summarize_folder
from loratui.datasets.service import check_new_dataset
from loratui.errors import LoratuiError
from loratui.text import literal
from loratui.tui.workers import work

SUMMARY_DEBOUNCE_S = 0.25
MAX_CANDIDATE_LINES = 2
MAX_SUBSET_LINES = 4


@dataclass
class Completion:
    """What Tab does to a path: the new text (unchanged when nothing is certain) and the folders that match."""

    value: str
    candidates: list[str] = field(default_factory=list)
    """Matching folder names (without '/'), naturally sorted; more than one means the choice is the user's."""


def complete_path(value: str) -> Completion:
    """Shell-like completion of the last component of `value` among folders (see the module docstring)."""
    if not value:
        return Completion(value)
    expanded = os.path.expanduser(value)
    folder, _sep, prefix = expanded.rpartition("/")
    base = (folder or "/") if "/" in expanded else "."
    show_hidden = prefix.startswith(".")
    try:
        with os.scandir(base) as entries:
            names = [entry.name for entry in entries
                     if entry.name.startswith(prefix) and (show_hidden or not entry.name.startswith("."))
                     and _is_dir(entry)]
    except OSError:
        return Completion(value)
    if not names:
        return Completion(value)
    names.sort(key=natural_key)
    common = os.path.commonprefix(names)
    head = folder + "/" if "/" in expanded else ""
    completed = head + common + ("/" if len(names) == 1 else "")
    if value.startswith("~") and not expanded.startswith("~"):
        home = os.path.expanduser("~")
        completed = "~" + completed[len(home):] if completed.startswith(home) else completed
    if len(completed) < len(value):  # `~` already expanded differently: leave the text alone
        completed = value
    return Completion(completed, names)


def complete_folder(value: str) -> str | None:
    """The text Tab would make of `value`, or None when it adds nothing."""
    completed = complete_path(value).value
    return completed if completed != value else None


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # a link to a folder completes like the folder
    except OSError:
        return False


def describe_summary(summary: FolderSummary, width: int = 66) -> Text:
    """The lines the dialog shows for a folder: totals, subsets, and the one-subset warning."""
    text = Text()
    at_least = "" if summary.complete else "at least "
    subsets = summary.subsets
    totals = f"{at_least}{summary.images} images, {summary.captions} with captions"
    if subsets:
        totals = f"{len(subsets)} kohya subset{'s' if len(subsets) != 1 else ''}, " + totals
    text.append(totals, style="bold" if summary.images else "yellow")
    if not summary.images:
        text.append("\nno images here (png, jpg, jpeg, webp, bmp, avif, jxl)", style="yellow")
    shown = summary.folders[:MAX_SUBSET_LINES]
    name_w = min(max((len(literal(f.rel_path or ".")) for f in shown), default=1), width // 2)
    for folder in shown:
        name = literal(folder.rel_path or ".")
        name = name if len(name) <= name_w else "…" + name[-(name_w - 1):]
        text.append(f"\n  {name:<{name_w}}  ")
        text.append(f"{folder.repeats:>3}x", style="cyan")
        text.append(f"  {folder.images} images, {folder.captions} captions", style="dim")
    if len(summary.folders) > len(shown):
        text.append(f"\n  … {len(summary.folders) - len(shown)} more folders", style="dim")
    if summary.subset_of is not None:
        others = ", ".join(literal(name) for name in summary.siblings[:3])
        more = f" and {len(summary.siblings) - 3} more" if len(summary.siblings) > 3 else ""
        text.append(f"\nThis looks like one subset: {literal(str(summary.subset_of))} also holds {others}{more}. "
                    "Add that folder to train on all of them.", style="yellow")
    return text


class FolderSuggester(Suggester):
    """Shows what Tab would add (only what is certain)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(complete_folder, value)


class PathInput(Input):
    """An Input whose Tab completes the folder name instead of moving the focus."""

    BINDINGS = [Binding("tab", "complete", "Complete folder", id="add.complete", show=False)]

    async def action_complete(self) -> None:
        value = self.value
        completion = await asyncio.to_thread(complete_path, value)
        if self.value != value:
            return  # typed on meanwhile
        if completion.value != value:
            self.value = completion.value
            self.cursor_position = len(self.value)
        screen = self.screen
        if isinstance(screen, AddDatasetScreen):
            screen.show_candidates(completion.candidates if len(completion.candidates) > 1 else [])


class AddDatasetScreen(ModalScreen[str | None]):
    """Asks for a dataset folder; dismisses with the path (checked) or None."""

    CSS_PATH = "add_dataset.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="add.cancel")]

    def __init__(self, value: str = "", error: str | None = None, caption_ext: str = ".txt") -> None:
        super().__init__()
        self.initial_value = value
        self.initial_error = error
        self.caption_ext = caption_ext
        self._summary_timer: Timer | None = None
        self._error_for: str | None = None
        """The text the error shown is about."""
        self.summary: FolderSummary | None = None
        """What the folder named by the text holds, once counted (None otherwise)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("Add a dataset folder", style="bold"), id="dialog-title")
            yield Static(Text("A folder of kohya N_name subsets, or of images. Tab completes, Enter adds and "
                              "scans, Esc cancels."), id="dialog-question")
            yield PathInput(self.initial_value, placeholder="/path/to/dataset", suggester=FolderSuggester(),
                            id="path")
            yield Static("", id="add-candidates")
            yield Static("", id="add-summary")
            yield Static("", id="add-error")

    def on_mount(self) -> None:
        path_input = self.query_one(PathInput)
        path_input.cursor_position = len(path_input.value)
        for widget_id in ("add-candidates", "add-summary", "add-error"):
            self.query_one(f"#{widget_id}").display = False
        if self.initial_error:
            self.show_error(self.initial_error)
        if self.initial_value:
            self._schedule_summary(self.initial_value)

    # -- what the dialog shows ----------------------------------------------------------------------------

    def show_candidates(self, names: list[str]) -> None:
        """List the folders an ambiguous Tab left to choose from (empty: hide the list)."""
        widget = self.query_one("#add-candidates", Static)
        widget.display = bool(names)
        if not names:
            return
        width = max(20, (self.query_one(PathInput).size.width or 66) - 2)
        text = Text(no_wrap=False)
        lines, line_len, shown = 1, 0, 0
        for name in names:
            item = literal(name) + "/"
            if line_len and line_len + 2 + len(item) > width:
                if lines == MAX_CANDIDATE_LINES:
                    break
                text.append("\n")
                lines, line_len = lines + 1, 0
            elif line_len:
                text.append("  ")
                line_len += 2
            text.append(item, style="bold")
            line_len += len(item)
            shown += 1
        if shown < len(names):
            text.append(f"  +{len(names) - shown} more", style="dim")
        widget.update(text)

    def show_error(self, message: str) -> None:
        """Say why the folder was refused (the text stays as typed, and the message until the text changes)."""
        self._error_for = self.query_one(PathInput).value
        widget = self.query_one("#add-error", Static)
        widget.update(Text(literal(message), style="bold red"))
        widget.display = True

    def _clear_error(self, value: str) -> None:
        # Input posts Changed for its initial value too, after the dialog showed the error it reopened with.
        if value != self._error_for:
            self.query_one("#add-error", Static).display = False

    # -- events -------------------------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        self._clear_error(event.value)
        self.show_candidates([])
        self._schedule_summary(event.value)

    def _schedule_summary(self, value: str) -> None:
        if self._summary_timer is not None:
            self._summary_timer.stop()
        self._summary_timer = self.set_timer(SUMMARY_DEBOUNCE_S, lambda: self._summary_worker(value))

    @work(exclusive=True, group="add-summary")
    async def _summary_worker(self, value: str) -> None:
        widget = self.query_one("#add-summary", Static)
        path = os.path.expanduser(value.strip())
        summary = None
        if path and os.path.isdir(path):
            try:
                summary = await asyncio.to_thread(summarize_folder, path, self.caption_ext)
            except OSError as exc:
                widget.update(Text(f"cannot list this folder: {exc.strerror or exc}", style="yellow"))
                widget.display = True
                return
        if self.query_one(PathInput).value != value:
            return  # the text changed meanwhile; its own count follows
        self.summary = summary
        widget.display = summary is not None
        if summary is not None:
            widget.update(describe_summary(summary, max(30, widget.size.width or 66)))

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit_worker(event.value.strip())

    @work(exclusive=True, group="add-submit")
    async def _submit_worker(self, value: str) -> None:
        if not value:
            self.show_error("Type a folder path (Tab completes), or Esc to cancel")
            return
        try:
            await check_new_dataset(self.app.store, value)
        except LoratuiError as exc:
            self.show_error(exc.one_line())
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
