"""Civitai model downloads: a plain HTTP GET that resumes its ``.part`` file and checks Civitai's SHA-256.

File names come from Civitai's API, so each goes through ``safe_filename`` (one path component, no ``..``) and
the final path is checked to lie inside the target folder. Only http and https URLs are followed. The token
travels only in the Authorization header (never in a URL), is dropped when a redirect leaves the original host
(signed CDN URLs), and never appears in messages. ``$LORATUI_CIVITAI_ENDPOINT`` (default https://civitai.com)
lets tests and mirrors point elsewhere.
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import parse_qs, urlsplit

from loratui.errors import ArchiveError, ConflictError, InputError, ModelError, NotFoundError, RemoteError
from loratui.fsutil import fsync_dir, is_within, sha256_file
from loratui.loras.download import Downloaded

if TYPE_CHECKING:  # imported when used: the TUI imports this module at start, httpx costs ~45 ms
    import httpx

CIVITAI_DEFAULT = "https://civitai.com"
CHUNK = 1024 * 1024
MAX_REDIRECTS = 10
MAX_NAME = 200

ProgressFn = Callable[[str, int, "int | None"], None]  # (file name, bytes done, total or None)


def civitai_endpoint() -> str:
    """The Civitai endpoint ($LORATUI_CIVITAI_ENDPOINT or civitai.com)."""
    return os.environ.get("LORATUI_CIVITAI_ENDPOINT", CIVITAI_DEFAULT).rstrip("/")


def safe_filename(name: str) -> str:
    """A server-provided file name reduced to one harmless path component.

    Only the last component survives ('/' and '\\' both count as separators), control characters go, leading
    dots are stripped (no '..', no hidden files) and the length is capped. ArchiveError if nothing is left.
    """
    text = unicodedata.normalize("NFC", str(name)).replace("\\", "/")
    text = text.split("/")[-1]
    text = "".join(ch for ch in text if ch.isprintable() and ch not in '<>:"|?*\x00')
    text = text.strip().lstrip(".").strip()
    if len(text) > MAX_NAME:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: MAX_NAME - len(ext) - 1] + "." + ext) if dot and len(ext) < 16 else text[:MAX_NAME]
    if not text or text in (".", ".."):
        raise ArchiveError(f"the server sent an unusable file name: {name!r}")
    return text


def _target(folder: Path, name: str) -> Path:
    path = folder / safe_filename(name)
    if not is_within(folder, path):
        raise ArchiveError(f"refusing to write outside {folder}: {name!r}")
    return path


def _safe_url(url: str) -> str:
    """A URL for messages: no query string (signed URLs and tokens live there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class Http:
    """A small httpx wrapper: http(s) only, manual redirects that drop credentials across hosts, clear errors."""

    def __init__(self, token: str | None = None, timeout: float = 60.0, client: httpx.Client | None = None):
        import httpx

        self._token = token
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=20.0), follow_redirects=False,
                                             headers={"User-Agent": "loratui"})

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def _headers(self, url: str, origin_host: str, extra: dict | None) -> dict:
        headers = dict(extra or {})
        if self._token and urlsplit(url).netloc == origin_host:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def open(self, url: str, headers: dict | None = None) -> httpx.Response:
        """GET with streaming, following redirects; the caller closes the response."""
        import httpx

        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS):
            if urlsplit(url).scheme not in ("http", "https"):
                raise RemoteError(f"refusing to fetch {_safe_url(url)}: only http and https are followed")
            request = self.client.build_request("GET", url, headers=self._headers(url, origin, headers))
            try:
                response = self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise RemoteError(f"{_safe_url(url)}: {type(exc).__name__}: {exc}".replace(self._token or "\0", "***"))
            if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                location = response.headers["location"]
                response.close()
                url = str(httpx.URL(url).join(location))
                continue
            return response
        raise RemoteError(f"{_safe_url(url)}: too many redirects")

    def get_json(self, url: str):
        """GET a JSON document; RemoteError/NotFoundError on failure."""
        response = self.open(url, {"Accept": "application/json"})
        try:
            response.read()
            self.raise_for_status(response, url)
            try:
                return response.json()
            except ValueError:
                raise RemoteError(f"{_safe_url(url)}: the answer is not JSON") from None
        finally:
            response.close()

    @staticmethod
    def raise_for_status(response: httpx.Response, url: str) -> None:
        """Turn HTTP errors into loratui errors (the URL without its query)."""
        code = response.status_code
        if code < 400:
            return
        where = _safe_url(url)
        if code in (401, 403):
            raise RemoteError(f"{where}: access denied (HTTP {code})", hint="check the token (CIVITAI_API_TOKEN)")
        if code == 404:
            raise NotFoundError(f"{where}: not found (HTTP 404)")
        raise RemoteError(f"{where}: HTTP {code}")


@dataclass
class RemoteFile:
    """A file to fetch: where from, the name to use, and what it should hash to."""

    url: str
    name: str
    sha256: str | None = None


def _check(path: Path, remote: RemoteFile) -> str:
    """The sha256 of a finished file; ModelError when Civitai gave a different one (a version without a hash
    passes: Civitai's sizeKB is rounded, so the hash is the only check)."""
    sha = sha256_file(path, CHUNK)
    if remote.sha256 and sha.lower() != remote.sha256.lower():
        raise ModelError(f"{remote.name}: SHA-256 mismatch (got {sha}, expected {remote.sha256.lower()})",
                         hint="the partial file was removed; run the download again")
    return sha


def fetch_file(http: Http, remote: RemoteFile, folder: Path,
               progress: ProgressFn | None = None) -> tuple[Path, int, str, bool]:
    """Download one file into `folder` under its sanitised name, resuming `NAME.part`.

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
    offset = part.stat().st_size if part.exists() else 0
    response = http.open(remote.url, {"Range": f"bytes={offset}-"} if offset else {})
    try:
        if response.status_code == 416 and offset:
            response.close()  # the part is already complete (or bigger than the file): verify below
        else:
            http.raise_for_status(response, remote.url)
            if response.status_code != 206:
                offset = 0  # the server ignored the range: start over
            _write_body(response, part, offset, final.name, progress)
    finally:
        response.close()
    try:
        sha = _check(part, remote)
    except ModelError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, final)
    fsync_dir(folder)
    return final, offset, sha, False


def _write_body(response: httpx.Response, part: Path, offset: int, name: str, progress: ProgressFn | None) -> None:
    total = _total_size(response, offset)
    done = offset
    with open(part, "ab" if offset else "wb") as handle:
        if progress:
            progress(name, done, total)
        last = 0.0
        for block in response.iter_bytes(CHUNK):
            handle.write(block)
            done += len(block)
            now = time.monotonic()
            if progress and now - last > 0.2:
                last = now
                progress(name, done, total)
        handle.flush()
        os.fsync(handle.fileno())
    if progress:
        progress(name, done, total)


def _total_size(response: httpx.Response, offset: int) -> int | None:
    match = re.search(r"/(\d+)$", response.headers.get("content-range", ""))
    if match:
        return int(match.group(1))
    length = response.headers.get("content-length")
    return int(length) + offset if length and length.isdigit() else None


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
    return RemoteFile(url=url, name=str(chosen.get("name") or f"civitai-{version_id}.safetensors"),
                      sha256=hashes.get("SHA256"))


def download_civitai(ref: str, folder: Path, *, token: str | None = None,
                     progress: ProgressFn | None = None) -> Downloaded:
    """Download a Civitai model version's primary file into `folder`."""
    http = Http(token)
    try:
        version_id = civitai_version_id(http, ref)
        remote = civitai_remote_file(http, version_id)
        path, resumed, sha, skipped = fetch_file(http, remote, folder, progress)
        return Downloaded("civitai", str(version_id), path, path.stat().st_size, sha, resumed, skipped)
    finally:
        http.close()
