"""Numbered schema migrations: files named ``NNNN_description.sql`` in this folder.

Each file runs once, in number order, inside a transaction; ``PRAGMA user_version`` records the number of
the last one applied. Numbers may have gaps, never reuse one, and never edit a file that has shipped.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def _discover() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files(__package__).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [number for number, _, _ in found]
    if len(numbers) != len(set(numbers)):
        raise RuntimeError(f"duplicate migration numbers: {numbers}")
    return found


MIGRATIONS: list[tuple[int, str, str]] = _discover()
SCHEMA_VERSION: int = MIGRATIONS[-1][0] if MIGRATIONS else 0
