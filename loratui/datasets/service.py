"""Dataset service functions shared by the CLI and the TUI: add, rescan, remove, list, show."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from loratui.datasets import dataset_repo, image_repo
from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.filekinds import normalise_caption_ext
from loratui.datasets.scan import ProgressFn, ScanReport, scan_dataset
from loratui.datasets.target import DatasetTarget
from loratui.errors import DatasetError, InputError, NotFoundError
from loratui.store import Store


async def get_dataset(store: Store, name: str) -> Dataset:
    """Look a dataset up by name; NotFoundError naming the known ones otherwise."""
    return await store.run(dataset_repo.get_dataset, name)


async def list_datasets(store: Store) -> list[dict]:
    """All datasets with image counts, for `dataset list`."""
    return await store.run(dataset_repo.dataset_summaries)


def dataset_name_for(path: str | os.PathLike, name: str | None = None) -> str:
    """The name `add_dataset` gives a folder: `name` when given, else the folder's own name."""
    return (name or Path(path).expanduser().resolve().name).strip()


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
    keep_if_interrupted: bool = True,
    target: DatasetTarget | None = None,
) -> tuple[Dataset, ScanReport | None]:
    """Register a folder as a dataset (with its `target`, when given) and (by default) scan it.

    Adding either succeeds or registers nothing: when the first scan fails the dataset is removed again and the
    error is raised. An *interrupted* scan (Ctrl-C, a cancelled TUI worker) keeps the dataset with the images
    indexed so far, because a long first scan of a big folder is worth keeping: `loratui dataset scan NAME`
    finishes it. Pass ``keep_if_interrupted=False`` where the folder itself goes away on interruption (an import).
    """
    folder, name = _checked_folder(path, name)
    caption_ext = normalise_caption_ext(caption_ext)
    dataset = await store.run(dataset_repo.insert_dataset, name=name, path=folder, caption_ext=caption_ext,
                              workspace=workspace, target=target)
    report = None
    if scan:
        try:
            report = await scan_dataset(store, dataset.id, dataset.path, caption_ext, workers=workers,
                                        progress=progress)
        except (KeyboardInterrupt, asyncio.CancelledError):
            if not keep_if_interrupted:
                await asyncio.shield(store.run(dataset_repo.delete_dataset, dataset.id))
            raise
        except BaseException as exc:
            await _forget_after_failure(store, dataset, exc)
            raise
        dataset = await get_dataset(store, name)
    return dataset, report


def _checked_folder(path: str | os.PathLike, name: str | None) -> tuple[Path, str]:
    """The resolved folder and the dataset name `add_dataset` would use; the errors it raises before touching
    the database."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise NotFoundError(f"{folder} does not exist")
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    folder = folder.resolve()
    name = dataset_name_for(folder, name)
    if not name:
        raise InputError("dataset name is empty")
    return folder, name


async def check_new_dataset(store: Store, path: str | os.PathLike, name: str | None = None) -> tuple[Path, str]:
    """Raise the error `add_dataset(path, name=name)` would raise before scanning (no folder, not a folder, the
    name or the folder already registered); else return the resolved folder and the name it would get.

    Lets a dialog refuse a path while the user can still correct it."""
    folder, name = await asyncio.to_thread(_checked_folder, path, name)
    taken = await store.read(dataset_repo.find_dataset, name=name)
    if taken is not None:
        raise InputError(f"a dataset named {name!r} already exists ({taken.path})",
                         hint="rename the folder, or add it with `loratui dataset add PATH --name OTHER`")
    other = await store.read(dataset_repo.find_dataset, path=folder)
    if other is not None:
        raise InputError(f"{folder} is already registered as dataset {other.name!r}")
    return folder, name


async def _forget_after_failure(store: Store, dataset: Dataset, cause: BaseException) -> None:
    """Remove a dataset whose first scan failed; if even that fails, say so on the original error."""
    try:
        await store.run(dataset_repo.delete_dataset, dataset.id)
    except Exception as exc:  # noqa: BLE001 - the scan's error is the one to raise; this one is only a note
        if hasattr(cause, "add_note"):  # Python 3.11+
            cause.add_note(f"dataset {dataset.name!r} stays registered (removing it failed: {exc}); "
                           f"`loratui dataset remove {dataset.name}` forgets it")


async def rescan_dataset(store: Store, name: str, *, workers: int = 0, progress: ProgressFn | None = None) -> ScanReport:
    """Rescan a registered dataset incrementally."""
    dataset = await get_dataset(store, name)
    if not dataset.path.is_dir():
        raise DatasetError(f"the folder of dataset {name!r} is gone: {dataset.path}")
    return await scan_dataset(store, dataset.id, dataset.path, dataset.caption_ext, workers=workers, progress=progress)


async def set_target(store: Store, name: str, target: DatasetTarget | None) -> tuple[Dataset, int]:
    """Set (None: clear) a dataset's target; its images are re-bucketed at once. Returns the dataset as it is
    now and how many images moved to another bucket. Open views refresh through the change log."""
    dataset = await get_dataset(store, name)
    moved = await store.run(dataset_repo.set_target, dataset.id, target)
    return await get_dataset(store, name), moved


async def orphan_captions(store: Store, name: str) -> list[dict]:
    """The caption files of a dataset without an image, as its last scan found them."""
    dataset = await get_dataset(store, name)
    return await store.read(dataset_repo.orphan_captions, dataset.id)


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
