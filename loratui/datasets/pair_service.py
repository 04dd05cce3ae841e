"""Image pairs, for the CLI and the TUI: see and set a subset's control folder, the pair overview, images with their
controls. Setting a control folder rescans the dataset (which folders hold training images changes with it)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from loratui.datasets import dataset_repo, image_repo, pair_repo
from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.pairs import ControlOptions, check_control_folder
from loratui.datasets.scan import ProgressFn, ScanReport, scan_dataset
from loratui.errors import DatasetError, InputError, NotFoundError
from loratui.store import Store

PROBLEMS_SHOWN = 20
"""Pair problems `dataset show` lists (all of them with --json)."""


@dataclass(frozen=True)
class ControlChange:
    """What `dataset control` changes for one subset; None leaves a part as it is."""

    folder: str | None = None
    """A folder relative to the dataset (or an absolute path inside it)."""
    off: bool = False
    """No control folder for this subset (its `control/` folder, if any, is then scanned as images)."""
    auto: bool = False
    """Forget the choice: the conventional folder is used again."""
    no_resize: bool | None = None
    resolution: tuple[int, int] | None | str = "keep"
    """(W, H), None to unset, or 'keep'."""

    @property
    def changes_options(self) -> bool:
        """True when a resize option is given."""
        return self.no_resize is not None or self.resolution != "keep"


def subset_key(subset: str) -> str:
    """A subset as the user names it ('.', './10_a/', '10_a') -> its stored folder ('' or '10_a')."""
    parts = [p for p in subset.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def _relative_folder(dataset: Dataset, folder: str) -> str:
    path = Path(folder).expanduser()
    if path.is_absolute():
        try:
            return path.resolve().relative_to(dataset.path).as_posix() if not path.is_symlink() else \
                path.relative_to(dataset.path).as_posix()
        except ValueError:
            raise InputError(f"{folder} is not inside the dataset folder {dataset.path}") from None
    return folder


def _check_real_folder(dataset: Dataset, rel: str, what: str) -> None:
    """`rel` must be a folder inside the dataset reached without following a symlink."""
    current = dataset.path
    for part in rel.split("/") if rel else []:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except OSError:
            raise NotFoundError(f"{what} {rel!r} does not exist in {dataset.path}") from None
        if stat.S_ISLNK(mode):
            raise InputError(f"{what} {rel!r} goes through a symlink ({current.relative_to(dataset.path)}): loratui "
                             "reads nothing outside the dataset through links",
                             hint="move or copy the folder into the dataset")
        if not stat.S_ISDIR(mode):
            raise InputError(f"{what} {rel!r} is not a folder")


async def control_folders(store: Store, name: str) -> tuple[Dataset, list[dict]]:
    """The dataset and, per subset with a control folder (found, set or turned off), its pair counts."""
    dataset = await store.run(dataset_repo.get_dataset, name)
    return dataset, await store.read(pair_repo.pair_summary, dataset.id)


async def set_control(store: Store, name: str, subset: str, change: ControlChange, *, workers: int = 0,
                      progress: ProgressFn | None = None) -> tuple[list[dict], ScanReport]:
    """Apply `change` to a subset's control folder, rescan the dataset, and return the new overview."""
    dataset = await store.run(dataset_repo.get_dataset, name)
    key = subset_key(subset)
    _check_real_folder(dataset, key, "subset folder")
    rows = {row.subset_path: row for row in await store.run(pair_repo.control_folders, dataset.id)}
    current = rows.get(key)
    chosen = sum(bool(x) for x in (change.folder is not None, change.off, change.auto))
    if chosen > 1:
        raise InputError("give only one of --folder, --none and --auto")
    if not chosen and not change.changes_options:
        raise InputError("nothing to change", hint="--folder DIR, --none, --auto, --no-resize-control, "
                                                   "--resize-control or --control-resolution")
    options = current.options if current is not None else ControlOptions()
    if change.changes_options:
        if (current is None or current.source == "off") and change.folder is None:
            raise InputError(f"subset {key or '.'!r} has no control folder", hint="set one with --folder DIR")
        options = ControlOptions(options.no_resize if change.no_resize is None else change.no_resize,
                                 options.resolution if change.resolution == "keep" else change.resolution)
    if change.folder is not None:
        folder = check_control_folder(key, _relative_folder(dataset, change.folder))
        _check_real_folder(dataset, folder, "control folder")
        for other, row in rows.items():
            if other != key and row.control_path == folder and row.source != "off":
                raise InputError(f"{folder!r} is already the control folder of subset {other or '.'!r}",
                                 hint="each subset needs a control folder of its own")
        await store.run(pair_repo.set_control_folder, dataset.id, key, folder, "set", options)
    elif change.off:
        await store.run(pair_repo.set_control_folder, dataset.id, key, None, "off", options)
    elif change.auto:
        await store.run(pair_repo.set_control_folder, dataset.id, key, None, "found",
                        options if change.changes_options else None)
    else:
        await store.run(pair_repo.set_control_folder, dataset.id, key, current.control_path, current.source, options)
    if not dataset.path.is_dir():
        raise DatasetError(f"the folder of dataset {name!r} is gone: {dataset.path}")
    report = await scan_dataset(store, dataset.id, dataset.path, dataset.caption_ext, workers=workers,
                                progress=progress)
    return await store.read(pair_repo.pair_summary, dataset.id), report


async def pair_overview(store: Store, name: str, limit: int | None = PROBLEMS_SHOWN) -> dict:
    """Control folders with their counts, and the pair problems (the first `limit`; None: all)."""
    dataset = await store.run(dataset_repo.get_dataset, name)
    folders = await store.read(pair_repo.pair_summary, dataset.id)
    problems = await store.read(pair_repo.pair_problems, dataset.id)
    return {"folders": folders, "problems": problems if limit is None else problems[:limit],
            "problem_count": len(problems)}


async def images_with_pairs(store: Store, name: str) -> list[dict]:
    """`dataset images`: every image, with 'pair' (status, detail, controls) where its subset has a control folder."""
    dataset = await store.run(dataset_repo.get_dataset, name)
    images = await store.read(image_repo.image_listing, dataset.id)
    paired = await store.read(pair_repo.controls_by_target, dataset.id)
    for image in images:
        image["pair"] = paired.get(image["path"])
    return images
