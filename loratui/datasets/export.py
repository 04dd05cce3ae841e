"""`dataset export`: a kohya folder layout, a Hugging Face ``imagefolder`` layout, or a zip of either.

kohya: every image goes to an ``N_concept`` folder (its own subset folder when it already is one, otherwise
``1_<dataset name>``) with its caption sidecar. hf: images keep their relative paths and ``metadata.jsonl``
holds one ``{"file_name": ..., "text": caption}`` line per image, which ``datasets.load_dataset("imagefolder")``
reads. With several caption sets chosen (``caption_sets``: `.txt`, `.caption`, ...), kohya gets every chosen set's
sidecar beside each image and hf takes "text" from the first set and one more column per other set, named by its
extension ("caption" for `.caption`). ``max_side`` downscales larger images (EXIF orientation applied, aspect kept, same format).
Only readable images are exported; existing files are never overwritten.

An export is atomic: it is built in a hidden temporary sibling of the target (``.NAME.export-PID-XXXX.part``, a
folder or a zip file) and renamed to the target only when complete and flushed to disk. Any failure (a full disk,
say) removes the temporary export and leaves the target as it was, so the same command can simply run again;
temporary exports left by a killed export are removed by the next export to the same target. Files are read
through ``fsutil.open_regular``: nothing outside the dataset is read, a symlinked caption counts as absent, and
an image or caption that cannot be read is listed in ``ExportReport.skipped`` with the reason.
"""

from __future__ import annotations

import asyncio
import errno
import io
import json
import os
import re
import secrets
import shutil
import stat
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator

from loratui.datasets import caption_set_repo, caption_sets, image_repo
from loratui.datasets.captions import caption_path_for
from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.filekinds import is_video_name
from loratui.errors import DatasetError, InputError
from loratui.fsutil import FileRefused, fsync_dir, open_regular
from loratui.store import Store

FORMATS = ("kohya", "hf", "zip")
_KOHYA_FOLDER = re.compile(r"^\d+_.+")
PART_SUFFIX = ".part"
COPY_CHUNK = 1 << 20
ZIP_FIRST, ZIP_LAST = 315619200, 4354646400
"""1980-01-02 and 2107-12-30 UTC: a zip timestamp holds the years 1980 to 2107 (a day inside, whatever the zone)."""


@dataclass
class ExportReport:
    """What an export wrote."""

    images: int = 0
    captions: int = 0
    resized: int = 0
    bytes: int = 0
    out: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path in the dataset, reason) for each image or caption that could not be read."""


def kohya_path(dataset_name: str, rel_path: str) -> str:
    """Where an image goes in the kohya layout."""
    parts = PurePosixPath(rel_path).parts
    if len(parts) > 1 and _KOHYA_FOLDER.match(parts[0]):
        return rel_path
    concept = re.sub(r"[^\w.-]+", "_", dataset_name).strip("_") or "images"
    return f"1_{concept}/{rel_path}"


def _image_bytes(handle: BinaryIO, max_side: int | None) -> tuple[bytes | None, bool]:
    """(new bytes, resized) when the image must shrink; (None, False) to copy the file as is."""
    if not max_side:
        return None, False
    from PIL import Image, ImageOps

    with Image.open(handle) as image:
        if max(image.size) <= max_side and (image.getexif().get(0x0112, 1) in (1, None)):
            return None, False
        fmt = image.format or "PNG"
        image = ImageOps.exif_transpose(image)
        width, height = image.size
        if max(width, height) > max_side:
            scale = max_side / max(width, height)
            image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                                 Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        if fmt == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buffer, format=fmt, **options)
        return buffer.getvalue(), True


def _items(dataset: Dataset, rows, layout: str, exts: list[str]
           ) -> Iterator[tuple[str, str, list[tuple[str, str]]]]:
    """(image name in the export, image path in the dataset, [(caption name in the export, caption path)] for each
    caption set in `exts`) per image."""
    for row in rows:
        rel = row["rel_path"]
        name = kohya_path(dataset.name, rel) if layout == "kohya" else rel
        yield name, rel, [(caption_path_for(PurePosixPath(name), ext).as_posix(),
                           caption_path_for(PurePosixPath(rel), ext).as_posix()) for ext in exts]


def _column(ext: str) -> str:
    """The metadata.jsonl column of a caption set after the first: its extension without the dot (`.text` becomes
    `text_set`: "text" and "file_name" are the first set's and the image's)."""
    name = ext.lstrip(".").replace(".", "_")
    return f"{name}_set" if name in ("text", "file_name") else name


def _new_part(out: Path, make: Callable[[Path], None]) -> Path:
    """Create (with `make`) this run's temporary export beside `out`, after removing those of killed runs.

    Made with the ordinary permissions (umask applied), so the renamed export looks like any new folder or file.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(out)
    while True:
        part = out.with_name(f".{out.name}.export-{os.getpid()}-{secrets.token_hex(4)}{PART_SUFFIX}")
        try:
            make(part)
        except FileExistsError:
            continue
        return part


class _FolderSink:
    """A folder export, built in a hidden temporary folder beside `out` and renamed to `out` by ``finish``."""

    def __init__(self, out: Path) -> None:
        if out.is_symlink() or (out.exists() and (not out.is_dir() or any(out.iterdir()))):
            raise InputError(f"{out} exists and is not an empty folder", hint="export into a new folder")
        self.out = out
        self.part = _new_part(out, os.mkdir)

    def _target(self, name: str) -> Path:
        target = self.part / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def add_file(self, name: str, source: BinaryIO, st: os.stat_result) -> int:
        with open(self._target(name), "xb") as handle:
            shutil.copyfileobj(source, handle, COPY_CHUNK)
            return handle.tell()

    def add_bytes(self, name: str, data: bytes) -> int:
        with open(self._target(name), "xb") as handle:
            handle.write(data)
        return len(data)

    def finish(self) -> None:
        os.sync()  # one flush for every file, instead of an fsync each (as datasets.bulkwrite does)
        try:
            # rename(2) replaces an empty folder and refuses a non-empty one: nothing in `out` is ever overwritten.
            os.rename(self.part, self.out)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise
            raise InputError(f"{self.out} was created by someone else while exporting; nothing was exported",
                             hint="export into a new folder") from None
        fsync_dir(self.out.parent)

    def abort(self) -> None:
        shutil.rmtree(self.part, ignore_errors=True)


class _ZipSink:
    """A zip export, written to a hidden temporary file beside `out` and linked to `out` by ``finish``."""

    def __init__(self, out: Path) -> None:
        if out.exists() or out.is_symlink():
            raise InputError(f"{out} already exists", hint="export to a new .zip path")
        self.out = out
        self.part = _new_part(out, lambda path: os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)))
        self.file = open(self.part, "r+b")
        self.zip = zipfile.ZipFile(self.file, "w", compression=zipfile.ZIP_STORED)

    def add_file(self, name: str, source: BinaryIO, st: os.stat_result) -> int:
        info = zipfile.ZipInfo(name, date_time=time.localtime(min(max(st.st_mtime, ZIP_FIRST), ZIP_LAST))[:6])
        info.compress_type = _compression(name)
        info.external_attr = (stat.S_IMODE(st.st_mode) | stat.S_IFREG) << 16
        info.file_size = st.st_size
        with self.zip.open(info, "w") as handle:
            shutil.copyfileobj(source, handle, COPY_CHUNK)
        return st.st_size

    def add_bytes(self, name: str, data: bytes) -> int:
        self.zip.writestr(name, data, compress_type=_compression(name))
        return len(data)

    def finish(self) -> None:
        self.zip.close()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        try:
            os.link(self.part, self.out)  # fails if `out` appeared meanwhile: never overwritten
        except FileExistsError:
            raise InputError(f"{self.out} was created by someone else while exporting; nothing was exported",
                             hint="export to a new .zip path") from None
        except OSError:  # no hard links on this filesystem
            if self.out.exists():
                raise
            os.rename(self.part, self.out)
        else:
            os.unlink(self.part)
        fsync_dir(self.out.parent)

    def abort(self) -> None:
        for close in (self.zip.close, self.file.close):
            try:
                close()
            except (OSError, ValueError):
                pass  # the disk may still be full: the file goes anyway
        self.part.unlink(missing_ok=True)


def _remove_stale_parts(out: Path) -> None:
    """Remove temporary exports to `out` left by exports that were killed (their process is gone)."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.export-(\d+)-.+{re.escape(PART_SUFFIX)}$")
    try:
        names = os.listdir(out.parent)
    except OSError:
        return
    for name in names:
        match = pattern.match(name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        path = out.parent / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or no way to tell: leave its files alone
        return True
    return True


def _compression(name: str) -> int:
    # Images are already compressed; deflating them costs time for nothing.
    return zipfile.ZIP_DEFLATED if name.endswith((".txt", ".jsonl", ".caption")) else zipfile.ZIP_STORED


def _write_error(exc: OSError, out: Path, name: str) -> DatasetError:
    """The one-line error for a failed write into the export (the export has been removed)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        what = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exhausted",
                errno.EFBIG: "a file grew over the size limit"}[exc.errno]
        return DatasetError(f"export to {out} failed: {what} (writing {name}); nothing was exported",
                            hint=f"free some space where {out.parent} is, then run the export again")
    return DatasetError(f"export to {out} failed writing {name}: {exc.strerror or exc}; nothing was exported",
                        hint="fix the cause, then run the export again")


def _export_sync(dataset: Dataset, rows: list[dict], out: Path, fmt: str, layout: str, max_side: int | None,
                 exts: list[str]) -> ExportReport:
    sink = _ZipSink(out) if fmt == "zip" else _FolderSink(out)
    report = ExportReport(out=str(out))
    metadata: list[str] = []
    name = ""
    try:
        for (name, rel, sidecars), row in zip(_items(dataset, rows, layout, exts), rows):
            try:
                handle, st = open_regular(rel, root=dataset.path, follow_links_inside=True)
            except FileRefused as exc:
                report.skipped.append((rel, f"not exported: the file {exc.reason}"))
                continue
            with handle:
                try:
                    # videos are copied as they are (--max-side shrinks images only)
                    data, resized = (None, False) if is_video_name(rel) else _image_bytes(handle, max_side)
                except (OSError, SyntaxError, ValueError, EOFError) as exc:  # changed since the scan
                    report.skipped.append((rel, f"not exported: cannot be decoded any more ({exc})"))
                    continue
                handle.seek(0)
                report.bytes += sink.add_bytes(name, data) if data is not None else sink.add_file(name, handle, st)
            report.images += 1
            report.resized += int(resized)
            if layout == "hf":
                line = {"file_name": name, "text": row["texts"][0] or ""}
                line.update({_column(ext): text or "" for ext, text in zip(exts[1:], row["texts"][1:])})
                metadata.append(json.dumps(line, ensure_ascii=False))
            else:
                for caption_name, caption_rel in sidecars:
                    report.bytes += _add_caption(sink, report, dataset, caption_name, caption_rel)
        if layout == "hf":
            name = "metadata.jsonl"
            report.bytes += sink.add_bytes(name, ("\n".join(metadata) + "\n").encode("utf-8"))
            report.captions = sum(1 for r in rows for text in r["texts"] if text)
        name = "the finished export"
        sink.finish()
    except OSError as exc:
        sink.abort()
        raise _write_error(exc, out, name) from exc
    except BaseException:
        sink.abort()
        raise
    return report


def _add_caption(sink: _FolderSink | _ZipSink, report: ExportReport, dataset: Dataset, name: str, rel: str) -> int:
    """Copy an image's caption sidecar if it is a regular file in the dataset (a symlinked one is absent)."""
    try:
        handle, st = open_regular(rel, root=dataset.path)
    except FileRefused as exc:
        if exc.kind != "missing":
            report.skipped.append((rel, f"caption not exported: it {exc.reason}"))
        return 0
    with handle:
        written = sink.add_file(name, handle, st)
    report.captions += 1
    return written


def choose_format(out: Path, fmt: str | None = None, layout: str | None = None) -> tuple[str, str]:
    """(format, layout) for an export to `out`: a name ending in ``.zip`` is a zip, anything else a folder.

    `fmt` None takes the format from the name (a folder is ``kohya`` unless `layout` says ``hf``). A format that
    contradicts the name (``--format zip`` for ``out``, ``--format kohya`` for ``out.zip``) is refused rather than
    writing a folder named like a zip, or a zip named like a folder. `layout` (kohya or hf) is the layout inside
    a zip; for a folder it may only repeat the folder's format.
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}")
    if layout is not None and layout not in ("kohya", "hf"):
        raise InputError("the layout must be kohya or hf")
    is_zip = Path(out).suffix.lower() == ".zip"
    if fmt is None:
        fmt = "zip" if is_zip else (layout or "kohya")
    if fmt == "zip" and not is_zip:
        raise InputError(f"--format zip writes a zip file, but {Path(out).name!r} does not end in .zip",
                         hint="name the output NAME.zip, or leave --format out to export a folder")
    if fmt != "zip" and is_zip:
        raise InputError(f"{Path(out).name!r} ends in .zip, but --format {fmt} writes a folder",
                         hint=f"for a zip in the {fmt} layout: --layout {fmt}; for a folder: drop .zip from the name")
    if fmt != "zip" and layout is not None and layout != fmt:
        raise InputError(f"--layout {layout} contradicts --format {fmt}: a folder's layout is its format",
                         hint="--layout applies to zips; use --format kohya or --format hf for a folder")
    return fmt, (layout or "kohya") if fmt == "zip" else fmt


async def export_dataset(store: Store, dataset: Dataset, out: Path, *, fmt: str | None = None,
                         layout: str | None = None, max_side: int | None = None,
                         where: str | None = None, sets: list[str] | None = None) -> ExportReport:
    """Export a dataset's readable images and captions (see the module docstring); the format follows the
    output's name unless given (``choose_format``). `sets`: the caption sets to export, by extension (default:
    the dataset's own, `.txt`); the first one is "text" in the hf layout and `where` is matched against it."""
    fmt, layout = choose_format(Path(out), fmt, layout)
    if max_side is not None and max_side < 8:
        raise InputError("--max-side must be at least 8 pixels")
    keys = list(dict.fromkeys([await caption_sets.known_key(store, dataset, ext) for ext in sets or [None]]))
    exts = [caption_sets.set_ext(dataset, key) for key in keys]
    rows = [dict(r) for r in await store.run(image_repo.readable_rows, dataset.id, "id, rel_path, caption")]
    if where:
        keep = set(await store.run(caption_set_repo.select_ids, dataset.id, where, None, keys[0]))
        rows = [r for r in rows if r["id"] in keep]
    if not rows:
        raise InputError(f"dataset {dataset.name!r} has no readable images to export")
    texts: list[dict[int, str | None]] = []
    for key in keys:
        if key is None:
            texts.append({r["id"]: r["caption"] for r in rows})
        else:
            found = await store.run(caption_set_repo.caption_rows, dataset.id, [r["id"] for r in rows], key)
            texts.append({image_id: row.caption for image_id, row in found.items()})
    for row in rows:
        row["texts"] = [by_id.get(row["id"]) for by_id in texts]
    return await asyncio.to_thread(_export_sync, dataset, rows, Path(out), fmt, layout, max_side, exts)
