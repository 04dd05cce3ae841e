"""The tag panel: the selected image's tags with how many images of the dataset carry each."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from loratui.text import literal


def tags_text(tags: list[str], counts: dict[str, int]) -> Text:
    """One line per tag: the tag (shown literally), then how many images of the dataset carry it."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not tags:
        text.append("no tags", style="dim")
        return text
    for index, tag in enumerate(tags):
        if index:
            text.append("\n")
        text.append(literal(tag) + " ")
        text.append(str(counts.get(tag, 0)), style="dim")
    return text


class TagPanel(Static):
    """Shows tags; the screen calls `show_tags` when the caption or the counts change."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._shown: tuple | None = None

    def show_tags(self, tags: list[str], counts: dict[str, int]) -> None:
        """Display `tags` with their counts (skips work when nothing changed)."""
        key = (tuple(tags), tuple(counts.get(t, 0) for t in tags))
        if key == self._shown:
            return
        self._shown = key
        self.update(tags_text(tags, counts), layout=False)
        self.border_subtitle = f"{len(tags)} tags"
