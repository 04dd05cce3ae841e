"""Walk a dataset folder without ever leaving it.

Hidden files and folders, ``__MACOSX`` and loratui's own ``_duplicates`` folder are skipped. Symlinks are
never followed out of the dataset: a linked file that resolves inside the dataset is indexed, one that points
outside is reported (and its target is never opened); linked folders are not descended into. A symlinked caption
counts as absent. The walk only lists and ``lstat``s: it opens no file, so a FIFO or a device cannot block it;
whatever is named like an image or a caption but is not a regular file is left to the scan's reads, which turn it
into a reason on that image.

Control folders (edit-model image pairs, ``datasets.pairs``) are not walked as training images: a folder set as a
subset's control folder, or by convention a ``control`` folder inside a subset folder or a ``<subset>_control``
sibling, is listed on its own (its files only, not its subfolders, as musubi-tuner reads it) in
``WalkResult.control_folders``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from loratui.datasets.filekinds import is_image_name, is_video_name
from loratui.datasets.pairs import conventional_owner

SKIPPED_DIRS = frozenset({"__MACOSX", "_duplicates", "__pycache__"})

SUBSET_NAME = re.compile(r"^(\d+)_(.+)$")
REG_ROOTS = frozenset({"reg", "regularization", "regularisation"})


@dataclass
class FileEntry:
    """An image or video found on disk, with its caption sidecar if there is one."""

    rel_path: str
    size: int
    mtime_ns: int
    caption_size: int | None = None
    caption_mtime_ns: int | None = None
    outside_link: str | None = None
    """Set (to the link target) when the file is a symlink leaving the dataset."""
    extra_captions: dict[str, tuple[int, int]] | None = None
    """Sidecars of the extra caption sets found beside it: extension -> (size, mtime_ns); None when none."""


@dataclass
class ControlFolder:
    """A subset's control folder and the image files directly in it."""

    subset_rel: str
    rel_path: str
    source: str
    """'found' (by convention) or 'set' (by the user)."""
    files: list[FileEntry] = field(default_factory=list)
    missing: bool = False
    """True when a folder set by the user is not a folder inside the dataset (any more)."""


@dataclass
class WalkResult:
    """Everything a scan needs from the folder walk."""

    images: list[FileEntry] = field(default_factory=list)
    """Images and videos (``filekinds.is_video_name``): both are dataset items with a caption sidecar."""
    warnings: list[str] = field(default_factory=list)
    skipped_hidden: int = 0
    orphan_captions: list[tuple[str, int, int]] = field(default_factory=list)
    """(rel_path, size, mtime_ns) of files named like captions with no image of that name beside them."""
    control_folders: list[ControlFolder] = field(default_factory=list)
    extra_orphans: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)
    """Per extra caption extension looked for: its files with no image beside them (the scan keeps those of the
    extensions that are caption sets)."""


@dataclass(frozen=True)
class SubsetInfo:
    """What a folder name says about a kohya subset."""

    rel_path: str
    repeats: int
    class_tokens: str | None
    is_reg: bool


def subset_info(rel_dir: str) -> SubsetInfo:
    """Parse a subset folder (relative to the dataset): ``10_mychar`` -> repeats 10, class tokens 'mychar'."""
    name = rel_dir.rsplit("/", 1)[-1] if rel_dir else ""
    match = SUBSET_NAME.match(name)
    first = rel_dir.split("/", 1)[0].lower() if rel_dir else ""
    is_reg = first in REG_ROOTS or first.startswith("reg_")
    if match:
        return SubsetInfo(rel_dir, max(int(match.group(1)), 1), match.group(2).replace("_", " ").strip() or None, is_reg)
    return SubsetInfo(rel_dir, 1, None, is_reg)


def walk_dataset(root: Path, caption_ext: str, controls: dict[str, str | None] | None = None,
                 extra_exts: tuple[str, ...] = ()) -> WalkResult:
    """List the images and videos under `root` with their caption sidecars' size and mtime, and the control folders.

    `extra_exts`: other caption extensions to look for beside each image (caption sets, ``caption_sets``).

    `controls` holds the subsets whose control folder the user chose: subset folder -> control folder (relative to
    the dataset), or None for "no control folder" (the conventional ``control`` folder is then walked as images).
    """
    result = WalkResult()
    extra_set = frozenset(extra_exts)
    real_root = os.path.realpath(root)
    controls = controls or {}
    chosen = {folder: subset for subset, folder in controls.items() if folder is not None}
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        abs_dir = os.path.join(real_root, rel_dir) if rel_dir else real_root
        try:
            entries = list(os.scandir(abs_dir))
        except OSError as exc:
            result.warnings.append(f"{rel_dir or '.'}: cannot list folder: {exc.strerror or exc}")
            continue
        named: dict[str, os.DirEntry] = {}
        images: list[os.DirEntry] = []
        folders = {e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)}
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                result.skipped_hidden += 1
                continue
            named[name] = entry
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if entry.is_dir(follow_symlinks=False):
                owner = _control_owner(rel_dir, name, rel, folders, controls, chosen)
                if owner is not None:
                    result.control_folders.append(_control_folder(owner, rel, entry.path, real_root,
                                                                  "set" if rel in chosen else "found", result))
                elif name not in SKIPPED_DIRS:
                    stack.append(rel)
            elif entry.is_symlink() and os.path.isdir(entry.path):
                result.warnings.append(f"{rel}: symlinked folder not followed")
            elif is_image_name(name) or is_video_name(name):
                images.append(entry)
        sidecars = _extra_sidecars(named, extra_set) if extra_set else None
        for entry in images:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            file_entry = _file_entry(entry, rel, real_root, result)
            if file_entry is None:
                continue
            caption_name = os.path.splitext(entry.name)[0] + caption_ext
            _add_caption(file_entry, named.get(caption_name), f"{rel_dir}/{caption_name}" if rel_dir else caption_name,
                         result)
            if sidecars:
                mine = sidecars.get(os.path.splitext(entry.name)[0])
                if mine:
                    _add_extra_captions(file_entry, mine, rel_dir, result)
            result.images.append(file_entry)
        _find_orphans(rel_dir, named, images, caption_ext, result.orphan_captions)
        if sidecars:
            _extra_orphans(rel_dir, sidecars, {os.path.splitext(e.name)[0] for e in images}, result)
    result.images.sort(key=lambda e: e.rel_path)
    result.orphan_captions.sort()
    for found in result.extra_orphans.values():
        found.sort()
    listed = {folder.rel_path for folder in result.control_folders}
    for folder, subset in sorted(chosen.items()):
        if folder not in listed:
            result.warnings.append(f"{folder}: the control folder of {subset or '.'} is not a folder in the dataset")
            result.control_folders.append(ControlFolder(subset, folder, "set", missing=True))
    result.control_folders.sort(key=lambda f: f.subset_rel)
    return result


def _find_orphans(rel_dir: str, named: dict[str, os.DirEntry], images: list[os.DirEntry], caption_ext: str,
                  found: list[tuple[str, int, int]]) -> None:
    """Caption files in one folder whose image is not there (sd-scripts pairs them by name: `a.png` - `a.txt`)."""
    stems = {os.path.splitext(entry.name)[0] for entry in images}
    for name, entry in named.items():
        if len(name) <= len(caption_ext) or not name.endswith(caption_ext) or is_image_name(name):
            continue
        if name[:-len(caption_ext)] in stems:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        found.append((f"{rel_dir}/{name}" if rel_dir else name, st.st_size, st.st_mtime_ns))


def _control_owner(rel_dir: str, name: str, rel: str, folders: set[str], controls: dict[str, str | None],
                   chosen: dict[str, str]) -> str | None:
    """The subset whose control folder `rel` is (chosen by the user, else by convention), or None."""
    if rel in chosen:
        return chosen[rel]
    owner = conventional_owner(rel_dir, name, folders - {name})
    if owner is None or owner in controls:  # the user chose that subset's control folder (or none)
        return None
    return owner


def _control_folder(subset_rel: str, rel: str, path: str, real_root: str, source: str,
                    result: WalkResult) -> ControlFolder:
    """List a control folder's image files (not its subfolders: musubi-tuner does not read them)."""
    folder = ControlFolder(subset_rel, rel, source)
    try:
        entries = list(os.scandir(path))
    except OSError as exc:
        result.warnings.append(f"{rel}: cannot list control folder: {exc.strerror or exc}")
        return folder
    subfolders = 0
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            subfolders += 1
        elif is_image_name(entry.name):
            file_entry = _file_entry(entry, f"{rel}/{entry.name}", real_root, result)
            if file_entry is not None:
                folder.files.append(file_entry)
    if subfolders:
        result.warnings.append(f"{rel}: {subfolders} folder(s) inside a control folder are not read")
    folder.files.sort(key=lambda e: e.rel_path)
    return folder


def _add_caption(file_entry: FileEntry, caption: os.DirEntry | None, rel: str, result: WalkResult) -> None:
    """Record the caption's size and mtime as ``lstat`` sees them, whatever kind of file it is.

    A symlinked caption is absent (never read). A folder, FIFO or unreadable file named like the caption is
    present: the scan's read of it (``captions.read_caption``) becomes a warning on the image.
    """
    if caption is None or is_image_name(caption.name):
        return
    if caption.is_symlink():
        result.warnings.append(f"{rel}: symlinked caption ignored")
        return
    try:
        st = caption.stat(follow_symlinks=False)
    except OSError:
        return
    file_entry.caption_size, file_entry.caption_mtime_ns = st.st_size, st.st_mtime_ns


def _extra_sidecars(named: dict[str, os.DirEntry], extra_exts: frozenset[str]) -> dict[str, dict[str, os.DirEntry]]:
    """Files of one folder named like a sidecar of an extra caption set: stem -> {extension: entry}. One pass over
    the folder's names (rather than one lookup per image and extension): most folders hold none."""
    found: dict[str, dict[str, os.DirEntry]] = {}
    two_part = any(ext.count(".") > 1 for ext in extra_exts)
    for name, entry in named.items():
        dot = name.rfind(".")
        if dot <= 0:
            continue
        if name[dot:] in extra_exts:
            found.setdefault(name[:dot], {})[name[dot:]] = entry
        if two_part:
            inner = name.rfind(".", 0, dot)
            if inner > 0 and name[inner:] in extra_exts:
                found.setdefault(name[:inner], {})[name[inner:]] = entry
    return found


def _add_extra_captions(file_entry: FileEntry, sidecars: dict[str, os.DirEntry], rel_dir: str,
                        result: WalkResult) -> None:
    """Record the size and mtime of an image's sidecars in the extra caption sets (as ``_add_caption``)."""
    for ext, caption in sidecars.items():
        probe = FileEntry("", 0, 0)
        _add_caption(probe, caption, f"{rel_dir}/{caption.name}" if rel_dir else caption.name, result)
        if probe.caption_size is not None:
            if file_entry.extra_captions is None:
                file_entry.extra_captions = {}
            file_entry.extra_captions[ext] = (probe.caption_size, probe.caption_mtime_ns)


def _extra_orphans(rel_dir: str, sidecars: dict[str, dict[str, os.DirEntry]], stems: set[str],
                   result: WalkResult) -> None:
    """Sidecars of the extra sets whose image is not in the folder (as ``_find_orphans``)."""
    for stem, by_ext in sidecars.items():
        if stem in stems:
            continue
        for ext, entry in by_ext.items():
            if is_image_name(entry.name):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            result.extra_orphans.setdefault(ext, []).append((rel, st.st_size, st.st_mtime_ns))


def _file_entry(entry: os.DirEntry, rel: str, real_root: str, result: WalkResult) -> FileEntry | None:
    try:
        if entry.is_symlink():
            target = os.path.realpath(entry.path)
            if os.path.commonpath([target, real_root]) != real_root:
                link = os.readlink(entry.path)
                lst = entry.stat(follow_symlinks=False)
                return FileEntry(rel, lst.st_size, lst.st_mtime_ns, outside_link=link)
            if not os.path.exists(target):
                result.warnings.append(f"{rel}: broken symlink")
                return None
        st = entry.stat(follow_symlinks=True)
    except OSError as exc:
        result.warnings.append(f"{rel}: cannot stat: {exc.strerror or exc}")
        return None
    return FileEntry(rel, st.st_size, st.st_mtime_ns)
