"""Safe zip extraction for `dataset import`: every entry is checked before a byte is written.

Refused with an ArchiveError naming the entry, writing nothing:

- **names:** absolute or drive paths and ``..`` components (zip slip); control characters; Windows device names
  (``CON``, ``NUL``, ``COM1``…: such a dataset could not be copied to Windows or shared); a component longer than
  the file system allows (255 bytes) or a path over its path limit; two entries with the same path; a path
  that is both a file and a folder (``a`` and ``a/b``). Backslashes count as folder separators: zips made by
  old Windows tools use them, and ``..\\x`` must be seen as climbing out, not as one odd file name.
- **kinds:** symbolic links, devices, FIFOs and sockets (from the Unix mode bits), encrypted entries.
- **sizes:** more entries than `ImportLimits.max_files`; a total uncompressed size over `max_total_bytes`; an
  entry over `ratio_floor` bytes that expands more than `max_ratio` times; an archive that does so as a whole
  (total uncompressed size / the archive's size on disk, every entry counted, so that thousands of medium
  entries are caught as surely as one huge one); compressed sizes adding up to more than the file holds
  (entries that overlap, the other way to build a bomb).
- **space:** the uncompressed total, plus a reserve, must fit on the target's disk (DiskSpaceError with both
  numbers).

While extracting, an entry that inflates past its declared size is refused too (headers can lie).

Extraction is atomic: everything goes into a hidden sibling ``.loratui-import-PID-XXXX`` that is renamed to the
dataset folder at the end and removed on any error, so the folder either appears complete or not at all. A
sibling left by a killed import (its PID is gone) is removed by the next import into the same parent folder.
"""

from __future__ import annotations

import errno
import lzma
import os
import re
import shutil
import stat
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from loratui.errors import ArchiveError, InputError, LoratuiError
from loratui.http_download import DiskSpaceError, free_space, human_bytes, require_space

CHUNK = 1024 * 1024
SKIPPED_PREFIXES = ("__MACOSX/",)
TEMP_PREFIX = ".loratui-import-"
TEMP_NAME_BYTES = len(TEMP_PREFIX) + 40  # with the PID and tempfile's random suffix
_DRIVE = re.compile(r"^[A-Za-z]:")
_DEVICE = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?$", re.IGNORECASE)
_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# zipfile reports malformed input through many exception types: each means "this archive is damaged".
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, lzma.LZMAError, struct.error,
            ValueError, OverflowError, OSError)


@dataclass(frozen=True)
class ImportLimits:
    """What an archive may contain and how big a download may be (settings [dataset_tools] import_max_*)."""

    max_total_bytes: int = 50 * 1024**3
    max_files: int = 500_000
    max_ratio: float = 200.0
    """Uncompressed/compressed size above which an entry, or the whole archive, is a likely zip bomb."""
    ratio_floor: int = 64 * 1024
    """Entries (and archives) expanding to at most this many bytes are never refused for their ratio."""
    max_download_bytes: int | None = 50 * 1024**3
    """The largest download `dataset import URL` accepts (None: only free space limits it)."""


@dataclass
class ExtractReport:
    """What was extracted."""

    files: int = 0
    bytes: int = 0
    skipped: int = 0
    stripped_prefix: str = ""


@dataclass(frozen=True)
class _FsLimits:
    name_max: int
    path_max: int


def _fs_limits(place: Path) -> _FsLimits:
    probe, _free = free_space(place)

    def conf(name: str, default: int) -> int:
        try:
            value = os.pathconf(probe, name)
        except (OSError, ValueError):
            return default
        return value if value and value > 0 else default

    return _FsLimits(conf("PC_NAME_MAX", 255), conf("PC_PATH_MAX", 4096))


def _entry_path(name: str) -> PurePosixPath:
    """The entry's relative path, or ArchiveError when it is absolute, climbs out or has an unusable name."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or _DRIVE.match(clean):
        raise ArchiveError(f"entry {name!r} has an absolute path: refusing to extract (zip slip)")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"entry {name!r} climbs out of the folder with '..': refusing to extract (zip slip)")
    if any(unicodedata.category(ch) == "Cc" for ch in clean):
        raise ArchiveError(f"entry {name!r} has control characters in its name: refusing to extract")
    for part in parts:
        if _DEVICE.match(part):
            raise ArchiveError(f"entry {name!r} uses the reserved device name {part.split('.')[0]!r}: "
                               "refusing to extract (the dataset could not be copied to Windows)")
    return PurePosixPath(*parts) if parts else PurePosixPath()


def _check_kind(info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ArchiveError(f"entry {info.filename!r} is a symbolic link: refusing to extract")
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ArchiveError(f"entry {info.filename!r} is a device, FIFO or socket: refusing to extract")
    if info.flag_bits & 0x1:
        raise ArchiveError(f"entry {info.filename!r} is encrypted: not supported")


def _check_names(entries: list[tuple[zipfile.ZipInfo, PurePosixPath]], folders: dict[PurePosixPath, str],
                 dest: Path | None) -> None:
    """Same path twice, a path that is a file and a folder, names over the file system's limits."""
    files: dict[PurePosixPath, str] = {}
    for info, path in entries:
        if path in files:
            raise ArchiveError(f"entries {files[path]!r} and {info.filename!r} are the same file: "
                               "refusing to extract")
        files[path] = info.filename
        for parent in list(path.parents)[:-1]:
            folders.setdefault(parent, info.filename)
    for path, name in files.items():
        if path in folders:
            raise ArchiveError(f"entry {name!r} is a file, but {folders[path]!r} uses it as a folder: "
                               "refusing to extract")
    limits = _fs_limits(dest.parent) if dest is not None else _FsLimits(255, 4096)
    # Entries are written below the temporary sibling first, whose name may be longer than the dataset's.
    base = (len(os.fsencode(str(dest.parent))) + 2 + max(len(os.fsencode(dest.name)), TEMP_NAME_BYTES)
            if dest is not None else 0)
    for info, path in entries:
        for part in path.parts:
            size = len(os.fsencode(part))
            if size > limits.name_max:
                raise ArchiveError(f"entry {info.filename[:80]!r}… has a name of {size} bytes, over the file "
                                   f"system's limit of {limits.name_max}: refusing to extract")
        if base + len(os.fsencode(str(path))) >= limits.path_max:
            raise ArchiveError(f"entry {info.filename[:80]!r}… would have a path over the file system's limit of "
                               f"{limits.path_max} bytes: refusing to extract")


def _check_sizes(entries: list[tuple[zipfile.ZipInfo, PurePosixPath]], limits: ImportLimits,
                 archive_size: int, compressed_total: int) -> int:
    total = 0
    for info, _path in entries:
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise ArchiveError(f"entry {info.filename!r} expands {ratio:.0f}x ({human_bytes(info.file_size)}): "
                               f"refusing a likely zip bomb (limit {limits.max_ratio:.0f}x)")
        total += info.file_size
    if total > limits.max_total_bytes:
        raise ArchiveError(f"the archive expands to {human_bytes(total)} ({total} bytes), over the limit of "
                           f"{human_bytes(limits.max_total_bytes)}", hint="raise [dataset_tools] import_max_gib")
    if compressed_total > archive_size:
        raise ArchiveError(f"the entries' compressed sizes add up to {compressed_total} bytes, more than the "
                           f"archive's {archive_size}: overlapping entries, refusing a likely zip bomb")
    if total > limits.ratio_floor and total > limits.max_ratio * max(archive_size, 1):
        raise ArchiveError(f"the archive ({human_bytes(archive_size)}) expands {total / max(archive_size, 1):.0f}x "
                           f"to {human_bytes(total)} in {len(entries)} files: refusing a likely zip bomb "
                           f"(limit {limits.max_ratio:.0f}x)", hint="raise [dataset_tools] import_max_ratio")
    return total


def check_archive(archive: zipfile.ZipFile, limits: ImportLimits, *, dest: Path | None = None,
                  archive_size: int | None = None) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Validate every entry against the rules above; returns (entry, relative path) for the files to write.

    `dest` (the folder to create) lets name lengths be checked against its file system and enables the
    free-space check; `archive_size` (bytes on disk) defaults to the sum of the compressed sizes.
    """
    infos = archive.infolist()
    if len(infos) > limits.max_files:
        raise ArchiveError(f"the archive has {len(infos)} entries, over the limit of {limits.max_files}",
                           hint="raise [dataset_tools] import_max_files")
    entries = []
    folders: dict[PurePosixPath, str] = {}
    compressed_total = 0
    for info in infos:
        path = _entry_path(info.filename)
        _check_kind(info)
        if any(info.filename.replace("\\", "/").startswith(p) for p in SKIPPED_PREFIXES):
            continue
        compressed_total += info.compress_size
        if not path.parts:
            continue
        if info.is_dir():
            folders.setdefault(path, info.filename)
            continue
        entries.append((info, path))
    if not entries:
        raise ArchiveError("the archive contains no files")
    _check_names(entries, folders, dest)
    total = _check_sizes(entries, limits, compressed_total if archive_size is None else archive_size,
                         compressed_total)
    if dest is not None:
        require_space(total, dest.parent, f"extracting {len(entries)} files ({human_bytes(total)} uncompressed)")
    return entries


def _common_prefix(paths: list[PurePosixPath]) -> PurePosixPath | None:
    """The single top-level folder every file sits in (zips of a folder), or None."""
    firsts = {p.parts[0] for p in paths}
    if len(firsts) == 1 and all(len(p.parts) > 1 for p in paths):
        return PurePosixPath(firsts.pop())
    return None


def _write_failed(exc: OSError, what: str) -> LoratuiError:
    if exc.errno in _SPACE_ERRNOS:
        where, free = free_space(Path(exc.filename or "."))
        return DiskSpaceError(f"the disk filled up while writing {what} ({human_bytes(free)} free in {where}); "
                              "nothing was kept", hint="free some space and run it again")
    return LoratuiError(f"cannot write {what}: {exc.strerror or exc}", title="Cannot write the dataset")


def _copy_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> int:
    try:
        source = archive.open(info)
    except NotImplementedError as exc:
        raise ArchiveError(f"entry {info.filename!r} uses an unsupported compression: {exc}") from None
    except (_DAMAGED + (RuntimeError,)) as exc:
        raise ArchiveError(f"entry {info.filename!r} is damaged: {exc}") from None
    written = 0
    with source:
        try:
            sink = open(target, "xb")
        except OSError as exc:
            raise _write_failed(exc, f"entry {info.filename!r}") from None
        with sink:
            while True:
                try:
                    chunk = source.read(CHUNK)
                except _DAMAGED as exc:
                    raise ArchiveError(f"entry {info.filename!r} is damaged: {exc}") from None
                if not chunk:
                    break
                written += len(chunk)
                if written > info.file_size:
                    raise ArchiveError(f"entry {info.filename!r} inflates past its declared size")
                try:
                    sink.write(chunk)
                except OSError as exc:
                    raise _write_failed(exc, f"entry {info.filename!r}") from None
    return written


def _extract_into(archive: zipfile.ZipFile, entries, dest: Path, report: ExtractReport) -> None:
    prefix = _common_prefix([p for _, p in entries])
    if prefix is not None:
        report.stripped_prefix = str(prefix)
    for info, path in entries:
        rel = path.relative_to(prefix) if prefix is not None else path
        target = dest / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _write_failed(exc, f"the folder of entry {info.filename!r}") from None
        report.bytes += _copy_entry(archive, info, target)
        report.files += 1


def _remove_stale_temps(parent: Path) -> None:
    """Remove temporary folders of imports that were killed (their PID no longer runs)."""
    if not parent.is_dir():
        return
    for child in parent.iterdir():
        match = re.fullmatch(re.escape(TEMP_PREFIX) + r"(\d+)-\w+", child.name)
        if not match or not child.is_dir() or child.is_symlink():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(child, ignore_errors=True)
        except (PermissionError, OverflowError):
            pass


def open_archive(zip_path: Path) -> zipfile.ZipFile:
    """The zip at `zip_path`; InputError when missing, ArchiveError when it is not a readable zip."""
    try:
        return zipfile.ZipFile(zip_path)
    except FileNotFoundError:
        raise InputError(f"{zip_path} does not exist") from None
    except (_DAMAGED + (NotImplementedError, KeyError, IndexError)) as exc:
        raise ArchiveError(f"{zip_path} is not a readable zip file: {exc}") from None


def safe_extract(zip_path: Path, dest: Path, limits: ImportLimits = ImportLimits()) -> ExtractReport:
    """Extract `zip_path` into the new folder `dest` (which must not exist); on error nothing is left behind."""
    dest = Path(dest)
    if dest.exists() or dest.is_symlink():
        raise InputError(f"{dest} already exists", hint="pick another --name or remove it")
    report = ExtractReport()
    with open_archive(zip_path) as archive:
        entries = check_archive(archive, limits, dest=dest, archive_size=os.stat(zip_path).st_size)
        created = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_temps(dest.parent)
            temp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=dest.parent))
        except OSError as exc:
            raise _write_failed(exc, f"a folder in {dest.parent}") from None
        try:
            _extract_into(archive, entries, temp, report)
            os.sync()  # the files are on disk before the folder appears under its name
            if dest.exists() or dest.is_symlink():
                raise InputError(f"{dest} appeared while extracting", hint="pick another --name or remove it")
            try:
                os.rename(temp, dest)
            except OSError as exc:
                raise _write_failed(exc, str(dest)) from None
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            for folder in created:  # the parents this call made, innermost first
                try:
                    folder.rmdir()
                except OSError:
                    break
            raise
    return report

