"""The tag list of a tagger: one entry per model output, in output order, with Danbooru's category numbers.

Read from a WD14 ``selected_tags.csv`` (``tag_id,name,category,count``), PixAI's (deepghs export:
``id,tag_id,name,category,count,ips``), or Camie v2's ``camie-tagger-v2-metadata.json`` (category names, mapped to
the same numbers; Camie's ``year`` tags get a number of their own).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from loratui.errors import ModelError

RATING = 9
GENERAL = 0
ARTIST = 1
COPYRIGHT = 3
CHARACTER = 4
META = 5
YEAR = 10
"""Camie's year tags (not a Danbooru category)."""
CATEGORY_NAMES = {RATING: "rating", GENERAL: "general", CHARACTER: "character", ARTIST: "artist",
                  COPYRIGHT: "copyright", META: "meta", YEAR: "year"}
CATEGORY_NUMBERS = {name: number for number, name in CATEGORY_NAMES.items()}


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


_CSV_HEADERS = (["tag_id", "name", "category"], ["id", "tag_id", "name", "category"])


def read_labels(path: Path) -> Labels:
    """Read a ``selected_tags.csv``: WD14's (header ``tag_id,name,category,count``) or PixAI's (``id,tag_id,name,
    category,count,ips``); ModelError if it is neither."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise ModelError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None
    header = [c.strip() for c in rows[0]] if rows else []
    if not any(header[:len(expected)] == expected for expected in _CSV_HEADERS):
        raise ModelError(f"{path} is not a WD14 selected_tags.csv (expected header tag_id,name,category,... or "
                         "PixAI's id,tag_id,name,category,...)")
    name_at, category_at = header.index("name"), header.index("category")
    names, categories = [], []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            names.append(row[name_at])
            categories.append(int(row[category_at]))
        except (IndexError, ValueError):
            raise ModelError(f"{path}:{number}: expected {','.join(header[:category_at + 1])}, got {row!r}") from None
    if not names:
        raise ModelError(f"{path} lists no tags")
    return Labels(tuple(names), tuple(categories))


def read_camie_labels(path: Path) -> Labels:
    """Read Camie v2's metadata JSON: ``dataset_info.tag_mapping.idx_to_tag`` ({"0": name, ...}, one per output)
    and ``tag_to_category`` (name -> general, character, copyright, artist, meta, rating or year)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ModelError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None
    try:
        mapping = data["dataset_info"]["tag_mapping"]
        idx_to_tag, tag_to_category = mapping["idx_to_tag"], mapping["tag_to_category"]
    except (KeyError, TypeError):
        raise ModelError(f"{path} is not a Camie metadata file (expected dataset_info.tag_mapping.idx_to_tag and "
                         "tag_to_category)") from None
    if not isinstance(idx_to_tag, dict) or not isinstance(tag_to_category, dict) or not idx_to_tag:
        raise ModelError(f"{path} lists no tags")
    names, categories = [], []
    for index in range(len(idx_to_tag)):
        name = idx_to_tag.get(str(index))
        if not isinstance(name, str):
            raise ModelError(f"{path}: idx_to_tag has no tag for output {index} (outputs must be numbered 0.."
                             f"{len(idx_to_tag) - 1})")
        category = tag_to_category.get(name, "general")
        if category not in CATEGORY_NUMBERS:
            raise ModelError(f"{path}: tag {name!r} has unknown category {category!r}")
        names.append(name)
        categories.append(CATEGORY_NUMBERS[category])
    return Labels(tuple(names), tuple(categories))


def read_model_labels(path: Path, fmt: str) -> Labels:
    """The tag list of a model of format `fmt` ('wd14', 'pixai' or 'camie')."""
    return read_camie_labels(path) if fmt == "camie" else read_labels(path)
