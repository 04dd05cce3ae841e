"""The caption editor: a TextArea that knows the dataset's tag vocabulary and asks its screen to save or move.

It is either *viewing* (read-only: letters reach the screen's keys, so `r` after Tab rescans) or *editing*. Only
an explicit request starts editing (`e`/Enter on the image list or on the editor); Tab moves the focus in and out
without it. Leaving an edit saves it (Escape, Tab away, moving to another image); Ctrl+R discards it instead.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from loratui.text import control_pictures, has_control
from loratui.tui.textual_compat import FixedBoxTextArea

MAX_SUGGESTIONS = 5


def current_fragment(text: str, offset: int) -> tuple[int, str]:
    """The tag being typed at character `offset`: (start offset, fragment without leading spaces)."""
    start = max(text.rfind(",", 0, offset), text.rfind("\n", 0, offset)) + 1
    fragment = text[start:offset]
    stripped = fragment.lstrip()
    return start + (len(fragment) - len(stripped)), stripped


def suggest_tags(vocabulary: list[tuple[str, int]], fragment: str, exclude: set[str],
                 limit: int = MAX_SUGGESTIONS) -> list[tuple[str, int]]:
    """Tags starting with `fragment` (case-insensitive), most used first, then those containing it."""
    needle = fragment.lower()
    if not needle:
        return []
    starts, contains = [], []
    for tag, count in vocabulary:
        lowered = tag.lower()
        if lowered == needle or tag in exclude:
            continue
        if lowered.startswith(needle):
            starts.append((tag, count))
            if len(starts) >= limit:
                break
        elif needle in lowered and len(contains) < limit:
            contains.append((tag, count))
    return (starts + contains)[:limit]


class CaptionEditor(FixedBoxTextArea):
    """Edits one caption. Saving and moving between images are the screen's job: this posts requests.

    Its box is fixed by CSS, so a caption of another wrapped height changes only the scroll range
    (see FixedBoxTextArea).
    """

    BINDINGS = [
        Binding("escape", "leave", "Back to list (saves)", id="editor.leave"),
        Binding("ctrl+s", "save", "Save caption", id="editor.save"),
        Binding("ctrl+r", "revert", "Discard edit", id="editor.revert"),
        Binding("enter,e", "edit", "Edit caption", id="editor.edit"),
        Binding("alt+down,ctrl+n", "step(1)", "Save, next image", id="editor.next"),
        Binding("alt+up,ctrl+b", "step(-1)", "Save, previous image", id="editor.previous"),
        Binding("ctrl+t", "complete", "Complete tag", id="editor.complete"),
    ]

    def get_line(self, line_index: int) -> Text:
        """A line as drawn: control characters a caption file may hold (ESC above all) become visible symbols,
        one per character, so the text saved is unchanged and spans keep their offsets. TextArea measures such a
        character as zero cells wide: on a line that has one, the cursor is drawn a cell off after it."""
        line = super().get_line(line_index)
        if not has_control(line.plain):
            return line
        return Text(control_pictures(line.plain), style=line.style, spans=list(line.spans), end="", no_wrap=True)

    class SaveRequested(Message):
        """Ctrl+S: save now."""

    class StepRequested(Message):
        """Save and go to the next (delta 1) or previous (delta -1) image, staying in the editor."""

        def __init__(self, delta: int) -> None:
            super().__init__()
            self.delta = delta

    class Left(Message):
        """Escape: the user left the editor (back to the list; the edit is saved)."""

    class EditRequested(Message):
        """Enter or `e` while viewing: the user wants to edit the caption shown."""

    class EditingStopped(Message):
        """The focus moved away while editing (Tab): the edit is to be saved."""

    class RevertRequested(Message):
        """Ctrl+R: drop the changes made since the caption was loaded or last saved."""

    class SuggestionsChanged(Message):
        """The tag completions for the fragment at the cursor changed."""

        def __init__(self, suggestions: list[tuple[str, int]]) -> None:
            super().__init__()
            self.suggestions = suggestions

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus", read_only=True)
        self.vocabulary: list[tuple[str, int]] = []
        """(tag, images carrying it), most used first; set by the screen."""
        self.suggestions: list[tuple[str, int]] = []
        self.editing = False
        """True while the user edits; False while viewing (read-only, keys go to the screen)."""
        self.editable = False
        """Whether the caption shown may be edited at all (set by the screen for each caption)."""

    def set_editable(self, editable: bool) -> None:
        """Say whether the caption now shown may be edited (a caption too large to load may not)."""
        self.editable = editable
        if not editable:
            self.editing = False
        self._apply_mode()

    def start_editing(self) -> bool:
        """Enter editing; False when the caption shown cannot be edited."""
        if not self.editable:
            return False
        self.editing = True
        self._apply_mode()
        return True

    def stop_editing(self) -> None:
        """Back to viewing."""
        self.editing = False
        self._apply_mode()

    def _apply_mode(self) -> None:
        read_only = not (self.editing and self.editable)
        if read_only == self.read_only and self.has_class("-editing") == self.editing:
            return  # every image load passes here: the footer is rebuilt only when the mode changes
        self.read_only = read_only
        self.set_class(self.editing, "-editing")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "edit":
            return not self.editing  # while editing, Enter and `e` are text
        if action in ("revert", "complete"):
            return self.editing
        return True

    def action_leave(self) -> None:
        self.stop_editing()
        self.post_message(self.Left())

    def action_edit(self) -> None:
        self.post_message(self.EditRequested())

    def action_revert(self) -> None:
        self.post_message(self.RevertRequested())

    def action_save(self) -> None:
        self.post_message(self.SaveRequested())

    def action_step(self, delta: int) -> None:
        self.post_message(self.StepRequested(delta))

    def _caret_index(self) -> int:
        return self.document.get_index_from_location(self.cursor_location)

    def update_suggestions(self) -> None:
        """Recompute completions for the tag at the cursor."""
        text = self.text
        _start, fragment = current_fragment(text, self._caret_index())
        present = {t.strip() for t in text.replace("\n", ",").split(",")}
        suggestions = suggest_tags(self.vocabulary, fragment, present) if self.has_focus else []
        if suggestions != self.suggestions:
            self.suggestions = suggestions
            self.post_message(self.SuggestionsChanged(suggestions))

    def action_complete(self) -> None:
        """Replace the fragment at the cursor with the first suggestion."""
        if not self.suggestions:
            return
        text = self.text
        offset = self._caret_index()
        start, _fragment = current_fragment(text, offset)
        tag = self.suggestions[0][0]
        start_loc = self.document.get_location_from_index(start)
        end_loc = self.document.get_location_from_index(offset)
        self.replace(tag, start_loc, end_loc)

    def on_text_area_changed(self, _event: TextArea.Changed) -> None:
        self.update_suggestions()

    def on_text_area_selection_changed(self, _event: TextArea.SelectionChanged) -> None:
        self.update_suggestions()

    def on_focus(self) -> None:
        self.update_suggestions()

    def on_blur(self) -> None:
        if self.editing and self.is_attached and self.screen.focused is not self:
            # The focus moved to another panel (not: a dialog covering the screen, the terminal losing focus).
            self.stop_editing()
            self.post_message(self.EditingStopped())
        self.update_suggestions()
