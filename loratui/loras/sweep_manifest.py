"""The on-disk record of a checkpoint sweep: which LoRA checkpoints were rendered with which prompts and seeds.

A sweep lives in one folder::

    <sweep folder>/sweep.json            this manifest (written atomically)
    <sweep folder>/images/<row>/<col>.png  one rendered image per cell

Rows are what is compared (the baseline without a LoRA, then each checkpoint at each strength); columns are what
stays the same across rows (a prompt and a seed). A cell is done when its image exists, which is what makes a
sweep resumable: an interrupted sweep renders only the cells whose image is missing. The sweep job writes this
file; the grid view, the contact sheet, the HTML export and "keep the winner" read it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loratui.errors import LoraError
from loratui.fsutil import atomic_write_text

MANIFEST_NAME = "sweep.json"
IMAGES_DIR = "images"
VERSION = 1
BASELINE_KEY = "baseline"
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


@dataclass
class SweepRow:
    """One row: a LoRA checkpoint at one strength, or the baseline (``lora`` None) rendered without a LoRA."""

    key: str
    label: str
    lora: str | None = None
    strength: float | None = None
    epoch: int | None = None
    step: int | None = None

    @property
    def is_baseline(self) -> bool:
        """True for the row rendered without any LoRA."""
        return self.lora is None


@dataclass
class SweepColumn:
    """One column: a prompt (with its negative prompt) and a seed."""

    key: str
    prompt: str
    seed: int
    negative: str = ""
    prompt_index: int = 0


@dataclass
class SweepManifest:
    """A checkpoint sweep: its rows, columns, render settings and the checkpoint the user chose."""

    id: str
    family: str
    trainer: str
    base_model: str
    rows: list[SweepRow]
    columns: list[SweepColumn]
    job_id: int | None = None
    created: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    chosen: str | None = None
    """The key of the row the user kept as the winner, if any."""
    version: int = VERSION

    def row(self, key: str) -> SweepRow:
        """The row with this key (LoraError when there is none)."""
        for row in self.rows:
            if row.key == key:
                return row
        raise LoraError(f"This sweep has no row {key!r}.", title="Unknown checkpoint")

    def cells(self) -> list[tuple[SweepRow, SweepColumn]]:
        """Every (row, column) pair in row-major order."""
        return [(row, col) for row in self.rows for col in self.columns]


def cell_path(folder: Path, row: SweepRow | str, column: SweepColumn | str) -> Path:
    """Where the image of one cell is (or will be) written."""
    row_key = row if isinstance(row, str) else row.key
    col_key = column if isinstance(column, str) else column.key
    return Path(folder) / IMAGES_DIR / row_key / f"{col_key}.png"


def missing_cells(folder: Path, manifest: SweepManifest) -> list[tuple[SweepRow, SweepColumn]]:
    """The cells whose image has not been rendered yet (what a resumed sweep still has to do)."""
    return [(row, col) for row, col in manifest.cells() if not cell_path(folder, row, col).is_file()]


def check_key(key: str) -> str:
    """Return ``key`` when it is safe as a file or folder name, else raise LoraError."""
    if not _KEY_RE.match(key) or key in (".", ".."):
        raise LoraError(f"{key!r} cannot name a sweep row or column (letters, digits, '.', '_' and '-' only).",
                        title="Invalid sweep key")
    return key


def save(folder: Path, manifest: SweepManifest) -> Path:
    """Write the manifest of ``folder`` atomically and return its path."""
    seen: set[str] = set()
    for key in [r.key for r in manifest.rows] + [f"col:{c.key}" for c in manifest.columns]:
        check_key(key.removeprefix("col:"))
        if key in seen:
            raise LoraError(f"The sweep key {key.removeprefix('col:')!r} is used twice.", title="Invalid sweep")
        seen.add(key)
    if manifest.chosen is not None:
        manifest.row(manifest.chosen)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST_NAME
    atomic_write_text(path, json.dumps(asdict(manifest), indent=2, ensure_ascii=False) + "\n")
    return path


def load(folder: Path) -> SweepManifest:
    """Read the manifest of a sweep folder; a missing, unreadable or malformed file raises LoraError."""
    path = Path(folder) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoraError(f"{folder} holds no {MANIFEST_NAME}.", title="Not a sweep folder",
                        hint="Pass the folder a sweep wrote (loratui lora sweep prints it).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoraError(f"{path} cannot be read: {exc}", title="Broken sweep manifest") from None
    try:
        if data.get("version") != VERSION:
            raise LoraError(f"{path} has version {data.get('version')!r}; this loratui reads version {VERSION}.",
                            title="Unsupported sweep manifest")
        manifest = SweepManifest(
            id=str(data["id"]), family=str(data["family"]), trainer=str(data["trainer"]),
            base_model=str(data["base_model"]),
            rows=[SweepRow(**row) for row in data["rows"]],
            columns=[SweepColumn(**col) for col in data["columns"]],
            job_id=data.get("job_id"), created=str(data.get("created", "")),
            settings=dict(data.get("settings") or {}), chosen=data.get("chosen"),
        )
    except LoraError:
        raise
    except (KeyError, TypeError, AttributeError) as exc:
        raise LoraError(f"{path} is not a valid sweep manifest ({exc}).", title="Broken sweep manifest") from None
    for key in [r.key for r in manifest.rows] + [c.key for c in manifest.columns]:
        check_key(key)
    return manifest
