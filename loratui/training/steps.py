"""The exact step calculator: what sd-scripts will print as "total optimization steps".

Read from sd-scripts (v0.10.1) ``library/train_util.py`` (``DreamBoothDataset.__init__``, ``BaseDataset.
make_buckets``) and ``train_network.py``:

* each subset's images are globbed (non-recursive, sd-scripts' extensions, sorted by path); subsets with
  ``num_repeats < 1`` or no images are ignored;
* training images count ``num_repeats`` times; regularisation images are registered in order with their own
  repeats until they cover the training count, then get one extra repeat each, in order, until they do (so
  some may be left out);
* each image goes ``repeats`` times into the bucket of its *raw* (not EXIF-rotated) size;
* batches per epoch = sum over buckets of ceil(count / batch_size);
* with ``max_train_epochs``: total = epochs * ceil(batches / processes / grad_accum) (float divisions, as
  upstream); otherwise total = ``max_train_steps`` and epochs = ceil(total / ceil(ceil(batches / processes) /
  grad_accum)).

musubi-tuner counts differently (``compute_musubi_steps``, read from musubi-tuner 30c658c
``dataset/bucket.py``, ``dataset/image_video_dataset.py`` and ``training/trainer_base.py``):

* each ``[[datasets]]`` entry is bucketed and batched on its own, with its own resolution and batch size;
* its images are globbed non-recursively with musubi's extensions, and with a caption extension set an image
  without a caption *file* is skipped silently (an empty caption file counts);
* buckets step by the architecture's resolution step (16 for every image family but HiDream-O1's 32); the
  bucket list is built from the area, and the nearest aspect ratio wins (the first of equals, as numpy's
  argmin); with ``bucket_no_upscale`` an image not larger than the area keeps its own size cut to the step;
* for edit models the resized control images' sizes are part of the bucket key, so items with another number
  of controls or other control sizes never share a batch;
* the printed total is ``max_train_steps`` unless ``max_train_epochs`` is set, then ``epochs *
  ceil(batches / processes / grad_accum)`` (as sd-scripts).

musubi-tuner's video datasets (``VideoDataset.prepare_for_training``): every cached clip (``datasets.video_clips``:
one per distinct start and length of each video) is an item, counted ``num_repeats`` times in the bucket of the
frame size it was cached at (the nearest-aspect bucket of its video's coded size, whatever ``bucket_no_upscale``
says: ``musubi_cache_size``) and its length: clips of other lengths never share a batch.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from loratui.datasets import caption_set_repo, dataset_repo
from loratui.datasets.buckets import BucketRules, bucket_label, make_bucket_resolutions, raw_size
from loratui.jobs import repo as job_repo

KOHYA_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".PNG", ".JPG", ".JPEG", ".WEBP", ".BMP")
"""The extensions sd-scripts globs for (case-sensitive: `.Jpg` is not picked up)."""


@dataclass
class SubsetImages:
    """The images sd-scripts will find in one subset folder, in its order, as raw (width, height)."""

    rel_path: str
    repeats: int
    is_reg: bool = False
    sizes: list[tuple[int, int]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


@dataclass
class StepParams:
    """The options that decide the step count."""

    rules: BucketRules = field(default_factory=BucketRules)
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    num_processes: int = 1
    max_train_epochs: int | None = None
    max_train_steps: int = 1600


@dataclass
class StepReport:
    """What the calculator found."""

    images: int = 0
    train_images_with_repeats: int = 0
    reg_images_with_repeats: int = 0
    images_with_repeats: int = 0
    buckets: dict[str, int] = field(default_factory=dict)
    batches_per_epoch: int = 0
    steps_per_epoch: int = 0
    epochs: int = 0
    total_steps: int = 0
    seconds_per_step: float | None = None
    eta_seconds: float | None = None
    exact: bool = True
    notes: list[str] = field(default_factory=list)
    unbucketable: list[str] = field(default_factory=list)
    """Images sd-scripts cannot bucket (too elongated for bucket_no_upscale: it fails on a zero-size side)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


def compute_steps(subsets: list[SubsetImages], params: StepParams) -> StepReport:
    """Count steps exactly as sd-scripts' DreamBooth dataset + train_network.py do."""
    report = StepReport()
    train: list[list] = []  # [size, repeats, name]
    reg: list[list] = []
    for subset in subsets:
        if subset.repeats < 1 or not subset.sizes:
            continue
        report.images += len(subset.sizes)
        target = reg if subset.is_reg else train
        names = subset.names or [f"{subset.rel_path}#{i}" for i in range(len(subset.sizes))]
        for size, name in zip(subset.sizes, names):
            target.append([size, subset.repeats, name])
        if subset.is_reg:
            report.reg_images_with_repeats += subset.repeats * len(subset.sizes)
        else:
            report.train_images_with_repeats += subset.repeats * len(subset.sizes)
    registered = list(train)
    if reg:
        if report.train_images_with_repeats == 0:
            report.notes.append("regularisation images are not used without training images")
        covered, first = 0, True
        while covered < report.train_images_with_repeats:
            for info in reg:
                if first:
                    registered.append(info)
                    covered += info[1]
                else:
                    info[1] += 1
                    covered += 1
                if covered >= report.train_images_with_repeats:
                    break
            first = False
    counts: dict[tuple[int, int], int] = {}
    selected = select_buckets(params.rules, [item[0] for item in registered])
    for (size, repeats, name), bucket in zip(registered, selected):
        if min(bucket) <= 0:
            report.unbucketable.append(name)
            continue
        counts[bucket] = counts.get(bucket, 0) + repeats
    report.images_with_repeats = sum(counts.values())
    report.buckets = {bucket_label(reso): count for reso, count in sorted(counts.items())}
    batch = max(params.batch_size, 1)
    report.batches_per_epoch = sum(math.ceil(count / batch) for count in counts.values())
    processes = max(params.num_processes, 1)
    accumulation = max(params.gradient_accumulation_steps, 1)
    report.steps_per_epoch = math.ceil(report.batches_per_epoch / processes / accumulation)
    if params.max_train_epochs is not None:
        report.total_steps = params.max_train_epochs * report.steps_per_epoch
    else:
        report.total_steps = params.max_train_steps
    per_process = math.ceil(report.batches_per_epoch / processes)
    updates_per_epoch = math.ceil(per_process / accumulation)
    report.epochs = math.ceil(report.total_steps / updates_per_epoch) if updates_per_epoch else 0
    _note_parallel(report, batch, processes, accumulation)
    return report


def _note_parallel(report: StepReport, batch: int, processes: int, accumulation: int) -> None:
    """Say how data parallelism changed the count (the batch size is per device; each process takes its share
    of the epoch's batches)."""
    if processes <= 1:
        return
    report.notes.append(
        f"{processes} processes: batch size {batch} per device ({batch * processes * accumulation} per optimizer "
        f"step with gradient accumulation {accumulation}); steps per epoch = ceil({report.batches_per_epoch} "
        f"batches / {processes} processes / {accumulation}) = {report.steps_per_epoch}")


def select_buckets(rules: BucketRules, sizes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The bucket of each raw size, as ``rules.select`` gives it ((0, 0) where sd-scripts would divide by zero).

    The nearest-aspect search runs vectorised with numpy's argmin over float64, as sd-scripts itself does, so
    the form can recount a large dataset on every keystroke.
    """
    if not sizes:
        return []
    if not rules.enable_bucket:
        return [tuple(rules.resolution)] * len(sizes)
    unique = list(dict.fromkeys(sizes))
    found: dict[tuple[int, int], tuple[int, int]] = {}
    if rules.bucket_no_upscale:
        for size in unique:
            try:
                found[size] = rules.select(*size)
            except ZeroDivisionError:
                found[size] = (0, 0)
    else:
        import numpy as np

        resos = make_bucket_resolutions(rules.resolution, rules.min_bucket_reso, rules.max_bucket_reso,
                                        rules.bucket_reso_steps)
        predefined = set(resos)
        ratios = np.array([w / h for w, h in resos], dtype=np.float64)
        aspects = np.array([w / h for w, h in unique], dtype=np.float64)
        nearest = np.abs(ratios[None, :] - aspects[:, None]).argmin(axis=1)
        for size, index in zip(unique, nearest.tolist()):
            found[size] = size if size in predefined else resos[index]
    return [found[size] for size in sizes]


def parse_resolution(value: Any) -> tuple[int, int] | None:
    """sd-scripts' resolution ('512', '512,768', 512 or [512, 768]) as (width, height); None if unparsable."""
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return (value, value)
        if isinstance(value, (list, tuple)):
            parts = [int(v) for v in value]
        else:
            parts = [int(v) for v in str(value).replace("x", ",").split(",")]
    except (TypeError, ValueError):
        return None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) <= 0:
        return None
    return (parts[0], parts[1])


def params_from_args(args: dict[str, Any], launch: dict[str, Any], schema=None) -> StepParams:
    """StepParams from a config's [args] and [launch] (trainer defaults where unset)."""

    def default(name: str, fallback: Any) -> Any:
        option = schema.get(name) if schema is not None else None
        return option.default if option is not None and option.default is not None else fallback

    def pick(name: str, fallback: Any) -> Any:
        value = args.get(name)
        return default(name, fallback) if value is None else value

    resolution = parse_resolution(args.get("resolution")) or (512, 512)
    rules = BucketRules(
        resolution=resolution,
        enable_bucket=bool(pick("enable_bucket", False)),
        min_bucket_reso=int(pick("min_bucket_reso", 256)),
        max_bucket_reso=int(pick("max_bucket_reso", 1024)),
        bucket_reso_steps=int(pick("bucket_reso_steps", 64)),
        bucket_no_upscale=bool(pick("bucket_no_upscale", False)),
    )
    epochs = args.get("max_train_epochs")
    return StepParams(
        rules=rules,
        batch_size=int(pick("train_batch_size", 1)),
        gradient_accumulation_steps=int(pick("gradient_accumulation_steps", 1)),
        # accelerate's total over all machines; `gpus = N` alone runs N processes (gpu.slots pins them)
        num_processes=int(launch.get("num_processes") or launch.get("gpus") or 1),
        max_train_epochs=None if epochs is None else int(epochs),
        max_train_steps=int(pick("max_train_steps", 1600)),
    )


def is_kohya_image(rel_path: str) -> bool:
    """True when sd-scripts' glob picks this file up (its extension list is case-sensitive)."""
    name = rel_path.rsplit("/", 1)[-1]
    return not name.startswith(".") and name.endswith(KOHYA_IMAGE_EXTENSIONS)


async def _subset_rows(store, dataset_id: int, caption_set: str | None = None) -> list[tuple[Any, list]]:
    """Each subset with the image rows directly in its folder (both trainers glob a folder non-recursively);
    caption_file is about the caption set trained on (``caption_sets.set_key``: None is the primary set)."""
    subsets = await store.run(dataset_repo.list_subsets, dataset_id)
    rows = await store.run(caption_set_repo.training_rows, dataset_id, caption_set)
    by_subset: dict[int, list] = {}
    for row in rows:
        by_subset.setdefault(row["subset_id"], []).append(row)
    result = []
    for subset in subsets:
        prefix = subset.rel_path + "/" if subset.rel_path else ""
        result.append((subset, [row for row in by_subset.get(subset.id, [])
                                if row["rel_path"].startswith(prefix) and "/" not in row["rel_path"][len(prefix):]]))
    return result


async def load_subsets(store, dataset_id: int) -> list[SubsetImages]:
    """The dataset's subsets with the raw sizes of the images sd-scripts will read, in sd-scripts' order."""
    result = []
    for subset, rows in await _subset_rows(store, dataset_id):
        item = SubsetImages(subset.rel_path, subset.repeats, subset.is_reg)
        for row in rows:
            rel = row["rel_path"]
            if not is_kohya_image(rel):
                continue
            item.sizes.append(raw_size(row["width"], row["height"], row["orientation"]))
            item.names.append(rel)
        result.append(item)
    return result


async def measured_seconds_per_step(store, family: str, recent: int = 5) -> float | None:
    """Median seconds per step over the latest finished trainings of `family` (from job_metrics), or None."""
    rates = []
    for s0, s1, t0, t1 in await store.run(job_repo.step_spans, family):
        if s1 is not None and s1 > s0 and t1 > t0:
            rates.append((t1 - t0) / (s1 - s0))
        if len(rates) >= recent:
            break
    return statistics.median(rates) if rates else None


# ------------------------------------------------------------------------------------------------ musubi-tuner
MUSUBI_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".avif",
                           ".PNG", ".JPG", ".JPEG", ".WEBP", ".BMP", ".AVIF")
"""The extensions musubi-tuner globs for (case-sensitive; `.jxl` only with a JPEG-XL plugin installed)."""

MUSUBI_RESO_STEPS = {"hidream-o1": 32}
"""Bucket resolution step per family where it is not musubi's usual 16 (``BucketSelector.ARCHITECTURE_STEPS_MAP``)."""


def musubi_reso_step(family: str) -> int:
    """musubi-tuner's bucket resolution step for a family (16, or 32 for HiDream-O1's pixel patches)."""
    return MUSUBI_RESO_STEPS.get(family, 16)


@dataclass
class MusubiItem:
    """One training image of a musubi dataset: its raw size and, for edit models, its control images' raw sizes
    in musubi's order (the exact-stem control first, then ``_0``, ``_1`` ...)."""

    name: str
    size: tuple[int, int]
    controls: list[tuple[int, int]] = field(default_factory=list)
    frames: int | None = None
    """A video clip's length in frames (None for an image): part of its bucket."""


@dataclass
class MusubiDataset:
    """One ``[[datasets]]`` entry of musubi-tuner's dataset TOML and the items its cache will hold."""

    name: str
    repeats: int
    items: list[MusubiItem] = field(default_factory=list)
    resolution: tuple[int, int] = (960, 544)
    batch_size: int = 1
    enable_bucket: bool = False
    bucket_no_upscale: bool = False
    no_resize_control: bool = False
    control_resolution: tuple[int, int] | None = None
    video: bool = False
    """A ``video_directory`` entry: its items are clips (``MusubiItem.frames``)."""


@dataclass
class MusubiStepParams:
    """The trainer options that decide musubi-tuner's step count (the dataset options live in MusubiDataset)."""

    reso_step: int = 16
    gradient_accumulation_steps: int = 1
    num_processes: int = 1
    max_train_epochs: int | None = None
    max_train_steps: int = 1600


def musubi_bucket_resolutions(resolution: tuple[int, int], step: int) -> list[tuple[int, int]]:
    """musubi-tuner's bucket list for a resolution: widths from half the side up to the side of the area's
    square, each with the height that keeps the area (both cut to `step`), and the transposes; sorted."""
    area = resolution[0] * resolution[1]
    side = int(math.sqrt(area))
    smallest = (side // 2) - (side // 2) % step
    found = set()
    for width in range(smallest, side + step, step):
        height = (area // width) - (area // width) % step
        found.add((width, height))
        found.add((height, width))
    return sorted(found)


def musubi_control_bucket(size: tuple[int, int], resolution: tuple[int, int], step: int) -> tuple[int, int]:
    """``BucketSelector.calculate_bucket_resolution``: the size a control image is resized to under
    ``control_resolution`` (the area of `resolution`, the nearest aspect among five candidate widths)."""
    area = resolution[0] * resolution[1]
    width, height = size
    aspect = width / height
    base_w = int(math.sqrt(area * aspect))
    base_w -= base_w % step
    best, best_diff = None, float("inf")
    for shift in range(-2, 3):
        w = base_w + shift * step
        if w <= 0:
            continue  # musubi would divide by zero here; such a control is reported as unbucketable
        h = (area // w) - (area // w) % step
        if h <= 0:
            continue
        diff = abs(w / h - aspect)
        if diff < best_diff:
            best, best_diff = (w, h), diff
    if best is None:
        base_h = int(math.sqrt(area / aspect))
        return (base_w, base_h - base_h % step)
    return best


def _musubi_target_buckets(dataset: MusubiDataset, step: int) -> list[tuple[int, int]]:
    """The bucket of each item's raw size, as ``BucketSelector.get_bucket_resolution`` picks it."""
    if not dataset.enable_bucket:
        return [tuple(dataset.resolution)] * len(dataset.items)
    area = dataset.resolution[0] * dataset.resolution[1]
    resos = musubi_bucket_resolutions(dataset.resolution, step)
    unique = list(dict.fromkeys(item.size for item in dataset.items))
    found: dict[tuple[int, int], tuple[int, int]] = {}
    rest = []
    for size in unique:
        if dataset.bucket_no_upscale and size[0] * size[1] <= area:
            found[size] = (size[0] - size[0] % step, size[1] - size[1] % step)
        else:
            rest.append(size)
    if rest:
        import numpy as np

        ratios = np.array([w / h for w, h in resos], dtype=np.float64)
        aspects = np.array([w / h for w, h in rest], dtype=np.float64)
        nearest = np.abs(ratios[None, :] - aspects[:, None]).argmin(axis=1)
        for size, index in zip(rest, nearest.tolist()):
            found[size] = resos[index]
    return [found[item.size] for item in dataset.items]


def musubi_control_size(control: tuple[int, int], bucket: tuple[int, int], dataset: MusubiDataset,
                        step: int) -> tuple[int, int]:
    """The size a control image is cached at: the target's bucket by default; with ``no_resize_control`` its
    own size cut to the step (or, above ``control_resolution``'s area, that area's bucket); with only
    ``control_resolution``, that area's bucket."""
    if dataset.no_resize_control:
        limit = dataset.control_resolution
        if limit is not None:
            if control[0] * control[1] > limit[0] * limit[1]:
                return musubi_control_bucket(control, limit, step)
            return control  # within the limit: kept as it is (musubi cuts nothing here)
        return (control[0] - control[0] % step, control[1] - control[1] % step)
    if dataset.control_resolution is not None:
        return musubi_control_bucket(control, dataset.control_resolution, step)
    return bucket


def musubi_bucket_label(key: tuple) -> str:
    """'1024x1024' for a target bucket; edit buckets add their controls: '1024x1024 +control 1024x1024,512x512'."""
    label = bucket_label(key[0])
    if len(key) > 1:
        label += " +control " + ",".join(bucket_label(size) for size in key[1:])
    return label


def compute_musubi_steps(datasets: list[MusubiDataset], params: MusubiStepParams) -> StepReport:
    """Count steps exactly as musubi-tuner's image datasets and trainer do (see the module docstring)."""
    report = StepReport()
    step = params.reso_step
    batches = 0
    several = len([d for d in datasets if d.repeats >= 1 and d.items]) > 1
    for dataset in datasets:
        if dataset.repeats < 1 or not dataset.items:
            continue
        report.images += len(dataset.items)
        counts: dict[tuple, int] = {}
        for item, bucket in zip(dataset.items, _musubi_target_buckets(dataset, step)):
            controls = tuple(musubi_control_size(c, bucket, dataset, step) for c in item.controls)
            if min(bucket) <= 0 or any(min(c) <= 0 for c in controls):
                report.unbucketable.append(item.name)
                continue
            key = (bucket, *controls) if item.frames is None else (bucket, item.frames)
            counts[key] = counts.get(key, 0) + dataset.repeats
        batch = max(dataset.batch_size, 1)
        batches += sum(math.ceil(count / batch) for count in counts.values())
        with_repeats = sum(counts.values())
        report.train_images_with_repeats += with_repeats
        report.images_with_repeats += with_repeats
        for key in sorted(counts):
            label = f"{bucket_label(key[0])}x{key[1]}f" if dataset.video else musubi_bucket_label(key)
            report.buckets[f"{dataset.name}: {label}" if several else label] = counts[key]
    report.batches_per_epoch = batches
    processes = max(params.num_processes, 1)
    accumulation = max(params.gradient_accumulation_steps, 1)
    report.steps_per_epoch = math.ceil(batches / processes / accumulation)
    if params.max_train_epochs is not None:
        report.total_steps = params.max_train_epochs * report.steps_per_epoch
    else:
        report.total_steps = params.max_train_steps
    updates_per_epoch = math.ceil(math.ceil(batches / processes) / accumulation)
    report.epochs = math.ceil(report.total_steps / updates_per_epoch) if updates_per_epoch else 0
    _note_parallel(report, max((max(d.batch_size, 1) for d in datasets), default=1), processes, accumulation)
    return report


def is_musubi_image(rel_path: str) -> bool:
    """True when musubi-tuner's glob picks this file up."""
    name = rel_path.rsplit("/", 1)[-1]
    return name.endswith(MUSUBI_IMAGE_EXTENSIONS)


@dataclass
class MusubiSource:
    """A loratui subset as musubi-tuner will read it: the captioned images its non-recursive glob finds."""

    rel_path: str
    repeats: int
    is_reg: bool
    items: list[MusubiItem] = field(default_factory=list)
    uncaptioned: int = 0
    """Images musubi skips because no caption file is next to them."""
    control_keys: dict[str, Any] = field(default_factory=dict)
    """For edit models: this subset's control keys in its ``[[datasets]]`` table (``control_directory`` and the
    control resize options), as the control-image index provides them; empty otherwise."""
    clips: list[MusubiItem] = field(default_factory=list)
    """For video families: the clips of the folder's videos (``attach_video_clips``), one item each."""
    videos: int = 0
    """Readable videos musubi-tuner's video glob finds in the folder."""
    uncaptioned_videos: list[str] = field(default_factory=list)
    """Videos without a caption file: musubi-tuner's text-encoder caching stops on the first."""
    too_short: list[str] = field(default_factory=list)
    """Videos that yield no clip with these settings."""


async def load_musubi_sources(store, dataset_id: int, caption_set: str | None = None) -> list[MusubiSource]:
    """The dataset's subsets with the raw sizes of the images musubi-tuner will train on, by path (it skips those
    without a caption file in the caption set trained on, `caption_set`: None is the primary set)."""
    result = []
    for subset, rows in await _subset_rows(store, dataset_id, caption_set):
        source = MusubiSource(subset.rel_path, subset.repeats, subset.is_reg)
        seen: set[tuple[str, tuple[int, int]]] = set()
        for row in rows:
            rel = row["rel_path"]
            if not is_musubi_image(rel):
                continue
            if not row["caption_file"]:
                source.uncaptioned += 1
                continue
            size = raw_size(row["width"], row["height"], row["orientation"])
            # Two images with one stem share a cache file when their sizes match (musubi names caches
            # <stem>_<W>x<H>_<arch>): such a pair trains as one item.
            stem = rel.rsplit(".", 1)[0]
            if (stem, size) in seen:
                continue
            seen.add((stem, size))
            source.items.append(MusubiItem(rel, size))
        result.append(source)
    return result


def attach_controls(sources: list[MusubiSource], controls: dict[str, list[tuple[int, int]]],
                    keys: dict[str, dict[str, Any]] | None = None) -> None:
    """Give each item its control images' raw sizes (`controls`: the target's dataset-relative path -> sizes in
    musubi's order) and each subset its dataset-TOML control keys (`keys`: subset folder -> keys), as the
    control-image index provides them. Items without an entry keep none."""
    for source in sources:
        if keys is not None:
            source.control_keys = dict(keys.get(source.rel_path, {}))
        for item in source.items:
            item.controls = list(controls.get(item.name, []))


@dataclass
class VideoRows:
    """A dataset's indexed videos by subset folder, loaded once (``load_video_rows``) and given clips by
    ``assign_video_clips`` for whatever clip settings the form holds."""

    by_folder: dict[str, list] = field(default_factory=dict)
    computed: dict[tuple, dict[str, tuple]] = field(default_factory=dict)
    """Clips already computed, by (settings, resolution, step): the form recounts on every keystroke."""


async def load_video_rows(store, dataset_id: int) -> VideoRows:
    """The videos directly in each subset folder (musubi's non-recursive video glob), by folder."""
    from loratui.datasets import video_repo
    from loratui.training.video_dataset import is_musubi_video

    rows = await store.read(video_repo.video_rows, dataset_id)
    folders = {s.id: s.rel_path for s in await store.run(dataset_repo.list_subsets, dataset_id)}
    result = VideoRows()
    for row in rows:
        folder = folders.get(row.subset_id)
        if folder is None or not is_musubi_video(row.rel_path):
            continue
        prefix = folder + "/" if folder else ""
        if row.rel_path.startswith(prefix) and "/" not in row.rel_path[len(prefix):]:
            result.by_folder.setdefault(folder, []).append(row)
    return result


def musubi_cache_size(size: tuple[int, int], resolution: tuple[int, int], step: int) -> tuple[int, int]:
    """The frame size a video clip is cached at, and recorded in its cache file name as its "original" size:
    musubi-tuner's latent caching decodes videos through a ``BucketSelector`` with bucketing on and no
    ``bucket_no_upscale``, whatever the dataset says (the training buckets are then chosen from this size)."""
    import numpy as np

    resos = musubi_bucket_resolutions(resolution, step)
    ratios = np.array([w / h for w, h in resos], dtype=np.float64)
    return resos[int(np.abs(ratios - size[0] / size[1]).argmin())]


def assign_video_clips(sources: list[MusubiSource], videos: VideoRows, settings, resolution: tuple[int, int],
                       step: int) -> None:
    """Give each source the clips of its folder's videos, as ``video_clips.plan_clips`` computes them with
    `settings` (replacing earlier ones). Each clip's size is the one musubi-tuner caches it at
    (``musubi_cache_size`` at `resolution`, bucket step `step`); two clips with one cache file name (same stem,
    start, length and that size) are one item, as musubi-tuner's cache holds them."""
    from loratui.datasets.video_clips import plan_clips
    from loratui.datasets.video_service import video_info

    known = videos.computed.get((settings, resolution, step))
    if known is not None and set(known) == {s.rel_path for s in sources}:
        for source in sources:
            clips, count, uncaptioned, short = known[source.rel_path]
            source.clips, source.videos = list(clips), count
            source.uncaptioned_videos, source.too_short = list(uncaptioned), list(short)
        return
    for source in sources:
        source.clips, source.videos, source.uncaptioned_videos, source.too_short = [], 0, [], []
        seen: set[tuple] = set()
        for row in videos.by_folder.get(source.rel_path, []):
            info = video_info(row)
            if info is None:
                continue  # broken: the training check reports it
            source.videos += 1
            if not row.has_caption_file:
                source.uncaptioned_videos.append(row.rel_path)
            size = musubi_cache_size((row.coded_width or 1, row.coded_height or 1), resolution, step)
            plan = plan_clips(info, settings)
            if not plan.clips:
                source.too_short.append(row.rel_path)
            stem = row.rel_path.rsplit(".", 1)[0]
            for clip in plan.clips:
                key = (stem, clip.start, clip.length, size)
                if key not in seen:
                    seen.add(key)
                    source.clips.append(MusubiItem(f"{row.rel_path}@{clip.start}+{clip.length}", size,
                                                   frames=clip.length))
    if len(videos.computed) > 32:
        videos.computed.clear()
    videos.computed[(settings, resolution, step)] = {
        s.rel_path: (tuple(s.clips), s.videos, tuple(s.uncaptioned_videos), tuple(s.too_short)) for s in sources}
