"""The tag list of a WD14 model (``selected_tags.csv``): one row per model output, in output order."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from loratui.errors import ModelError

RATING = 9
GENERAL = 0
CHARACTER = 4
CATEGORY_NAMES = {RATING: "rating", GENERAL: "general", CHARACTER: "character"}


@dataclass(frozen=True)
class Labels:
    """Tag names and categories; index i describes output i of the model."""

    names: tuple[str, ...]
    categories: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.names)

    def indices(self, category: int) -> list[int]:
        """Output indices of one category, in output order."""
        return [i for i, c in enumerate(self.categories) if c == category]


def read_labels(path: Path) -> Labels:
    """Read ``selected_tags.csv`` (header ``tag_id,name,category,count``); ModelError if it is not one."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise ModelError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None
    if not rows or [c.strip() for c in rows[0][:3]] != ["tag_id", "name", "category"]:
        raise ModelError(f"{path} is not a WD14 selected_tags.csv (expected header tag_id,name,category,...)")
    names, categories = [], []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            names.append(row[1])
            categories.append(int(row[2]))
        except (IndexError, ValueError):
            raise ModelError(f"{path}:{number}: expected tag_id,name,category, got {row!r}") from None
    if not names:
        raise ModelError(f"{path} lists no tags")
    return Labels(tuple(names), tuple(categories))
