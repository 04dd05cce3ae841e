"""Dialogs shared by the batch-operation screens: a preview confirmation and a one-line prompt."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from loratui.datasets import history, journal
from loratui.datasets.batch import Preview
from loratui.text import literal

TCSS = str(Path(__file__).with_name("tagops.tcss"))
SAMPLE_LINES = 12


def preview_text(preview: Preview, count: int = SAMPLE_LINES) -> Text:
    """The sample diff of a preview: one line per caption, removed tags red, added tags green."""
    text = Text()
    for change in preview.sample(count):
        removed, added = change.tag_diff()
        text.append(literal(change.rel_path), style="bold")
        text.append(": ")
        for tag in removed:
            text.append(f"-{literal(tag)} ", style="red")
        for tag in added:
            text.append(f"+{literal(tag)} ", style="green")
        if not removed and not added:
            text.append(f"-> {literal(change.after)}", style="yellow")
        text.append("\n")
    more = len(preview.changes) - min(count, len(preview.changes))
    if more:
        text.append(f"... and {more} more", style="dim")
    return text


class OperationPreviewDialog(ModalScreen[bool]):
    """Shows what a batch operation would change (count + sample diff); y applies, n/Escape cancels."""

    CSS_PATH = TCSS
    BINDINGS = [
        Binding("y", "answer(True)", "Apply", id="tagops.preview.apply"),
        Binding("n,escape", "answer(False)", "Cancel", id="tagops.preview.cancel"),
    ]

    def __init__(self, title: str, preview: Preview) -> None:
        super().__init__()
        self.title_text = title
        self.preview = preview

    def compose(self) -> ComposeResult:
        changes = len(self.preview.changes)
        with Vertical(id="op-dialog"):
            yield Static(Text(literal(self.title_text)), id="op-title")
            yield Static(Text(f"{changes} of {self.preview.selected} captions will change. "
                              "Undo is possible afterwards."), id="op-count")
            with VerticalScroll(id="op-sample"):
                yield Static(preview_text(self.preview), id="op-sample-text")
            with Horizontal(id="op-buttons"):
                yield Button("Apply (y)", id="apply", variant="warning", disabled=changes == 0)
                yield Button("Cancel (n)", id="cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "apply")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(bool(answer and self.preview.changes))


class TagPromptDialog(ModalScreen[str | None]):
    """Asks for one line of text (a new tag name); Enter confirms, Escape cancels."""

    CSS_PATH = TCSS
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="tagops.prompt.cancel")]

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="op-dialog"):
            yield Static(Text(literal(self.title_text)), id="op-title")
            yield Input(value=self.value, id="op-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(value or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question with a body text; y confirms, n/Escape declines."""

    CSS_PATH = TCSS
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="tagops.confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="tagops.confirm.no"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical(id="op-dialog"):
            yield Static(Text(literal(self.title_text)), id="op-title")
            with VerticalScroll(id="op-sample"):
                yield Static(Text(literal(self.body, newlines=True)), id="op-body")
            with Horizontal(id="op-buttons"):
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(bool(answer))


class RecoverDialog(ModalScreen[str | None]):
    """Operations were interrupted by a crash: finish them (f), roll them back (b), or decide later (Escape)."""

    CSS_PATH = TCSS
    BINDINGS = [
        Binding("f", "choose('finish')", "Finish", id="tagops.recover.finish"),
        Binding("b", "choose('rollback')", "Roll back", id="tagops.recover.rollback"),
        Binding("escape", "choose('')", "Later", id="tagops.recover.later"),
    ]

    def __init__(self, operations: list[dict]) -> None:
        super().__init__()
        self.operations = operations

    def compose(self) -> ComposeResult:
        lines = "\n".join(f"operation {op['id']}: {literal(op['description'] or op['kind'])} ({op['action']})"
                          for op in self.operations)
        with Vertical(id="op-dialog"):
            yield Static(Text("Interrupted before it finished (loratui or the machine stopped):"), id="op-title")
            with VerticalScroll(id="op-sample"):
                yield Static(Text(lines + "\n\nFinish writes the captions it had not written yet; roll back "
                                  "restores the ones it had. Files changed since are left alone."), id="op-body")
            with Horizontal(id="op-buttons"):
                yield Button("Finish (f)", id="finish", variant="warning")
                yield Button("Roll back (b)", id="rollback", variant="warning")
                yield Button("Later (Esc)", id="later", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "later" else event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice or None)


async def offer_recovery(app, store, dataset) -> bool:
    """If operations of `dataset` were interrupted, ask to finish or roll them back (call from a worker).

    Returns True when something was recovered.
    """
    found = await journal.interrupted_operations(store, dataset)
    if not found:
        return False
    choice = await app.push_screen_wait(RecoverDialog(found))
    if choice is None:
        app.notify(f"Batch operations stay blocked until then (`loratui tags {dataset.name} recover`).",
                   severity="warning")
        return False
    results = await history.recover(store, dataset, finish=choice == "finish")
    conflicts = sum(len(r.conflicts) for r in results)
    app.notify(f"{'Finished' if choice == 'finish' else 'Rolled back'} {len(results)} operation(s)"
               + (f"; {conflicts} files changed meanwhile were left alone" if conflicts else ""))
    return True
