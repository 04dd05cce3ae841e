"""Tagger scores in the ``tag_scores`` table, and re-thresholding from them without the model.

Only scores at or above ``SCORE_FLOOR`` (and every rating score) are kept: a real WD14 model has ~10,000 tags and
almost all score near 0. Re-thresholding below the floor cannot bring back tags, so it is refused.
"""

from __future__ import annotations

import sqlite3
from typing import Iterable, Mapping

import numpy as np

from loratui.errors import InputError, NotFoundError
from loratui.store import Store
from loratui.tagging.labels import RATING, Labels

SCORE_FLOOR = 0.05


def kept_scores(row: np.ndarray, labels: Labels, floor: float, rating_indices: np.ndarray) -> dict[int, float]:
    """{output index: score} for the scores worth storing/selecting from one model output row."""
    keep = np.flatnonzero(row >= floor)
    out = {int(i): float(row[i]) for i in keep}
    for i in rating_indices:
        out[int(i)] = float(row[i])
    return out


def _write_scores_sync(conn: sqlite3.Connection, model: str, labels: Labels,
                       per_image: list[tuple[int, Mapping[int, float]]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for image_id, scores in per_image:
            conn.execute("DELETE FROM tag_scores WHERE image_id = ? AND model = ?", (image_id, model))
            conn.executemany(
                "INSERT OR REPLACE INTO tag_scores (image_id, model, tag, category, score, idx) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(image_id, model, labels.names[i], labels.categories[i], s, i) for i, s in scores.items()],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


async def write_scores(store: Store, model: str, labels: Labels,
                       per_image: list[tuple[int, Mapping[int, float]]]) -> None:
    """Replace the stored scores of these images for `model`."""
    if per_image:
        await store.run_sync(_write_scores_sync, model, labels, per_image)


async def scored_models(store: Store, dataset_id: int) -> list[tuple[str, int]]:
    """(model key, images with scores) for one dataset, most images first."""
    rows = await store.fetchall(
        """SELECT s.model, COUNT(DISTINCT s.image_id) AS n FROM tag_scores s JOIN images i ON i.id = s.image_id
           WHERE i.dataset_id = ? GROUP BY s.model ORDER BY n DESC, s.model""",
        (dataset_id,),
    )
    return [(r["model"], r["n"]) for r in rows]


async def pick_model(store: Store, dataset_id: int, dataset_name: str, wanted: str | None) -> str:
    """The model whose stored scores to use: `wanted` (a key) or the only one there is."""
    models = await scored_models(store, dataset_id)
    if not models:
        raise NotFoundError(f"dataset {dataset_name!r} has no stored tagger scores",
                            hint=f"run `loratui tag {dataset_name}` first")
    keys = [m for m, _ in models]
    if wanted is None:
        if len(keys) > 1:
            raise InputError(f"dataset {dataset_name!r} has scores from several models: {', '.join(keys)}",
                             hint="choose one with --model")
        return keys[0]
    if wanted not in keys:
        raise NotFoundError(f"no stored scores from {wanted!r} in dataset {dataset_name!r} "
                            f"(stored: {', '.join(keys)})")
    return wanted


async def load_scores(store: Store, dataset_id: int, model: str,
                      image_ids: Iterable[int] | None = None) -> tuple[Labels, dict[int, dict[int, float]]]:
    """Stored scores of a model: (labels rebuilt from the rows, {image id: {index: score}})."""
    rows = await store.fetchall(
        """SELECT s.image_id, s.tag, s.category, s.score, s.idx FROM tag_scores s JOIN images i ON i.id = s.image_id
           WHERE i.dataset_id = ? AND s.model = ? AND s.idx IS NOT NULL""",
        (dataset_id, model),
    )
    wanted = set(image_ids) if image_ids is not None else None
    size = max((r["idx"] for r in rows), default=-1) + 1
    names = [""] * size
    categories = [-1] * size
    per_image: dict[int, dict[int, float]] = {}
    for r in rows:
        names[r["idx"]] = r["tag"]
        categories[r["idx"]] = r["category"]
        if wanted is None or r["image_id"] in wanted:
            per_image.setdefault(r["image_id"], {})[r["idx"]] = r["score"]
    return Labels(tuple(names), tuple(categories)), per_image


def rating_indices(labels: Labels) -> np.ndarray:
    """Output indices of the rating tags."""
    return np.array(labels.indices(RATING), dtype=np.int64)
