"""`dataset import`: a .zip file or an http(s) URL to one becomes a new, scanned dataset.

Extraction is checked before a single byte is written: entries that would land outside the new folder
(``../``, absolute or drive paths), symlink entries, encrypted entries, absurd compression ratios and archives
over the size or file-count limits are refused with an ArchiveError naming the entry. While extracting, an
entry that inflates past its declared size is refused too (headers can lie). Everything goes into a brand-new
folder that is removed again on any error, so nothing is ever written outside it.

Downloads go to ``<cache>/imports/<hash>.zip.part`` and resume with an HTTP Range request when run again;
a server that ignores Range restarts the download from zero. A failed download raises RemoteError and keeps
the partial file for the next attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import os
import re
import shutil
import stat
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from loratui.datasets import dataset_repo
from loratui.datasets.service import add_dataset
from loratui.errors import ArchiveError, InputError, RemoteError

CHUNK = 1024 * 1024
SKIPPED_PREFIXES = ("__MACOSX/",)
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ImportLimits:
    """What an archive may contain."""

    max_total_bytes: int = 50 * 1024**3
    max_files: int = 500_000
    max_ratio: float = 200.0
    """Uncompressed/compressed size above which an entry (over `ratio_floor` bytes) is a zip bomb."""
    ratio_floor: int = 1024 * 1024


@dataclass
class ExtractReport:
    """What was extracted."""

    files: int = 0
    bytes: int = 0
    skipped: int = 0
    stripped_prefix: str = ""


def _entry_path(name: str) -> PurePosixPath:
    """The entry's relative path, or ArchiveError when it is absolute or climbs out."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or _DRIVE.match(clean):
        raise ArchiveError(f"entry {name!r} has an absolute path: refusing to extract (zip slip)")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"entry {name!r} climbs out of the folder with '..': refusing to extract (zip slip)")
    return PurePosixPath(*parts) if parts else PurePosixPath()


def check_archive(archive: zipfile.ZipFile, limits: ImportLimits) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Validate every entry against the rules above; returns (entry, relative path) for the files to write."""
    entries = []
    total = 0
    infos = archive.infolist()
    if len(infos) > limits.max_files:
        raise ArchiveError(f"the archive has {len(infos)} entries, over the limit of {limits.max_files}")
    for info in infos:
        path = _entry_path(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveError(f"entry {info.filename!r} is a symbolic link: refusing to extract")
        if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and stat.S_IFMT(mode):
            raise ArchiveError(f"entry {info.filename!r} is not a regular file: refusing to extract")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"entry {info.filename!r} is encrypted: not supported")
        if info.is_dir() or not path.parts:
            continue
        if any(info.filename.replace("\\", "/").startswith(p) for p in SKIPPED_PREFIXES):
            continue
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise ArchiveError(f"entry {info.filename!r} expands {ratio:.0f}x ({info.file_size} bytes): "
                               f"refusing a likely zip bomb (limit {limits.max_ratio:.0f}x)")
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ArchiveError(f"the archive expands to more than {limits.max_total_bytes} bytes (the limit)")
        entries.append((info, path))
    if not entries:
        raise ArchiveError("the archive contains no files")
    return entries


def _common_prefix(paths: list[PurePosixPath]) -> PurePosixPath | None:
    """The single top-level folder every file sits in (zips of a folder), or None."""
    firsts = {p.parts[0] for p in paths}
    if len(firsts) == 1 and all(len(p.parts) > 1 for p in paths):
        return PurePosixPath(firsts.pop())
    return None


def _extract_into(archive: zipfile.ZipFile, entries, dest: Path, report: ExtractReport) -> None:
    prefix = _common_prefix([p for _, p in entries])
    if prefix is not None:
        report.stripped_prefix = str(prefix)
    real_dest = os.path.realpath(dest)
    for info, path in entries:
        rel = path.relative_to(prefix) if prefix is not None else path
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.commonpath([os.path.realpath(target.parent), real_dest]) != real_dest:
            raise ArchiveError(f"entry {info.filename!r} would be written outside the dataset folder")
        written = 0
        try:
            with archive.open(info) as source, open(target, "xb") as sink:
                while True:
                    chunk = source.read(CHUNK)
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > info.file_size:
                        raise ArchiveError(f"entry {info.filename!r} inflates past its declared size")
                    sink.write(chunk)
        except FileExistsError:
            raise ArchiveError(f"entry {info.filename!r} appears twice in the archive") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise ArchiveError(f"entry {info.filename!r} is damaged: {exc}") from None
        except NotImplementedError as exc:
            raise ArchiveError(f"entry {info.filename!r} uses an unsupported compression: {exc}") from None
        report.files += 1
        report.bytes += written


def safe_extract(zip_path: Path, dest: Path, limits: ImportLimits = ImportLimits()) -> ExtractReport:
    """Extract `zip_path` into the new folder `dest` (which must not exist); on error nothing is left behind."""
    dest = Path(dest)
    if dest.exists() or dest.is_symlink():
        raise InputError(f"{dest} already exists", hint="pick another --name or remove it")
    try:
        archive = zipfile.ZipFile(zip_path)
    except FileNotFoundError:
        raise InputError(f"{zip_path} does not exist") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"{zip_path} is not a readable zip file: {exc}") from None
    report = ExtractReport()
    with archive:
        entries = check_archive(archive, limits)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.mkdir()
        try:
            _extract_into(archive, entries, dest, report)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return report


ProgressFn = Callable[[int, int], None]


def download(url: str, dest: Path, *, timeout: float = 30.0, progress: ProgressFn | None = None) -> Path:
    """Download `url` to `dest`, resuming a previous ``dest.part`` with a Range request; returns `dest`."""
    if not url.lower().startswith(("http://", "https://")):
        raise InputError(f"{url!r} is not an http(s) URL")
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "loratui", "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked above
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            part.replace(dest)  # the part was already complete
            return dest
        raise RemoteError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteError(f"cannot download {url}: {reason}") from None
    with response:
        if have and response.status == 206:
            mode, done = "ab", have
        else:
            mode, done = "wb", 0  # no resume support: start over
        length = response.headers.get("Content-Length")
        total = done + int(length) if length and length.isdigit() else 0
        try:
            with open(part, mode) as sink:
                while True:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    sink.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:
            raise RemoteError(f"download of {url} broke off after {done} bytes ({exc}); "
                              "run the same command again to resume") from None
    if total and done < total:
        raise RemoteError(f"download of {url} stopped at {done} of {total} bytes; "
                          "run the same command again to resume")
    part.replace(dest)
    return dest


def download_path(cache: Path, url: str) -> Path:
    """Where a URL's archive is kept while and after downloading (stable per URL, so resumes find it)."""
    return cache / "imports" / (hashlib.sha256(url.encode("utf-8")).hexdigest()[:24] + ".zip")


def check_name(name: str) -> str:
    """A dataset name usable as a folder name."""
    name = name.strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise InputError(f"{name!r} cannot be a dataset name (it becomes a folder name)")
    return name


async def import_dataset(store, source: str, name: str, *, root: Path, cache: Path,
                         limits: ImportLimits = ImportLimits(), workspace: str = "default",
                         caption_ext: str = ".txt", workers: int = 0, progress: ProgressFn | None = None):
    """Extract a zip (file path or http(s) URL) into ``root/name``, register it and scan it.

    Returns (Dataset, ScanReport, ExtractReport).
    """
    name = check_name(name)
    if await store.run(dataset_repo.find_dataset, name=name):
        raise InputError(f"a dataset named {name!r} already exists", hint="pick another with --name")
    dest = Path(root) / name
    downloaded = source.lower().startswith(("http://", "https://"))
    if downloaded:
        archive = download_path(cache, source)
        if not archive.exists():
            await asyncio.to_thread(download, source, archive, progress=progress)
    else:
        archive = Path(source).expanduser()
        if not archive.is_file():
            raise InputError(f"{source} is not a file or an http(s) URL")
    report = await asyncio.to_thread(safe_extract, archive, dest, limits)
    try:
        dataset, scan = await add_dataset(store, dest, name=name, workspace=workspace, caption_ext=caption_ext,
                                          workers=workers)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    if downloaded:
        archive.unlink(missing_ok=True)  # extracted and registered: the download is no longer needed
    return dataset, scan, report
