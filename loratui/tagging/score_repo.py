"""Repository of the ``tag_scores`` table: tagger scores kept so thresholds can change without the model.

Plain functions on a ``sqlite3.Connection``; run them with ``await store.run(fn, ...)``.
"""

from __future__ import annotations

import sqlite3
from typing import Mapping

from loratui.store import transaction
from loratui.tagging.labels import Labels


def write_scores(conn: sqlite3.Connection, model: str, labels: Labels,
                 per_image: list[tuple[int, Mapping[int, float]]]) -> None:
    """Replace the stored scores of these images for `model` ({output index: score} per image)."""
    with transaction(conn):
        for image_id, scores in per_image:
            conn.execute("DELETE FROM tag_scores WHERE image_id = ? AND model = ?", (image_id, model))
            conn.executemany(
                "INSERT OR REPLACE INTO tag_scores (image_id, model, tag, category, score, idx) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(image_id, model, labels.names[i], labels.categories[i], s, i) for i, s in scores.items()])


def scored_models(conn: sqlite3.Connection, dataset_id: int) -> list[tuple[str, int]]:
    """(model key, images with scores) for one dataset, most images first."""
    return [(r[0], r[1]) for r in conn.execute(
        """SELECT s.model, COUNT(DISTINCT s.image_id) AS n FROM tag_scores s JOIN images i ON i.id = s.image_id
           WHERE i.dataset_id = ? GROUP BY s.model ORDER BY n DESC, s.model""", (dataset_id,))]


def score_rows(conn: sqlite3.Connection, dataset_id: int, model: str) -> list[tuple[int, str, int, float, int]]:
    """(image id, tag, category, score, output index) of a model's stored scores in a dataset."""
    cursor = conn.execute(
        """SELECT s.image_id, s.tag, s.category, s.score, s.idx FROM tag_scores s JOIN images i ON i.id = s.image_id
           WHERE i.dataset_id = ? AND s.model = ? AND s.idx IS NOT NULL""", (dataset_id, model))
    cursor.row_factory = None
    return cursor.fetchall()
