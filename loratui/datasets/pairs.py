"""Image pairs for edit models: which folder holds a subset's control images, and which control goes with which image.

Edit models (FLUX.1 Kontext, Qwen-Image-Edit and its 2509/2511 versions, FLUX.2, HiDream-O1) train on a *target*
image (the result), its caption (an instruction: "make the sky red") and one or more *control* images (the input).
musubi-tuner reads the targets and their captions from a dataset's ``image_directory`` and the controls from its
``control_directory``, and pairs them by file name (``dataset/datasources.py``, ``ImageDirectoryDatasource``, at
commit 30c658c). ``pair_by_stem`` does exactly what it does:

* targets are taken longest file name first (ties in path order); each takes every control image not yet taken
  whose name starts with its stem followed by ``.`` or ``_`` (``a.png`` takes ``a.jpg``, ``a_0.png``, ``a_1.webp``);
* a target's controls are ordered: the one named exactly like the stem first, then by the whole number after the
  last ``_`` (``a_0``, ``a_1``, ``a_0002``); any other name (``a_big.png``, ``a.v2.png``) makes musubi-tuner stop
  with "Invalid digits suffix";
* a control no target takes is ignored; a target with none makes it stop ("Could not find matching control images").

Where a subset's controls live (the layout loratui reads; ``loratui dataset control`` sets it otherwise):

* a folder named ``control`` inside the subset folder (``10_shoes/control/``), or
* a sibling folder named like the subset plus ``_control`` (``10_shoes_control/`` beside ``10_shoes/``).

A control folder is never indexed as training images, and only its own files count (musubi-tuner does not look
into its subfolders).

What "mismatched" means follows the control resize musubi-tuner applies (``image_video_dataset.py``,
``retrieve_latent_cache_batches``). By default a control is resized to cover the target's bucket and
centre-cropped, so a control whose aspect ratio differs from its target's loses a border the target keeps: the
pair no longer lines up, which matters to pixel-aligned edits (Kontext, Qwen-Image-Edit). That is flagged when the
ratios differ by more than ``ASPECT_TOLERANCE``. With ``no_resize_control`` or ``control_resolution`` (the setting
Qwen-Image-Edit's and FLUX.2's documentation recommend, meant for reference images of any shape) each control keeps
its own aspect ratio, so a different shape is expected and not flagged. A control of the same shape at another size
is only scaled: never a problem. Sizes are compared as musubi-tuner reads them, without EXIF orientation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Iterable

from loratui.errors import InputError

CONTROL_FOLDER = "control"
"""The conventional control folder inside a subset folder."""
CONTROL_SUFFIX = "_control"
"""The conventional sibling control folder of a subset folder: ``<subset folder>_control``."""

MUSUBI_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".PNG", ".JPG", ".JPEG", ".WEBP", ".BMP",
                           ".avif", ".AVIF")
"""What musubi-tuner globs as images (``dataset/media_utils.py``; case-sensitive: ``.Png`` is not read). ``.jxl``
only with a JPEG-XL plugin installed in its environment, which loratui cannot see: left out."""

ASPECT_TOLERANCE = 0.01
"""Aspect ratios closer than 1% count as the same shape (a crop of at most 1% of a side)."""

PAIR_STATUSES = ("ok", "missing", "mismatch", "broken", "bad_name", "ambiguous")
"""A target's pair status, worst last in ``_SEVERITY`` order (see ``target_status``)."""
_SEVERITY = {"ok": 0, "mismatch": 1, "missing": 2, "broken": 3, "ambiguous": 4, "bad_name": 5}


def musubi_reads(name: str) -> bool:
    """True when musubi-tuner's glob picks up a file of this name as an image."""
    return not name.startswith(".") and name.endswith(MUSUBI_IMAGE_EXTENSIONS)


def stem(name: str) -> str:
    """The file name without its last extension, as ``os.path.splitext`` gives it."""
    return os.path.splitext(name)[0]


# -- where controls live --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlOptions:
    """musubi-tuner's per-dataset control resize keys, stored with the subset's control folder."""

    no_resize: bool = False
    """``no_resize_control``: controls keep their size (each side floored to the architecture's step)."""
    resolution: tuple[int, int] | None = None
    """``control_resolution`` [W, H]: controls are bucketed to this area (a maximum with ``no_resize``)."""

    @property
    def keeps_aspect(self) -> bool:
        """True when controls keep their own aspect ratio instead of being cropped to the target's bucket."""
        return self.no_resize or self.resolution is not None

    def to_json(self) -> str:
        """The stored form."""
        data: dict = {}
        if self.no_resize:
            data["no_resize_control"] = True
        if self.resolution is not None:
            data["control_resolution"] = list(self.resolution)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "ControlOptions":
        """Read the stored form (anything unreadable counts as the defaults)."""
        try:
            data = json.loads(text or "{}")
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        resolution = data.get("control_resolution")
        if not (isinstance(resolution, list) and len(resolution) == 2 and all(isinstance(v, int) for v in resolution)):
            resolution = None
        return cls(bool(data.get("no_resize_control", False)), tuple(resolution) if resolution else None)

    def toml_keys(self) -> dict:
        """The keys of musubi-tuner's ``[[datasets]]`` table, only those that differ from its defaults."""
        keys: dict = {}
        if self.no_resize:
            keys["no_resize_control"] = True
        if self.resolution is not None:
            keys["control_resolution"] = [self.resolution[0], self.resolution[1]]
        return keys

    def describe(self) -> str:
        """'resized to the target's bucket', 'no_resize_control', 'control_resolution 1024x1024', ..."""
        parts = []
        if self.no_resize:
            parts.append("no_resize_control")
        if self.resolution is not None:
            parts.append(f"control_resolution {self.resolution[0]}x{self.resolution[1]}")
        return " + ".join(parts) if parts else "resized to the target's bucket"


def parse_resolution(text: str) -> tuple[int, int] | None:
    """'1024', '1024,768' or '1024x768' as (width, height); 'none' or '' as None; InputError otherwise."""
    text = text.strip().lower()
    if text in ("", "none", "off"):
        return None
    parts = text.replace("x", ",").split(",")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) < 64 or max(values) > 8192:
        raise InputError(f"control resolution must be SIZE or WIDTH,HEIGHT between 64 and 8192, not {text!r}",
                         hint="for example 1024 or 1024,1024 (Qwen-Image-Edit's recommendation); none to unset")
    return values[0], values[1]


def conventional_owner(parent_rel: str, name: str, sibling_dirs: set[str]) -> str | None:
    """The subset folder whose control folder `name` (a folder inside `parent_rel`) is by convention, or None.

    ``control`` belongs to `parent_rel` itself; ``X_control`` belongs to its sibling ``X`` when that folder exists
    (`sibling_dirs`: the names of the other folders in `parent_rel`).
    """
    if name == CONTROL_FOLDER:
        return parent_rel
    if name.endswith(CONTROL_SUFFIX) and len(name) > len(CONTROL_SUFFIX):
        owner = name[:-len(CONTROL_SUFFIX)]
        if owner in sibling_dirs:
            return f"{parent_rel}/{owner}" if parent_rel else owner
    return None


def check_control_folder(subset_rel: str, control_rel: str) -> str:
    """`control_rel` normalised (no leading/trailing '/', no '.', no '..'); InputError when it cannot be a control
    folder of `subset_rel`: the dataset folder itself, the subset folder, or a folder that contains the subset."""
    parts = [p for p in control_rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        raise InputError("the control folder cannot be the dataset folder itself",
                         hint="name a subfolder, e.g. 10_concept/control")
    if ".." in parts:
        raise InputError(f"the control folder must lie inside the dataset: {control_rel!r}")
    if any(p.startswith(".") for p in parts):
        raise InputError(f"hidden folders are not scanned: {control_rel!r}")
    normal = "/".join(parts)
    if normal == subset_rel or (subset_rel + "/").startswith(normal + "/"):
        raise InputError(f"{normal!r} holds the subset's own images: a control folder must be another folder")
    return normal


# -- pairing --------------------------------------------------------------------------------------------------


@dataclass
class Pairing:
    """How musubi-tuner pairs the images of one ``image_directory`` with the files of its ``control_directory``."""

    controls: dict[str, list[str]] = field(default_factory=dict)
    """Target file name -> the names of its controls, in musubi-tuner's order (only targets that have some)."""
    extra: list[str] = field(default_factory=list)
    """Control files no target takes (musubi-tuner ignores them), sorted."""
    bad_names: dict[str, list[str]] = field(default_factory=dict)
    """Target -> candidates named ``STEM_<not a number>`` (musubi-tuner stops: "Invalid digits suffix")."""
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    """Target -> controls that sort to the same place (``a.png`` and ``a.jpg``; ``a_1`` and ``a_01``): musubi-tuner
    orders them by chance (the iteration order of a set), so which one comes first differs from run to run."""

    def missing(self, targets: Iterable[str]) -> list[str]:
        """Targets without any usable control (musubi-tuner stops: "Could not find matching control images")."""
        return sorted(t for t in targets if not self.controls.get(t) and t not in self.bad_names)


def _control_position(target_stem: str, name: str) -> int | None:
    """musubi-tuner's sort key of a candidate control: 0 for the exact stem, N+1 for ``STEM_N``, None if invalid."""
    control_stem = stem(name)
    if control_stem == target_stem:
        return 0
    suffix = control_stem.rsplit("_", 1)[-1]
    if not suffix.isdigit():
        return None
    try:
        return int(suffix) + 1
    except ValueError:  # a Unicode digit such as '²': isdigit() says yes, int() says no (musubi-tuner fails too)
        return None


def pair_by_stem(targets: Iterable[str], controls: Iterable[str]) -> Pairing:
    """Pair target file names with control file names as musubi-tuner does (see the module docstring).

    Both are plain names in one folder each; pass only names musubi-tuner reads (``musubi_reads``) and, for the
    targets, only images it trains on (with ``caption_extension`` set: those that have a caption file).
    """
    result = Pairing()
    pool = set(controls)
    # musubi-tuner: glob (sorted paths), then a stable sort by name length, longest first.
    for target in sorted(sorted(set(targets)), key=len, reverse=True):
        target_stem = stem(target)
        found = [c for c in pool if c.startswith(target_stem + ".") or c.startswith(target_stem + "_")]
        pool.difference_update(found)
        if not found:
            continue
        keyed, bad = [], []
        for name in found:
            position = _control_position(target_stem, name)
            (bad.append(name) if position is None else keyed.append((position, name)))
        if bad:
            result.bad_names[target] = sorted(bad)
        keyed.sort()
        positions = [p for p, _ in keyed]
        tied = [name for p, name in keyed if positions.count(p) > 1]
        if tied:
            result.ambiguous[target] = tied
        if keyed:
            result.controls[target] = [name for _, name in keyed]
    result.extra = sorted(pool)
    return result


# -- what a pair's sizes mean -----------------------------------------------------------------------------------


def aspect_difference(target: tuple[int, int], control: tuple[int, int]) -> float:
    """How much the aspect ratios differ: 0.0 for the same shape, 0.25 when a quarter of a side must be cropped."""
    tw, th = target
    cw, ch = control
    if min(tw, th, cw, ch) <= 0:
        return 0.0
    ratio = (cw * th) / (tw * ch)
    return 1.0 - min(ratio, 1.0 / ratio)


def size_note(target: tuple[int, int], control: tuple[int, int], options: ControlOptions) -> tuple[bool, str | None]:
    """(mismatched, words) for a control of raw size `control` paired with a target of raw size `target`.

    Mismatched only when the control is cropped to the target's bucket (the default resize) and its aspect ratio
    differs by more than ``ASPECT_TOLERANCE``; a note (not a problem) when the sizes merely differ.
    """
    if target == control:
        return False, None
    shown = f"control {control[0]}x{control[1]}, target {target[0]}x{target[1]}"
    difference = aspect_difference(target, control)
    if difference <= ASPECT_TOLERANCE:
        return False, f"{shown}: same shape, scaled"
    if options.keeps_aspect:
        return False, f"{shown}: other shape, kept ({options.describe()})"
    side = "width" if control[0] * target[1] > target[0] * control[1] else "height"
    return True, (f"{shown}: other aspect ratio; resized to the target's bucket, {difference:.0%} of the control's "
                  f"{side} is cropped (set control_resolution or no_resize_control to keep its shape)")


def target_status(statuses: Iterable[str]) -> str:
    """The worst of several statuses (``PAIR_STATUSES``)."""
    worst = "ok"
    for status in statuses:
        if _SEVERITY[status] > _SEVERITY[worst]:
            worst = status
    return worst
