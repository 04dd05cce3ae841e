"""Base models from the Hugging Face Hub into a folder the user chose, and the ``models`` table.

Hub files go through ``loratui.hf_download`` (huggingface_hub): each lands at FOLDER/<path in the repo>, and
huggingface_hub keeps its bookkeeping in FOLDER/.cache/huggingface/ (what it fetched, at which commit), so a
second run asks the Hub once per file and skips what is current. loratui adds two checks of its own: a file
already in the folder that is not this download is never overwritten (ConflictError), and every file is hashed
and compared with the Hub's LFS SHA-256 (the hash goes into the models table). Civitai lives in ``civitai.py``.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

from loratui.errors import ArchiveError, ConflictError, InputError, ModelError, NotFoundError
from loratui.fsutil import hash_file, is_within, sha256_file
from loratui.hf_download import HubProgress, RepoFile, fetch_file, list_files, offline
from loratui.loras import model_repo

MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")
STALE_PARTIAL_S = 600  # a live transfer writes every few seconds; huggingface_hub times out after 10 s
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class Downloaded:
    """One file on disk after a download."""

    source: str  # hf | civitai
    ref: str  # repo id / model version id
    path: Path
    size: int
    sha256: str
    resumed_from: int = 0  # bytes kept from an earlier, interrupted run (Civitai's .part file)
    skipped: bool = False  # it was already complete


def hub_remote_files(repo: str, file: str | None, *, revision: str = "main",
                     token: str | None = None) -> list[RepoFile]:
    """What `models download REPO [--file F]` fetches: F, or every top-level .safetensors file.

    Offline, only a named file can be used (the file list needs the Hub), without a hash to check against.
    """
    if not _REPO.match(repo) or ".." in repo:
        raise InputError(f"not a Hub repo id: {repo!r} (expected USER/NAME)")
    if offline() and file:
        return [RepoFile(file, None, None, None)]
    files = list_files(repo, revision=revision, token=token)
    if file:
        chosen = [f for f in files if f.name == file]
        if not chosen:
            names = ", ".join(f.name for f in files[:20])
            raise NotFoundError(f"{repo} has no file {file!r} (files: {names})")
        return chosen
    chosen = [f for f in files if f.name.endswith(".safetensors") and "/" not in f.name]
    if not chosen:
        raise InputError(f"{repo} has no top-level .safetensors file; pick one with --file")
    return chosen


def download_hf(repo: str, folder: Path, file: str | None = None, *, revision: str = "main",
                token: str | None = None, progress: HubProgress | None = None) -> list[Downloaded]:
    """Download from a Hub model repo into `folder`, file by file; hash-checked, current files skipped.

    `progress(name, done, total)` is called as bytes arrive and once before each file, so a callback that
    raises (a cancel request) stops between files at the latest.
    """
    folder = folder.expanduser().resolve()
    _remove_stale_partials(folder)
    results = []
    for remote in hub_remote_files(repo, file, revision=revision, token=token):
        target = _target(folder, remote.name)
        known_sha = _existing_sha256(target, remote)
        if progress:
            progress(remote.name, 0, remote.size)
        got = fetch_file(repo, remote.name, revision=revision, local_dir=folder, token=token, progress=progress)
        sha = known_sha if known_sha and not got.transferred else sha256_file(got.path)
        if remote.sha256 and sha != remote.sha256.lower():
            got.path.unlink(missing_ok=True)
            raise ModelError(f"{remote.name}: SHA-256 mismatch (got {sha}, expected {remote.sha256.lower()})",
                             hint="the file was removed; run the download again")
        results.append(Downloaded("hf", repo, got.path, got.path.stat().st_size, sha, skipped=not got.transferred))
    return results


def _remove_stale_partials(folder: Path) -> None:
    """Delete temporary files a killed run left in FOLDER/.cache/huggingface (huggingface_hub 2.x never reuses
    them: each attempt gets a file of its own), once nothing has written to them for STALE_PARTIAL_S."""
    partials = folder / ".cache" / "huggingface" / "download"
    if not partials.is_dir():
        return
    cutoff = time.time() - STALE_PARTIAL_S
    for path in partials.rglob("*.incomplete"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass  # another process finished or removed it meanwhile


def _target(folder: Path, name: str) -> Path:
    """FOLDER/<path in the repo>, refusing names that would leave the folder."""
    path = folder / name
    if ".." in name.replace("\\", "/").split("/") or not is_within(folder, path.resolve()):
        raise ArchiveError(f"refusing to write outside {folder}: {name!r}")
    return path


def _existing_sha256(path: Path, remote: RepoFile) -> str | None:
    """The SHA-256 of a file already at `path` that is this download; ConflictError if it is another file.

    huggingface_hub would replace a file it does not know; loratui keeps the user's files.
    """
    if not path.is_file():
        return None
    sha = sha256_file(path)
    same = (sha == remote.sha256.lower() if remote.sha256 else
            _git_blob_sha1(path) == remote.blob_id if remote.blob_id else True)
    if not same:
        raise ConflictError(f"{path} exists and is not this download; nothing was overwritten",
                            hint="move it away or pick another folder with --to")
    return sha


def _git_blob_sha1(path: Path) -> str:
    return hash_file(path, hashlib.sha1(f"blob {path.stat().st_size}\0".encode())).hexdigest()


# --- the models table -------------------------------------------------------------------------------------------


async def record_download(store, item: Downloaded) -> None:
    """Remember a downloaded file in the models table."""
    await store.run(model_repo.record_download, item.source, item.ref, str(item.path.resolve()), item.size,
                    item.sha256)


async def list_models(store, models_dir: Path) -> list[dict]:
    """Downloaded models (with whether the file is still there) plus model files found in `models_dir`.

    Hidden folders (huggingface_hub's .cache with its partial downloads) are not searched.
    """
    rows = await store.run(model_repo.list_downloads)
    known = set()
    for row in rows:
        row["exists"] = Path(row["path"]).exists()
        known.add(row["path"])
    if models_dir.is_dir():
        for path in sorted(models_dir.rglob("*")):
            hidden = any(part.startswith(".") for part in path.relative_to(models_dir).parts)
            if (not hidden and path.is_file() and path.suffix in MODEL_SUFFIXES
                    and str(path.resolve()) not in known):
                rows.append({"id": None, "source": "local", "ref": "", "path": str(path.resolve()),
                             "size": path.stat().st_size, "sha256": None, "downloaded_at": None, "exists": True})
    return rows
