"""Fixtures for the batch-operation tests: a real dataset folder with captions, registered in a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from loratui.datasets.service import add_dataset, get_dataset
from loratui.store import Store

CAPTIONS = {
    "10_char/a.png": "1girl, solo, red hair, smile",
    "10_char/b.png": "1girl, solo, blue hair, looking at viewer",
    "10_char/c.png": "2girls, red hair, blue hair",
    "5_style/d.png": "landscape, sky, solo",
}
COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (90, 20, 160)]


def build_dataset(root: Path, image_factory, captions: dict[str, str | None] = CAPTIONS) -> Path:
    """Write images (distinct colours) and their caption files under `root`."""
    for index, (rel, caption) in enumerate(captions.items()):
        image = image_factory(root / rel, color=COLORS[index % len(COLORS)])
        if caption is not None:
            image.with_suffix(".txt").write_text(caption, encoding="utf-8")
    return root


@pytest.fixture
def dataset_dir(tmp_path, image_factory) -> Path:
    return build_dataset(tmp_path / "ds", image_factory)


@pytest.fixture
def db_path(home) -> Path:
    return home / "loratui.db"


@pytest.fixture
async def opened(db_path, dataset_dir):
    """(store, dataset) for the sample dataset, registered and scanned."""
    async with Store.open(db_path) as store:
        dataset, _ = await add_dataset(store, dataset_dir, name="ds", workers=1)
        yield store, dataset


async def reopen(db_path: Path, name: str = "ds"):
    """A fresh Store + Dataset, as after a restart (use as `async with Store.open(...)`)."""
    store_cm = Store.open(db_path)
    store = await store_cm.__aenter__()
    return store_cm, store, await get_dataset(store, name)


def caption(dataset_dir: Path, rel: str) -> str | None:
    path = (dataset_dir / rel).with_suffix(".txt")
    return path.read_text(encoding="utf-8") if path.exists() else None


REPO = Path(__file__).resolve().parents[2]


def subprocess_env(extra: dict | None = None) -> dict:
    """Environment for child Pythons that import this checkout."""
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env
