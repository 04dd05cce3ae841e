"""Tagger scores in the ``tag_scores`` table, and re-thresholding from them without the model.

Only scores at or above ``SCORE_FLOOR`` (and every rating score) are kept: a real WD14 model has ~10,000 tags and
almost all score near 0. Re-thresholding below the floor cannot bring back tags, so it is refused.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from loratui.errors import InputError, NotFoundError
from loratui.store import Store
from loratui.tagging import score_repo
from loratui.tagging.labels import RATING, Labels

SCORE_FLOOR = 0.05


def kept_scores(row: np.ndarray, labels: Labels, floor: float, rating_indices: np.ndarray) -> dict[int, float]:
    """{output index: score} for the scores worth storing/selecting from one model output row."""
    keep = np.flatnonzero(row >= floor)
    out = {int(i): float(row[i]) for i in keep}
    for i in rating_indices:
        out[int(i)] = float(row[i])
    return out


async def write_scores(store: Store, model: str, labels: Labels,
                       per_image: list[tuple[int, Mapping[int, float]]]) -> None:
    """Replace the stored scores of these images for `model`."""
    if per_image:
        await store.run(score_repo.write_scores, model, labels, per_image)


async def pick_model(store: Store, dataset_id: int, dataset_name: str, wanted: str | None) -> str:
    """The model whose stored scores to use: `wanted` (a key) or the only one there is."""
    models = await store.run(score_repo.scored_models, dataset_id)
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
    rows = await store.run(score_repo.score_rows, dataset_id, model)
    wanted = set(image_ids) if image_ids is not None else None
    size = max((idx for *_, idx in rows), default=-1) + 1
    names = [""] * size
    categories = [-1] * size
    per_image: dict[int, dict[int, float]] = {}
    for image_id, tag, category, score, idx in rows:
        names[idx] = tag
        categories[idx] = category
        if wanted is None or image_id in wanted:
            per_image.setdefault(image_id, {})[idx] = score
    return Labels(tuple(names), tuple(categories)), per_image


def rating_indices(labels: Labels) -> np.ndarray:
    """Output indices of the rating tags."""
    return np.array(labels.indices(RATING), dtype=np.int64)
