"""`dataset export`: a kohya folder layout, a Hugging Face ``imagefolder`` layout, or a zip of either.

kohya: every image goes to an ``N_concept`` folder (its own subset folder when it already is one, otherwise
``1_<dataset name>``) with its caption sidecar. hf: images keep their relative paths and ``metadata.jsonl``
holds one ``{"file_name": ..., "text": caption}`` line per image, which ``datasets.load_dataset("imagefolder")``
reads. ``max_side`` downscales larger images (EXIF orientation applied, aspect kept, same format).
Only readable images are exported; existing files are never overwritten.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

from loratui.datasets import image_repo
from loratui.datasets.captions import caption_path_for
from loratui.datasets.dataset_repo import Dataset
from loratui.errors import InputError
from loratui.store import Store

FORMATS = ("kohya", "hf", "zip")
_KOHYA_FOLDER = re.compile(r"^\d+_.+")


@dataclass
class ExportReport:
    """What an export wrote."""

    images: int = 0
    captions: int = 0
    resized: int = 0
    bytes: int = 0
    out: str = ""


def kohya_path(dataset_name: str, rel_path: str) -> str:
    """Where an image goes in the kohya layout."""
    parts = PurePosixPath(rel_path).parts
    if len(parts) > 1 and _KOHYA_FOLDER.match(parts[0]):
        return rel_path
    concept = re.sub(r"[^\w.-]+", "_", dataset_name).strip("_") or "images"
    return f"1_{concept}/{rel_path}"


def _image_bytes(path: Path, max_side: int | None) -> tuple[bytes | None, bool]:
    """(new bytes, resized) when the image must shrink; (None, False) to copy the file as is."""
    if not max_side:
        return None, False
    from PIL import Image, ImageOps

    with Image.open(path) as image:
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


def _items(dataset: Dataset, rows, layout: str) -> Iterator[tuple[str, Path, str | None, Path | None]]:
    """(image name in the export, image file, caption name, caption file or None) per image."""
    for row in rows:
        rel = row["rel_path"]
        name = kohya_path(dataset.name, rel) if layout == "kohya" else rel
        source = dataset.path / rel
        caption = caption_path_for(source, dataset.caption_ext)
        caption_name = caption_path_for(PurePosixPath(name), dataset.caption_ext).as_posix()
        # A linked caption is treated as absent (see ``captions``): its target is never copied.
        yield name, source, caption_name, caption if caption.is_file() and not caption.is_symlink() else None


class _FolderSink:
    def __init__(self, out: Path) -> None:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise InputError(f"{out} exists and is not an empty folder", hint="export into a new folder")
        out.mkdir(parents=True, exist_ok=True)
        self.out = out

    def _target(self, name: str) -> Path:
        target = self.out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def add_file(self, name: str, source: Path) -> int:
        target = self._target(name)
        shutil.copyfile(source, target)
        return target.stat().st_size

    def add_bytes(self, name: str, data: bytes) -> int:
        with open(self._target(name), "xb") as handle:
            handle.write(data)
        return len(data)

    def close(self) -> None:
        pass


class _ZipSink:
    def __init__(self, out: Path) -> None:
        if out.exists():
            raise InputError(f"{out} already exists", hint="export to a new .zip path")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.part = out.with_name(out.name + ".part")
        self.zip = zipfile.ZipFile(self.part, "w", compression=zipfile.ZIP_STORED)

    def add_file(self, name: str, source: Path) -> int:
        self.zip.write(source, name, compress_type=_compression(name))
        return source.stat().st_size

    def add_bytes(self, name: str, data: bytes) -> int:
        self.zip.writestr(name, data, compress_type=_compression(name))
        return len(data)

    def close(self) -> None:
        self.zip.close()
        os.replace(self.part, self.out)


def _compression(name: str) -> int:
    # Images are already compressed; deflating them costs time for nothing.
    return zipfile.ZIP_DEFLATED if name.endswith((".txt", ".jsonl", ".caption")) else zipfile.ZIP_STORED


def _export_sync(dataset: Dataset, rows, out: Path, fmt: str, layout: str, max_side: int | None) -> ExportReport:
    sink = _ZipSink(out) if fmt == "zip" else _FolderSink(out)
    report = ExportReport(out=str(out))
    metadata: list[str] = []
    try:
        for (name, source, caption_name, caption), row in zip(_items(dataset, rows, layout), rows):
            data, resized = _image_bytes(source, max_side)
            report.bytes += sink.add_bytes(name, data) if data is not None else sink.add_file(name, source)
            report.images += 1
            report.resized += int(resized)
            if layout == "hf":
                metadata.append(json.dumps({"file_name": name, "text": row["caption"] or ""}, ensure_ascii=False))
            elif caption is not None:
                report.bytes += sink.add_file(caption_name, caption)
                report.captions += 1
        if layout == "hf":
            report.bytes += sink.add_bytes("metadata.jsonl", ("\n".join(metadata) + "\n").encode("utf-8"))
            report.captions = sum(1 for r in rows if r["caption"])
        sink.close()
    except BaseException:
        if isinstance(sink, _ZipSink):
            sink.zip.close()
            sink.part.unlink(missing_ok=True)
        raise
    return report


async def export_dataset(store: Store, dataset: Dataset, out: Path, *, fmt: str = "kohya", layout: str = "kohya",
                         max_side: int | None = None, where: str | None = None) -> ExportReport:
    """Export a dataset's readable images and captions (see the module docstring)."""
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}")
    layout = fmt if fmt != "zip" else layout
    if layout not in ("kohya", "hf"):
        raise InputError("the zip layout must be kohya or hf")
    if max_side is not None and max_side < 8:
        raise InputError("--max-side must be at least 8 pixels")
    rows = await store.run(image_repo.readable_rows, dataset.id, "id, rel_path, caption")
    if where:
        keep = set(await store.run(image_repo.select_ids, dataset.id, where))
        rows = [r for r in rows if r["id"] in keep]
    if not rows:
        raise InputError(f"dataset {dataset.name!r} has no readable images to export")
    return await asyncio.to_thread(_export_sync, dataset, rows, Path(out), fmt, layout, max_side)
