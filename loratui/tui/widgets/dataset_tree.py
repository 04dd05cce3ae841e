"""The dataset tree: workspaces, datasets and their kohya subset folders, with image counts.

Folders only: never one node per image.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree

from loratui.datasets.dataset_repo import Dataset, Subset
from loratui.text import literal


@dataclass(frozen=True)
class TreeTarget:
    """What a tree node opens: a whole dataset (subset_id None) or one subset of it."""

    dataset: Dataset
    subset_id: int | None = None
    label: str = ""


class DatasetTree(Tree[TreeTarget]):
    """Posts DatasetSelected when the user picks a dataset or subset (Enter or click)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", id="tree.down", show=False),
        Binding("k", "cursor_up", "Up", id="tree.up", show=False),
        Binding("l", "expand", "Expand", id="tree.expand", show=False),
        Binding("h", "collapse", "Collapse", id="tree.collapse", show=False),
    ]

    class DatasetSelected(Message):
        """A dataset (or one of its subsets) was picked."""

        def __init__(self, target: TreeTarget) -> None:
            super().__init__()
            self.target = target

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("Datasets"), id=id)
        self.show_root = False
        self.guide_depth = 2
        self.auto_expand = False

    def populate(self, datasets: list[Dataset], counts: dict[int, int], subsets: list[Subset],
                 select: TreeTarget | None = None) -> None:
        """Rebuild the nodes and put the cursor on `select` (if given)."""
        self.clear()
        by_dataset: dict[int, list[Subset]] = {}
        for subset in subsets:
            by_dataset.setdefault(subset.dataset_id, []).append(subset)
        workspaces: dict[str, object] = {}
        select_node = None
        for dataset in datasets:
            ws_node = workspaces.get(dataset.workspace)
            if ws_node is None:
                ws_node = self.root.add(Text(literal(dataset.workspace), style="bold"), expand=True)
                workspaces[dataset.workspace] = ws_node
            label = Text(literal(dataset.name) + " ")
            label.append(str(counts.get(dataset.id, 0)), style="dim")
            children = [s for s in by_dataset.get(dataset.id, []) if s.rel_path]
            ds_node = ws_node.add(label, data=TreeTarget(dataset, None, dataset.name), expand=True,
                                  allow_expand=bool(children))
            if select and select.dataset.id == dataset.id and select.subset_id is None:
                select_node = ds_node
            for subset in children:
                sub_label = Text(literal(subset.rel_path) + " ")
                sub_label.append(str(subset.images), style="dim")
                node = ds_node.add_leaf(sub_label, data=TreeTarget(dataset, subset.id, subset.rel_path))
                if select and select.dataset.id == dataset.id and select.subset_id == subset.id:
                    select_node = node
        if select_node is not None:
            self.move_cursor(select_node)

    def move_to_target(self, target: TreeTarget) -> None:
        """Put the cursor on the node of `target` (a dataset or subset), if present."""
        stack = list(self.root.children)
        while stack:
            node = stack.pop(0)
            data = node.data
            if data is not None and data.dataset.id == target.dataset.id and data.subset_id == target.subset_id:
                self.move_cursor(node)
                return
            stack.extend(node.children)

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand:
            node.expand()

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded and node.allow_expand:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(self.DatasetSelected(event.node.data))
