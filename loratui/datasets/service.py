"""Dataset service functions shared by the CLI and the TUI: add, rescan, remove, list, show."""

from __future__ import annotations

import os
from pathlib import Path

from loratui.datasets import dataset_repo, image_repo
from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.scan import ProgressFn, ScanReport, scan_dataset
from loratui.errors import DatasetError, InputError, NotFoundError
from loratui.store import Store


async def get_dataset(store: Store, name: str) -> Dataset:
    """Look a dataset up by name; NotFoundError naming the known ones otherwise."""
    return await store.run(dataset_repo.get_dataset, name)


async def list_datasets(store: Store) -> list[dict]:
    """All datasets with image counts, for `dataset list`."""
    return await store.run(dataset_repo.dataset_summaries)


def normalise_caption_ext(ext: str) -> str:
    """'.txt' from 'txt' or '.txt'; rejects path-like values."""
    ext = ext.strip()
    if not ext:
        raise InputError("caption extension is empty")
    if not ext.startswith("."):
        ext = "." + ext
    if "/" in ext or "\\" in ext or ext in (".", ".."):
        raise InputError(f"caption extension {ext!r} is not a file extension")
    return ext


async def add_dataset(
    store: Store,
    path: str | os.PathLike,
    *,
    name: str | None = None,
    workspace: str = "default",
    caption_ext: str = ".txt",
    scan: bool = True,
    workers: int = 0,
    progress: ProgressFn | None = None,
) -> tuple[Dataset, ScanReport | None]:
    """Register a folder as a dataset and (by default) scan it."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise NotFoundError(f"{folder} does not exist")
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    folder = folder.resolve()
    name = (name or folder.name).strip()
    if not name:
        raise InputError("dataset name is empty")
    caption_ext = normalise_caption_ext(caption_ext)
    dataset = await store.run(dataset_repo.insert_dataset, name=name, path=folder, caption_ext=caption_ext,
                              workspace=workspace)
    report = None
    if scan:
        report = await scan_dataset(store, dataset.id, dataset.path, caption_ext, workers=workers, progress=progress)
        dataset = await get_dataset(store, name)
    return dataset, report


async def rescan_dataset(store: Store, name: str, *, workers: int = 0, progress: ProgressFn | None = None) -> ScanReport:
    """Rescan a registered dataset incrementally."""
    dataset = await get_dataset(store, name)
    if not dataset.path.is_dir():
        raise DatasetError(f"the folder of dataset {name!r} is gone: {dataset.path}")
    return await scan_dataset(store, dataset.id, dataset.path, dataset.caption_ext, workers=workers, progress=progress)


async def remove_dataset(store: Store, name: str) -> None:
    """Forget a dataset (its files on disk are left alone)."""
    dataset = await get_dataset(store, name)
    await store.run(dataset_repo.delete_dataset, dataset.id)


async def dataset_stats(store: Store, name: str, top: int = 30) -> dict:
    """Everything `dataset show` prints: counts, subsets, resolution and bucket histograms, top tags."""
    dataset = await get_dataset(store, name)
    return await store.run(image_repo.dataset_stats, dataset, top)


async def list_images(store: Store, name: str) -> list[dict]:
    """Every image of a dataset, for `dataset images`."""
    dataset = await get_dataset(store, name)
    return await store.run(image_repo.image_listing, dataset.id)
