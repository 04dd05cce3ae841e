"""The change log: what each core write changed, readable by every loratui process.

Repository functions that write call ``record(...)`` (or one of its shorthands) inside their own transaction, so
a change is logged if and only if it happened. Readers keep a ``Cursor`` and ``poll`` it: the first check is
``PRAGMA data_version``, which moves only when another connection committed, so an idle poll reads no table.
A process's own writes do not move it; its ``Store`` write listener asks for a forced poll instead.

``poll`` folds the new rows into a ``ChangeSet`` (which datasets, images, jobs, LoRAs changed). The log keeps
the newest ``KEEP_ROWS`` rows; a reader that fell further behind gets ``ChangeSet.full`` (refresh everything).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Iterable

TOPICS = ("datasets", "images", "jobs", "loras", "models")
MAX_IMAGE_IDS = 5000
"""A change of more images than this is logged as a change of all the dataset's images."""
KEEP_ROWS = 20_000
PRUNE_EVERY = 500
MAX_READ = 10_000
"""More new rows than this in one poll are not read one by one: the reader refreshes everything."""


@dataclass(frozen=True)
class Change:
    """One logged change. ``image_ids`` None means all images of the dataset (or not about images)."""

    topic: str
    dataset_id: int | None = None
    image_ids: frozenset[int] | None = None
    job_id: int | None = None
    lora_id: int | None = None
    what: str = ""


def record(conn: sqlite3.Connection, change: Change) -> int:
    """Append `change` to the log (call inside the transaction that made it); returns its id."""
    if change.topic not in TOPICS:
        raise ValueError(f"unknown change topic {change.topic!r}")
    ids = None
    if change.image_ids is not None and len(change.image_ids) <= MAX_IMAGE_IDS:
        ids = json.dumps(sorted(change.image_ids))
    row_id = conn.execute(
        "INSERT INTO change_log (t, topic, dataset_id, job_id, lora_id, image_ids, what) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (time.time(), change.topic, change.dataset_id, change.job_id, change.lora_id, ids, change.what),
    ).lastrowid
    if row_id % PRUNE_EVERY == 0:
        conn.execute("DELETE FROM change_log WHERE id <= ?", (row_id - KEEP_ROWS,))
    return row_id


def datasets_changed(conn: sqlite3.Connection, dataset_id: int | None, what: str) -> None:
    """The list of datasets, or one dataset's name, folder, subsets or counts, changed."""
    record(conn, Change("datasets", dataset_id=dataset_id, what=what))


def images_changed(conn: sqlite3.Connection, dataset_id: int, image_ids: Iterable[int] | None, what: str) -> None:
    """Rows, captions, tags or files of some images (None: all) of a dataset changed."""
    ids = None if image_ids is None else frozenset(image_ids)
    if ids is not None and not ids:
        return
    record(conn, Change("images", dataset_id=dataset_id, image_ids=ids, what=what))


def job_changed(conn: sqlite3.Connection, job_id: int, what: str) -> None:
    """A job's row (state, progress), metrics or events changed."""
    record(conn, Change("jobs", job_id=job_id, what=what))


def lora_changed(conn: sqlite3.Connection, lora_id: int | None, what: str) -> None:
    """A LoRA library entry (or, with None, several) changed."""
    record(conn, Change("loras", lora_id=lora_id, what=what))


def models_changed(conn: sqlite3.Connection, what: str) -> None:
    """The downloaded base models changed."""
    record(conn, Change("models", what=what))


@dataclass
class ChangeSet:
    """Changes folded by what they touch, for views to decide what to refresh."""

    full: bool = False
    """The reader missed changes (it fell behind the log): refresh everything."""
    datasets: set[int | None] = field(default_factory=set)
    """Datasets whose name, folder, subsets or counts changed (None: the list itself)."""
    images: dict[int, set[int] | None] = field(default_factory=dict)
    """dataset id -> changed image ids, None for all of them."""
    jobs: set[int] = field(default_factory=set)
    loras: bool = False
    models: bool = False
    whats: set[str] = field(default_factory=set)

    def add(self, change: Change) -> None:
        """Fold one change in."""
        self.whats.add(change.what)
        if change.topic == "datasets":
            self.datasets.add(change.dataset_id)
        elif change.topic == "images" and change.dataset_id is not None:
            known = self.images.get(change.dataset_id, set())
            if known is None or change.image_ids is None:
                self.images[change.dataset_id] = None
            else:
                self.images[change.dataset_id] = known | change.image_ids
        elif change.topic == "jobs" and change.job_id is not None:
            self.jobs.add(change.job_id)
        elif change.topic == "loras":
            self.loras = True
        elif change.topic == "models":
            self.models = True

    def touches_images(self, dataset_id: int) -> bool:
        """True when images of `dataset_id` changed (or everything must be refreshed)."""
        return self.full or dataset_id in self.images

    def image_ids(self, dataset_id: int) -> set[int] | None:
        """The changed images of a dataset; None for all (also when everything must be refreshed)."""
        return None if self.full else self.images.get(dataset_id, set())

    def touches_datasets(self) -> bool:
        """True when the list of datasets, their subsets or their image counts may have changed."""
        return self.full or bool(self.datasets) or bool(self.whats & {"scanned", "removed"})

    def merge(self, other: "ChangeSet") -> None:
        """Fold another change set into this one."""
        self.full = self.full or other.full
        self.datasets |= other.datasets
        for dataset_id, ids in other.images.items():
            known = self.images.get(dataset_id, set())
            self.images[dataset_id] = None if known is None or ids is None else known | ids
        self.jobs |= other.jobs
        self.loras = self.loras or other.loras
        self.models = self.models or other.models
        self.whats |= other.whats

    def __bool__(self) -> bool:
        return bool(self.full or self.datasets or self.images or self.jobs or self.loras or self.models)


@dataclass
class Cursor:
    """Where one reader is in the log: the last id it has seen and the connection's data_version then."""

    last_id: int = 0
    data_version: int = -1


def start(conn: sqlite3.Connection) -> Cursor:
    """A cursor at the end of the log: the reader has seen everything logged so far."""
    last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM change_log").fetchone()[0]
    return Cursor(last, conn.execute("PRAGMA data_version").fetchone()[0])


def poll(conn: sqlite3.Connection, cursor: Cursor, *, force: bool = False) -> ChangeSet:
    """Changes logged since `cursor` (which moves past them); empty when nothing changed.

    Without `force`, nothing is read unless another connection committed since the last poll.
    """
    version = conn.execute("PRAGMA data_version").fetchone()[0]
    found = ChangeSet()
    if version == cursor.data_version and not force:
        return found
    cursor.data_version = version
    oldest = conn.execute("SELECT MIN(id) FROM change_log").fetchone()[0]
    if oldest is not None and cursor.last_id < oldest - 1:
        found.full = True
    rows = conn.execute(
        "SELECT id, topic, dataset_id, job_id, lora_id, image_ids, what FROM change_log WHERE id > ? "
        "ORDER BY id LIMIT ?", (cursor.last_id, MAX_READ + 1)).fetchall()
    if len(rows) > MAX_READ:
        found.full = True
        cursor.last_id = conn.execute("SELECT MAX(id) FROM change_log").fetchone()[0]
        return found
    for row_id, topic, dataset_id, job_id, lora_id, image_ids, what in rows:
        ids = None if image_ids is None else frozenset(json.loads(image_ids))
        found.add(Change(topic, dataset_id, ids, job_id, lora_id, what))
        cursor.last_id = row_id
    return found
