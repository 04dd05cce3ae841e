"""`dataset import`: a .zip file or an http(s) URL to one becomes a new, scanned dataset.

Extraction is `loratui.datasets.archives`': every entry is checked before a byte is written, and the dataset
folder appears complete or not at all.

Downloads go through `loratui.http_download` (http and https only at every redirect hop, a size limit checked
before and while streaming, free space checked first, a resumable ``.part`` with one writer at a time) into
``<cache>/imports/``: ``<hash>.zip.part`` while downloading, ``<hash>.zip`` once complete and checked, and
``<hash>.url`` naming the URL (without credentials or query string) for `list_downloads`. Content is checked
before anything is cached: a fresh transfer must start with a zip signature (an HTML page sent with status 200
is refused at its first bytes, its content type named) and the finished file must open as a zip; otherwise the
``.part`` is removed. A cached download is used only while it still opens as a zip, and it is removed after a
successful import and when the archive checks refuse it, so a bad download is never kept. ``refetch`` discards
what is cached for the URL first; `list_downloads` and `remove_downloads` show and clear what is left
(``loratui dataset downloads [--clear]``).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from loratui.datasets import dataset_repo
from loratui.datasets.archives import ImportLimits, open_archive, safe_extract
from loratui.datasets.filekinds import normalise_caption_ext
from loratui.datasets.service import add_dataset
from loratui.errors import ArchiveError, InputError, LoratuiError, RemoteError
from loratui.http_download import Http, fetch_to_part, redact_url

ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
"""A local file header, an empty archive's end record, a spanned archive's marker."""
DOWNLOAD_LIMIT_HINT = "raise [dataset_tools] import_max_download_gib in config.toml"
ProgressFn = Callable[[int, int], None]


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _zip_start(url: str):
    def check(head: bytes, content_type: str) -> None:
        if not head.startswith(ZIP_SIGNATURES):
            sent = content_type or "no content type"
            raise ArchiveError(f"{redact_url(url)} is not a zip file: the server answered with {sent} "
                               f"(starting {head[:8]!r}); nothing was kept",
                               hint="check the URL: login and error pages look like this")

    return check


def _opens_as_zip(path: Path) -> str | None:
    """None when `path` opens as a zip, else why not."""
    try:
        with open_archive(path):
            return None
    except LoratuiError as exc:
        return exc.message


def download(url: str, dest: Path, *, timeout: float = 30.0, progress: ProgressFn | None = None,
             max_bytes: int | None = ImportLimits().max_download_bytes, refetch: bool = False) -> Path:
    """Download the zip at `url` to `dest` through ``dest.part`` (resumed when present); returns `dest`.

    `refetch` discards `dest` and its ``.part`` first. The file reaches `dest` only once it opens as a zip.
    """
    if not _is_url(url):
        raise InputError(f"{url!r} is not an http(s) URL")
    part = dest.with_name(dest.name + ".part")
    if refetch:
        _discard(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.with_suffix(".url").write_text(redact_url(url) + "\n", encoding="utf-8")
    report = (lambda done, total: progress(done, total or 0)) if progress else None
    http = Http(timeout=timeout)
    try:
        fetched = fetch_to_part(http, url, part, max_bytes=max_bytes, what=redact_url(url),
                                limit_hint=DOWNLOAD_LIMIT_HINT, progress=report, check_start=_zip_start(url))
    except BaseException:
        if not part.exists() and not dest.exists():
            dest.with_suffix(".url").unlink(missing_ok=True)
        raise
    finally:
        http.close()
    problem = _opens_as_zip(part)
    if problem:
        part.unlink(missing_ok=True)
        sent = fetched.content_type or "no content type"
        raise ArchiveError(f"{redact_url(url)} sent {fetched.size} bytes ({sent}) that do not open as a zip "
                           f"({problem}); the download was removed", hint="check the URL, then run it again")
    try:
        os.replace(part, dest)
    except FileNotFoundError:
        raise RemoteError(f"the partial download {part} was removed while downloading",
                          hint="run the same command again") from None
    return dest


def download_path(cache: Path, url: str) -> Path:
    """Where a URL's archive is kept while and after downloading (stable per URL, so resumes find it)."""
    return cache / "imports" / (hashlib.sha256(url.encode("utf-8")).hexdigest()[:24] + ".zip")


def _in_use(part: Path) -> bool:
    """Whether another process is writing `part` (it holds the lock `http_download` takes)."""
    try:
        fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _discard(archive: Path) -> None:
    """Remove a cached download: the zip, its .part (unless being written) and its .url note."""
    part = archive.with_name(archive.name + ".part")
    if _in_use(part):
        raise RemoteError(f"{part} is being downloaded by another loratui process", hint="wait for it to finish")
    for path in (archive, part, archive.with_suffix(".url")):
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class CachedDownload:
    """A download left in the cache: interrupted (partial) or complete but not imported."""

    path: Path
    url: str
    bytes: int
    modified: float
    complete: bool
    in_use: bool


def list_downloads(cache: Path) -> list[CachedDownload]:
    """What `dataset import URL` left in ``<cache>/imports``, oldest first."""
    folder = cache / "imports"
    found = []
    for path in sorted(folder.glob("*.zip*")) if folder.is_dir() else []:
        if not path.name.endswith((".zip", ".zip.part")) or not path.is_file():
            continue
        complete = path.name.endswith(".zip")
        archive = path if complete else path.with_name(path.name[: -len(".part")])
        note = archive.with_suffix(".url")
        try:
            url = note.read_text(encoding="utf-8").strip() if note.is_file() else ""
            info = path.stat()
        except OSError:
            continue
        found.append(CachedDownload(path, url, info.st_size, info.st_mtime, complete,
                                    not complete and _in_use(path)))
    return sorted(found, key=lambda d: d.modified)


def remove_downloads(cache: Path) -> list[CachedDownload]:
    """Remove every cached download not being written right now; returns what was removed."""
    removed = []
    for item in list_downloads(cache):
        if item.in_use:
            continue
        item.path.unlink(missing_ok=True)
        removed.append(item)
    for note in (cache / "imports").glob("*.url"):  # notes whose download is gone
        if not note.with_suffix(".zip").exists() and not note.with_suffix(".zip.part").exists():
            note.unlink(missing_ok=True)
    return removed


def check_name(name: str) -> str:
    """A dataset name usable as a folder name (one component, visible, at most 255 bytes)."""
    name = name.strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise InputError(f"{name!r} cannot be a dataset name (it becomes a folder name)")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InputError(f"{name!r} cannot be a dataset name: it has control characters")
    if len(os.fsencode(name)) > 255:
        raise InputError(f"{name[:40]!r}… cannot be a dataset name: {len(os.fsencode(name))} bytes, "
                         "over the 255 a folder name may have")
    return name


def _cached_archive(cache: Path, url: str, refetch: bool) -> Path | None:
    """The cached, complete download of `url` if there is a usable one (a broken one is removed)."""
    archive = download_path(cache, url)
    if refetch:
        _discard(archive)
        return None
    if archive.is_file():
        if _opens_as_zip(archive) is None:
            return archive
        archive.unlink()  # cached before downloads were checked, or damaged since
    return None


async def import_dataset(store, source: str, name: str, *, root: Path, cache: Path,
                         limits: ImportLimits = ImportLimits(), workspace: str = "default",
                         caption_ext: str = ".txt", workers: int = 0, progress: ProgressFn | None = None,
                         refetch: bool = False):
    """Extract a zip (file path or http(s) URL) into ``root/name``, register it and scan it.

    A URL is downloaded once into the cache (resumed when an earlier run was interrupted; `refetch` starts
    over) and its archive is removed once imported, or when the archive checks refuse it.
    Returns (Dataset, ScanReport, ExtractReport).
    """
    name = check_name(name)
    caption_ext = normalise_caption_ext(caption_ext)  # before anything is downloaded or extracted
    if await store.run(dataset_repo.find_dataset, name=name):
        raise InputError(f"a dataset named {name!r} already exists", hint="pick another with --name")
    dest = Path(root) / name
    downloaded = _is_url(source)
    if downloaded:
        archive = await asyncio.to_thread(_cached_archive, cache, source, refetch)
        if archive is None:
            archive = download_path(cache, source)
            await asyncio.to_thread(download, source, archive, progress=progress,
                                    max_bytes=limits.max_download_bytes)
    else:
        archive = Path(source).expanduser()
        if not archive.is_file():
            raise InputError(f"{source} is not a file or an http(s) URL")
    try:
        report = await asyncio.to_thread(safe_extract, archive, dest, limits)
    except ArchiveError as exc:
        if not downloaded:
            raise
        await asyncio.to_thread(_discard, archive)  # a refused download is never kept
        raise ArchiveError(f"{exc.message}; the downloaded file was removed", hint=exc.hint) from None
    try:
        # Interrupted, the folder goes (below): the dataset must not stay registered without it.
        dataset, scan = await add_dataset(store, dest, name=name, workspace=workspace, caption_ext=caption_ext,
                                          workers=workers, keep_if_interrupted=False)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    if downloaded:
        await asyncio.to_thread(_discard, archive)  # extracted and registered: the download is no longer needed
    return dataset, scan, report
