"""Civitai model downloads: a plain HTTP GET that resumes its ``.part`` file and checks Civitai's SHA-256.

File names come from Civitai's API, so each goes through ``safe_filename`` (one path component, no ``..``) and
the final path is checked to lie inside the target folder. The transfer is ``loratui.http_download``'s: http
and https only at every redirect hop, a free-space check before it starts, the ``.part`` resumed by running the
same command again (``refetch`` starts over) and removed when the disk fills up or the server sends more than
the version's declared size (``sizeKB`` from the API, with a margin: it is rounded). The token travels only in
the Authorization header (never in a URL), is dropped when a redirect leaves the original host (signed CDN
URLs), and never appears in messages. ``$LORATUI_CIVITAI_ENDPOINT`` (default https://civitai.com) lets tests and
mirrors point elsewhere.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from loratui.errors import ArchiveError, ConflictError, InputError, ModelError, RemoteError
from loratui.fsutil import fsync_dir, is_within, sha256_file
from loratui.http_download import Http, fetch_to_part
from loratui.loras.download import Downloaded

CIVITAI_DEFAULT = "https://civitai.com"
CHUNK = 1024 * 1024
MAX_NAME = 200
"""Bytes (UTF-8) a file name may have: with ".part" it stays well under the usual 255-byte limit."""
SIZE_MARGIN = 0.01
"""How far past the declared size (sizeKB is rounded) a transfer may go before it is stopped."""

ProgressFn = Callable[[str, int, "int | None"], None]  # (file name, bytes done, total or None)


def civitai_endpoint() -> str:
    """The Civitai endpoint ($LORATUI_CIVITAI_ENDPOINT or civitai.com)."""
    return os.environ.get("LORATUI_CIVITAI_ENDPOINT", CIVITAI_DEFAULT).rstrip("/")


def safe_filename(name: str) -> str:
    """A server-provided file name reduced to one harmless path component.

    Only the last component survives ('/' and '\\' both count as separators), control characters go, leading
    dots are stripped (no '..', no hidden files) and the length is capped at MAX_NAME bytes (the extension
    kept). ArchiveError if nothing is left.
    """
    text = unicodedata.normalize("NFC", str(name)).replace("\\", "/")
    text = text.split("/")[-1]
    text = "".join(ch for ch in text if ch.isprintable() and ch not in '<>:"|?*\x00')
    text = text.strip().lstrip(".").strip()
    if len(text.encode("utf-8")) > MAX_NAME:
        stem, dot, ext = text.rpartition(".")
        keep = (stem, "." + ext) if dot and len(ext.encode("utf-8")) < 16 else (text, "")
        budget = MAX_NAME - len(keep[1].encode("utf-8"))
        text = keep[0].encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip() + keep[1]
    if not text or text in (".", ".."):
        raise ArchiveError(f"the server sent an unusable file name: {name!r}")
    return text


def _target(folder: Path, name: str) -> Path:
    path = folder / safe_filename(name)
    if not is_within(folder, path):
        raise ArchiveError(f"refusing to write outside {folder}: {name!r}")
    return path


@dataclass
class RemoteFile:
    """A file to fetch: where from, the name to use, and what it should hash to."""

    url: str
    name: str
    sha256: str | None = None
    size: int | None = None
    """The size Civitai declares (sizeKB, rounded), or None."""

    def max_bytes(self) -> int | None:
        """The most bytes accepted: the declared size and a margin, or no limit but free space."""
        return math.ceil(self.size * (1 + SIZE_MARGIN)) + CHUNK if self.size else None


def _check(path: Path, remote: RemoteFile) -> str:
    """The sha256 of a finished file; ModelError when Civitai gave a different one (a version without a hash
    passes: Civitai's sizeKB is rounded, so the hash is the only check)."""
    sha = sha256_file(path, CHUNK)
    if remote.sha256 and sha.lower() != remote.sha256.lower():
        raise ModelError(f"{remote.name}: SHA-256 mismatch (got {sha}, expected {remote.sha256.lower()})",
                         hint="the partial file was removed; run the download again")
    return sha


def fetch_file(http: Http, remote: RemoteFile, folder: Path, progress: ProgressFn | None = None,
               *, refetch: bool = False) -> tuple[Path, int, str, bool]:
    """Download one file into `folder` under its sanitised name, resuming `NAME.part` (`refetch`: start over).

    Returns (path, resumed_from, sha256, skipped); `skipped` when the file was already complete.
    """
    folder.mkdir(parents=True, exist_ok=True)
    final = _target(folder, remote.name)
    if final.exists():
        try:
            return final, 0, _check(final, remote), True
        except ModelError:
            raise ConflictError(f"{final} exists and is not this download; nothing was overwritten",
                                hint="move it away or pick another folder with --to") from None
    part = final.with_name(final.name + ".part")
    if refetch:
        part.unlink(missing_ok=True)
    report = (lambda done, total: progress(final.name, done, total)) if progress else None
    fetched = fetch_to_part(http, remote.url, part, max_bytes=remote.max_bytes(), what=final.name,
                            limit_hint="the file is bigger than Civitai says it is", progress=report)
    try:
        sha = _check(part, remote)
    except ModelError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, final)
    fsync_dir(folder)
    return final, fetched.resumed_from, sha, False


def civitai_version_id(http: Http, ref: str) -> int:
    """The model version id from an id, a model page URL, a version URL or a download URL."""
    ref = ref.strip()
    if ref.isdigit():
        return int(ref)
    parts = urlsplit(ref)
    query = parse_qs(parts.query)
    if query.get("modelVersionId", [""])[0].isdigit():
        return int(query["modelVersionId"][0])
    match = re.search(r"/(?:api/download/models|model-versions)/(\d+)", parts.path)
    if match:
        return int(match.group(1))
    match = re.search(r"/models/(\d+)", parts.path)
    if match:
        model = http.get_json(f"{civitai_endpoint()}/api/v1/models/{match.group(1)}")
        versions = model.get("modelVersions") if isinstance(model, dict) else None
        if not versions or not isinstance(versions[0], dict) or "id" not in versions[0]:
            raise RemoteError(f"Civitai model {match.group(1)} lists no versions")
        return int(versions[0]["id"])
    raise InputError(f"not a Civitai model URL or version id: {ref!r}")


def civitai_remote_file(http: Http, version_id: int) -> RemoteFile:
    """The primary file of a Civitai model version."""
    version = http.get_json(f"{civitai_endpoint()}/api/v1/model-versions/{version_id}")
    files = [f for f in (version.get("files") or []) if isinstance(f, dict)] if isinstance(version, dict) else []
    if not files:
        raise RemoteError(f"Civitai model version {version_id} has no files")
    chosen = next((f for f in files if f.get("primary")), files[0])
    url = chosen.get("downloadUrl") or f"{civitai_endpoint()}/api/download/models/{version_id}"
    hashes = chosen.get("hashes") if isinstance(chosen.get("hashes"), dict) else {}
    size_kb = chosen.get("sizeKB")
    size = math.ceil(size_kb * 1024) if isinstance(size_kb, (int, float)) and 0 < size_kb < 2**50 else None
    return RemoteFile(url=url, name=str(chosen.get("name") or f"civitai-{version_id}.safetensors"),
                      sha256=hashes.get("SHA256"), size=size)


def download_civitai(ref: str, folder: Path, *, token: str | None = None, progress: ProgressFn | None = None,
                     refetch: bool = False) -> Downloaded:
    """Download a Civitai model version's primary file into `folder` (`refetch`: discard a `.part`)."""
    http = Http(token, auth_hint="check the token (CIVITAI_API_TOKEN)")
    try:
        version_id = civitai_version_id(http, ref)
        remote = civitai_remote_file(http, version_id)
        path, resumed, sha, skipped = fetch_file(http, remote, folder, progress, refetch=refetch)
        return Downloaded("civitai", str(version_id), path, path.stat().st_size, sha, resumed, skipped)
    finally:
        http.close()
