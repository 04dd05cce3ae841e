"""Training edit models on image pairs with musubi-tuner: which families take control images, the control keys of
its dataset TOML, the pair check before launch, and the exact step count.

``takes_control_images(family, args)`` is the one place that says whether a family trains on control images; it is
keyed on musubi-tuner's architecture names (``fk`` FLUX.1 Kontext, ``qie`` Qwen-Image-Edit/2509/2511, ``f2d``/
``f2k4b``/``f2k9b`` FLUX.2, ``ho1`` HiDream-O1) so a declarative family record can point at it.

musubi-tuner (commit 30c658c) decides, per architecture (``dataset/image_video_dataset.py``, ``ImageDataset``):
how many controls a target uses (Kontext: the first; the others: all of them), and splits its batches by the
target's bucket *and* the shape of every control latent (``prepare_for_training``: the cache's
``latents_control_*`` keys go into the bucket key), so targets with a different number of controls, or controls
of a different size, never share a batch. Control sizes follow the dataset's resize keys (``datasets.pairs``).
``edit_step_report`` counts batches that way and was checked against musubi-tuner's own printed totals
(tests/training_config/test_edit_pairs.py, docs/image-pairs.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from loratui.datasets import pair_repo
from loratui.datasets.buckets import raw_size
from loratui.datasets.pairs import ControlOptions, musubi_reads, pair_by_stem, size_note
from loratui.training.families import find_family
from loratui.training.steps import StepReport, parse_resolution


@dataclass(frozen=True)
class ControlRule:
    """How a musubi-tuner architecture uses control images."""

    architecture: str
    label: str
    per_image: int | None
    """Controls a target uses: 1 = the first only (the others are ignored); None = all of them."""
    required: bool
    """True when every target must have a control (musubi-tuner stops otherwise)."""
    reso_step: int
    """``BucketSelector.ARCHITECTURE_STEPS_MAP``: bucket sides are multiples of this."""


CONTROL_RULES = {
    "fk": ControlRule("fk", "FLUX.1 Kontext", 1, True, 16),
    "qie": ControlRule("qie", "Qwen-Image-Edit", None, True, 16),
    "f2d": ControlRule("f2d", "FLUX.2 dev", None, False, 16),
    "f2k4b": ControlRule("f2k4b", "FLUX.2 klein 4B", None, False, 16),
    "f2k9b": ControlRule("f2k9b", "FLUX.2 klein 9B", None, False, 16),
    "ho1": ControlRule("ho1", "HiDream-O1-Image", None, False, 32),
}
"""The architectures that read ``control_directory`` (``image_video_dataset.py``; FramePack/Wan one-frame training
uses it too, with ``fp_1f_clean_indices``: not an edit-pair family here)."""

QWEN_EDIT_VERSIONS = ("edit", "edit-2509", "edit-2511")
FLUX2_ARCHITECTURES = {"dev": "f2d", "klein-4b": "f2k4b", "klein-base-4b": "f2k4b", "klein-9b": "f2k9b",
                       "klein-base-9b": "f2k9b"}
FAMILY_ARCHITECTURES = {
    "qwen-image-edit": "qie", "qwen-image-edit-2509": "qie", "qwen-image-edit-2511": "qie",
    "flux-kontext": "fk", "hidream-o1": "ho1",
}
"""Families named by their edit variant (the declarative family records may name them so)."""


def musubi_architecture(family: str, args: dict[str, Any] | None = None) -> str | None:
    """musubi-tuner's architecture name for a family and its variant options (None when not known here); a
    registry family's own variant flags win (``qwen-image`` trains the original whatever [args] says)."""
    args = args or {}
    record = find_family(family)
    if record is not None:
        args = {**args, **record.variant_values(args, "train")}
    if family == "qwen-image":
        version = str(args.get("model_version") or "").lower()
        if args.get("edit_plus"):
            version = "edit-2509"
        elif args.get("edit"):
            version = "edit"
        if version in QWEN_EDIT_VERSIONS:
            return "qie"
        return "qil" if version == "layered" else "qi"
    if family in ("flux2", "flux-2"):
        return FLUX2_ARCHITECTURES.get(str(args.get("model_version") or "dev").lower())
    return FAMILY_ARCHITECTURES.get(family)


def control_rule(family: str, args: dict[str, Any] | None = None) -> ControlRule | None:
    """The control rule of a family (with its variant options), or None when it takes no control images."""
    architecture = musubi_architecture(family, args)
    return CONTROL_RULES.get(architecture) if architecture else None


def takes_control_images(family: str, args: dict[str, Any] | None = None) -> bool:
    """True when training `family` (with these [args]) reads control images: the edit models."""
    return control_rule(family, args) is not None


# -- the pairs a training will read -------------------------------------------------------------------------------


@dataclass
class PairItem:
    """One target musubi-tuner trains on: its raw size and the raw sizes of the controls it uses, in order."""

    name: str
    size: tuple[int, int]
    controls: list[tuple[int, int]]


@dataclass
class SubsetPairs:
    """One subset (one musubi ``[[datasets]]`` table) of an edit training."""

    rel_path: str
    repeats: int
    control_path: str | None
    options: ControlOptions
    items: list[PairItem] = field(default_factory=list)


@dataclass
class PairPlan:
    """What an edit training reads: per subset its control folder, options and items; and what is wrong."""

    rule: ControlRule
    subsets: list[SubsetPairs] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Problems musubi-tuner stops on (or that loratui refuses: a control linked outside the dataset)."""
    warnings: list[str] = field(default_factory=list)
    inexact: list[str] = field(default_factory=list)
    """Why the step count may be off."""

    def toml_keys(self) -> dict[str, dict]:
        """subset folder -> the control keys of its ``[[datasets]]`` table (control_directory and options)."""
        return {s.rel_path: {"control_directory": s.control_path, **s.options.toml_keys()}
                for s in self.subsets if s.control_path is not None}


def _shown(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _raw(row) -> tuple[int, int] | None:
    if row["status"] != "ok" or not row["width"] or not row["height"]:
        return None
    return raw_size(row["width"], row["height"], row["orientation"])


def plan_pairs(rule: ControlRule, dataset_path, subsets: list[dict], folders: list, targets: list, controls: list
               ) -> PairPlan:
    """Pair each subset the way musubi-tuner will (only captioned images are targets, since loratui always sets
    ``caption_extension``) and collect what would stop it.

    `subsets`: the planner's subset rows (rel_path, repeats); `folders`: ``pair_repo.control_folders``; `targets`:
    ``pair_repo.pairing_targets`` of those subsets; `controls`: ``pair_repo.pairing_controls``.
    """
    plan = PairPlan(rule)
    by_folder = {f.subset_path: f for f in folders}
    targets_by_subset: dict[str, list] = {}
    for row in targets:
        targets_by_subset.setdefault(row["rel_path"].rpartition("/")[0], []).append(row)
    controls_by_subset: dict[str, list] = {}
    for row in controls:
        controls_by_subset.setdefault(row["subset_path"], []).append(row)
    for subset in subsets:
        rel = subset["rel_path"]
        shown = rel or "."
        folder = by_folder.get(rel)
        usable = folder is not None and folder.source != "off" and folder.control_path is not None
        options = folder.options if folder is not None else ControlOptions()
        entry = SubsetPairs(rel, int(subset["repeats"]), str(dataset_path / folder.control_path) if usable else None,
                            options)
        plan.subsets.append(entry)
        subset_targets = {r["rel_path"].rpartition("/")[2]: r for r in targets_by_subset.get(rel, [])
                          if r["captioned"] and musubi_reads(r["rel_path"].rpartition("/")[2])}
        if not usable:
            if rule.required and subset_targets:
                plan.errors.append(f"subset {shown} has no control folder: {rule.label} trains on image pairs "
                                   f"(put its control images in {rel + '/' if rel else ''}control/, or `loratui "
                                   f"dataset control NAME {shown} --folder DIR`)")
            entry.items = [PairItem(name, _raw(row) or (0, 0), []) for name, row in sorted(subset_targets.items())]
            continue
        by_name = {r["rel_path"].rpartition("/")[2]: r for r in controls_by_subset.get(rel, [])}
        pairing = pair_by_stem(subset_targets, [n for n in by_name if musubi_reads(n)])
        missing = pairing.missing(subset_targets)
        if missing:  # with a control_directory, every family stops on a target without controls
            plan.errors.append(f"{len(missing)} image(s) of {shown} have no control image in "
                               f"{folder.control_path}: {_shown(missing)} (musubi-tuner stops: \"Could not find "
                               "matching control images\")")
        bad = sorted(n for names in pairing.bad_names.values() for n in names)
        if bad:
            plan.errors.append(f"control image(s) in {folder.control_path} named STEM_<not a number>: {_shown(bad)} "
                               "(musubi-tuner stops: \"Invalid digits suffix\"); rename them STEM_0, STEM_1, ...")
        tied = sorted(n for names in pairing.ambiguous.values() for n in names)
        if tied:
            plan.errors.append(f"control images in {folder.control_path} that take the same place: {_shown(tied)} "
                               "(musubi-tuner orders them by chance); rename one of each")
        broken, mismatched, ignored = [], [], []
        for name, row in sorted(subset_targets.items()):
            names = pairing.controls.get(name, [])
            used = names if rule.per_image is None else names[:rule.per_image]
            ignored += names[len(used):]
            sizes = []
            for control_name in used:
                control = by_name[control_name]
                size = _raw(control)
                if size is None:
                    broken.append(f"{control_name} ({control['reason'] or 'unreadable'})")
                    continue
                sizes.append(size)
                target_size = _raw(row)
                if target_size is not None and size_note(target_size, size, options)[0]:
                    mismatched.append(control_name)
            plan.subsets[-1].items.append(PairItem(name, _raw(row) or (0, 0), sizes))
        if broken:
            plan.errors.append(f"unreadable control image(s) in {folder.control_path}: {_shown(broken, 3)}")
        if mismatched:
            plan.warnings.append(f"{len(mismatched)} control image(s) in {folder.control_path} have another aspect "
                                 f"ratio than their image and are cropped to its bucket: {_shown(mismatched)} "
                                 "(`loratui dataset show` says how much)")
        if ignored:
            plan.warnings.append(f"{rule.label} uses one control image per image: {_shown(ignored)} are ignored")
        stems = [name.rsplit(".", 1)[0] for name in subset_targets]
        if len(stems) != len(set(stems)):
            plan.inexact.append(f"{shown} has images that differ only in their extension (they share a cache file)")
        area = options.resolution[0] * options.resolution[1] if options.resolution else 0
        if options.no_resize and options.resolution is not None and any(
                (w % rule.reso_step or h % rule.reso_step) and w * h <= area
                for item in entry.items for w, h in item.controls):
            plan.inexact.append(f"controls of {shown} whose sides are not multiples of {rule.reso_step} are kept "
                                "as they are (no_resize_control with control_resolution); their latent sizes are "
                                "not counted exactly")
    return plan


async def load_pair_plan(store, dataset, family: str, args: dict[str, Any], subsets: list[dict]) -> PairPlan | None:
    """The pair plan of an edit training from the index (None when `family` takes no control images)."""
    rule = control_rule(family, args)
    if rule is None:
        return None
    folders = await store.run(pair_repo.control_folders, dataset.id)
    targets = await store.run(pair_repo.pairing_targets, dataset.id, [s["rel_path"] for s in subsets])
    controls = await store.run(pair_repo.pairing_controls, dataset.id)
    return plan_pairs(rule, dataset.path, subsets, folders, targets, controls)


# -- musubi-tuner's buckets and steps -------------------------------------------------------------------------------


def _floor(value: int, step: int) -> int:
    return value - value % step


def bucket_resolutions(resolution: tuple[int, int], step: int) -> list[tuple[int, int]]:
    """``BucketSelector``'s bucket list for `resolution` (W, H) with buckets on."""
    area = resolution[0] * resolution[1]
    side = int(math.sqrt(area))
    low = _floor(side // 2, step)
    found = set()
    for width in range(low, side + step, step):
        height = _floor(area // width, step)
        found.add((width, height))
        found.add((height, width))
    return sorted(found)


@dataclass
class MusubiBuckets:
    """musubi-tuner's ``BucketSelector`` for one dataset."""

    resolution: tuple[int, int]
    enable_bucket: bool
    no_upscale: bool
    step: int

    def __post_init__(self) -> None:
        self.buckets = bucket_resolutions(self.resolution, self.step) if self.enable_bucket else [self.resolution]
        self.ratios = [w / h for w, h in self.buckets]

    def select(self, size: tuple[int, int]) -> tuple[int, int]:
        """The bucket of an image of raw size `size` (``get_bucket_resolution``)."""
        if not self.enable_bucket:
            return self.resolution
        width, height = size
        if self.no_upscale and width * height <= self.resolution[0] * self.resolution[1]:
            return _floor(width, self.step), _floor(height, self.step)
        aspect = width / height
        best = min(range(len(self.ratios)), key=lambda i: abs(self.ratios[i] - aspect))  # first minimum, as argmin
        return self.buckets[best]


def control_bucket(size: tuple[int, int], resolution: tuple[int, int], step: int) -> tuple[int, int]:
    """``BucketSelector.calculate_bucket_resolution``: the control's size for ``control_resolution``."""
    area = resolution[0] * resolution[1]
    width, height = size
    aspect = width / height
    bucket_width = _floor(int(math.sqrt(area * aspect)), step)
    bucket_height = _floor(int(math.sqrt(area / aspect)), step)
    best, best_difference = None, float("inf")
    for offset in range(-2, 3):
        w = bucket_width + offset * step
        if w <= 0:
            continue
        h = _floor(area // w, step)
        if h <= 0:
            continue
        difference = abs(w / h - aspect)
        if difference < best_difference:
            best, best_difference = (w, h), difference
    return best if best is not None else (bucket_width, bucket_height)


def resized_control(size: tuple[int, int], target_bucket: tuple[int, int], options: ControlOptions,
                    step: int) -> tuple[int, int]:
    """The size a control is cached at (``retrieve_latent_cache_batches``)."""
    if options.no_resize:
        if options.resolution is not None:
            if size[0] * size[1] > options.resolution[0] * options.resolution[1]:
                return control_bucket(size, options.resolution, step)
            return size
        return _floor(size[0], step), _floor(size[1], step)
    if options.resolution is not None:
        return control_bucket(size, options.resolution, step)
    return target_bucket


def edit_batches(plan: PairPlan, resolution: tuple[int, int], enable_bucket: bool, no_upscale: bool,
                 batch_size: int) -> tuple[dict[str, int], int, int]:
    """(bucket label -> items with repeats, batches per epoch, items) over every subset of `plan`."""
    labels: dict[str, int] = {}
    batches = items = 0
    for subset in plan.subsets:
        selector = MusubiBuckets(resolution, enable_bucket, no_upscale, plan.rule.reso_step)
        counts: dict[tuple, int] = {}
        for item in subset.items:
            if item.size == (0, 0):
                continue
            bucket = selector.select(item.size)
            shapes = tuple(resized_control(c, bucket, subset.options, plan.rule.reso_step) for c in item.controls)
            counts[(bucket, shapes)] = counts.get((bucket, shapes), 0) + subset.repeats
            items += 1
        for (bucket, shapes), count in counts.items():
            label = f"{bucket[0]}x{bucket[1]}" + "".join(f"+{w}x{h}" for w, h in shapes)
            labels[label] = labels.get(label, 0) + count
            batches += math.ceil(count / max(batch_size, 1))
    return dict(sorted(labels.items())), batches, items


def edit_step_report(plan: PairPlan, args: dict[str, Any], launch: dict[str, Any]) -> StepReport:
    """What musubi-tuner prints as "total optimization steps" (and batches, epochs) for an edit training."""
    report = StepReport()
    resolution = parse_resolution(args.get("resolution")) or (1024, 1024)
    enable_bucket = bool(args.get("enable_bucket", True))
    no_upscale = bool(args.get("bucket_no_upscale", False))
    batch_size = int(args.get("train_batch_size") or 1)
    report.buckets, report.batches_per_epoch, report.images = edit_batches(plan, resolution, enable_bucket,
                                                                           no_upscale, batch_size)
    report.images_with_repeats = report.train_images_with_repeats = sum(report.buckets.values())
    processes = max(int(launch.get("num_processes") or 1), 1)
    accumulation = max(int(args.get("gradient_accumulation_steps") or 1), 1)
    report.steps_per_epoch = math.ceil(report.batches_per_epoch / processes / accumulation)
    epochs = args.get("max_train_epochs")
    report.total_steps = int(epochs) * report.steps_per_epoch if epochs is not None else int(
        args.get("max_train_steps") or 1600)
    per_process = math.ceil(report.batches_per_epoch / processes)
    updates = math.ceil(per_process / accumulation)
    report.epochs = math.ceil(report.total_steps / updates) if updates else 0
    report.notes.append("musubi-tuner buckets: the image's bucket and the size of each control image")
    if plan.inexact:
        report.exact = False
        report.notes.extend(plan.inexact)
    return report
