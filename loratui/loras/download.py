"""Base-model downloads from the Hugging Face Hub and Civitai: resumable, with progress and a hash check.

File names come from the server (the Hub's file list, Civitai's API), so every
name goes through ``safe_filename`` — one path component, no separators, no ``..`` — and the final path is
checked to lie inside the target folder. Tokens travel only in the Authorization header (never in URLs), are
dropped when a redirect leaves the original host (signed CDN URLs), and never appear in messages.

Endpoints: ``$HF_ENDPOINT`` (default https://huggingface.co) and ``$LORATUI_CIVITAI_ENDPOINT`` (default
https://civitai.com), so tests and mirrors can point elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import parse_qs, quote, urlsplit

from loratui.errors import ArchiveError, ConflictError, InputError, ModelError, NotFoundError, RemoteError
from loratui.fsutil import fsync_dir, hash_file, is_within, sha256_file
from loratui.loras import model_repo

if TYPE_CHECKING:  # imported when used: the TUI imports this module at start, httpx costs ~45 ms
    import httpx

HF_DEFAULT = "https://huggingface.co"
CIVITAI_DEFAULT = "https://civitai.com"
CHUNK = 1024 * 1024
MAX_REDIRECTS = 10
MAX_NAME = 200

ProgressFn = Callable[[str, int, int | None], None]  # (file name, bytes done, total or None)


@dataclass
class Downloaded:
    """One file on disk after a download."""

    source: str  # hf | civitai
    ref: str  # repo id / model version id
    path: Path
    size: int
    sha256: str
    resumed_from: int = 0
    skipped: bool = False  # it was already complete


def hf_endpoint() -> str:
    """The Hub endpoint ($HF_ENDPOINT or huggingface.co)."""
    return os.environ.get("HF_ENDPOINT", HF_DEFAULT).rstrip("/")


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
    """A small httpx wrapper: manual redirects that drop credentials across hosts, clear errors."""

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
            raise RemoteError(f"{where}: access denied (HTTP {code})", hint="check the token or accept the model's "
                                                                           "license on its web page")
        if code == 404:
            raise NotFoundError(f"{where}: not found (HTTP 404)")
        raise RemoteError(f"{where}: HTTP {code}")


def _git_blob_sha1(path: Path) -> str:
    return hash_file(path, hashlib.sha1(f"blob {path.stat().st_size}\0".encode()), CHUNK).hexdigest()


@dataclass
class RemoteFile:
    """A file to fetch: where from, the name to use, and what it should hash to."""

    url: str
    name: str
    size: int | None = None
    sha256: str | None = None
    git_sha1: str | None = None  # the Hub's blob id for small (non-LFS) files


def _check(path: Path, remote: RemoteFile) -> str:
    """Verify size and hash of a finished file; returns its sha256. ModelError on a mismatch.

    A file with neither hash nor size known passes (Civitai versions without a hash).
    """
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        raise ModelError(f"{remote.name}: got {size} bytes, expected {remote.size}")
    sha = sha256_file(path, CHUNK)
    if remote.sha256 and sha.lower() != remote.sha256.lower():
        raise ModelError(f"{remote.name}: SHA-256 mismatch (got {sha}, expected {remote.sha256.lower()})",
                         hint="the partial file was removed; run the download again")
    if remote.git_sha1 and not remote.sha256 and _git_blob_sha1(path) != remote.git_sha1:
        raise ModelError(f"{remote.name}: checksum mismatch with the Hub's blob id")
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
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    response = http.open(remote.url, headers)
    try:
        if response.status_code == 416 and offset:
            response.close()  # the part is already complete (or bigger than the file): verify below
        else:
            http.raise_for_status(response, remote.url)
            if response.status_code != 206:
                offset = 0  # the server ignored the range: start over
            total = _total_size(response, offset) or remote.size
            done = offset
            with open(part, "ab" if offset else "wb") as handle:
                if progress:
                    progress(final.name, done, total)
                last = 0.0
                for block in response.iter_bytes(CHUNK):
                    handle.write(block)
                    done += len(block)
                    now = time.monotonic()
                    if progress and now - last > 0.2:
                        last = now
                        progress(final.name, done, total)
                handle.flush()
                os.fsync(handle.fileno())
            if progress:
                progress(final.name, done, total)
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


def _total_size(response: httpx.Response, offset: int) -> int | None:
    content_range = response.headers.get("content-range", "")
    match = re.search(r"/(\d+)$", content_range)
    if match:
        return int(match.group(1))
    length = response.headers.get("content-length")
    return int(length) + offset if length and length.isdigit() else None


# --- Hugging Face Hub -------------------------------------------------------------------------------------------

_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hf_files(http: Http, repo: str, revision: str = "main") -> list[dict]:
    """The Hub's file list of a model repo (siblings with sizes and LFS hashes)."""
    if not _REPO.match(repo) or ".." in repo:
        raise InputError(f"not a Hub repo id: {repo!r} (expected USER/NAME)")
    info = http.get_json(f"{hf_endpoint()}/api/models/{repo}/revision/{quote(revision, safe='')}?blobs=true")
    siblings = info.get("siblings") if isinstance(info, dict) else None
    if not isinstance(siblings, list):
        raise RemoteError(f"{repo}: the Hub's answer has no file list")
    return [s for s in siblings if isinstance(s, dict) and isinstance(s.get("rfilename"), str)]


def hf_remote_files(http: Http, repo: str, file: str | None, revision: str = "main") -> list[RemoteFile]:
    """What `models download REPO [--file F]` fetches: F, or every top-level .safetensors file."""
    siblings = hf_files(http, repo, revision)
    if file:
        chosen = [s for s in siblings if s["rfilename"] == file]
        if not chosen:
            names = ", ".join(s["rfilename"] for s in siblings[:20])
            raise NotFoundError(f"{repo} has no file {file!r} (files: {names})")
    else:
        chosen = [s for s in siblings if s["rfilename"].endswith(".safetensors") and "/" not in s["rfilename"]]
        if not chosen:
            raise InputError(f"{repo} has no top-level .safetensors file; pick one with --file")
    out = []
    for sibling in chosen:
        lfs = sibling.get("lfs") if isinstance(sibling.get("lfs"), dict) else {}
        url = f"{hf_endpoint()}/{repo}/resolve/{quote(revision, safe='')}/{quote(sibling['rfilename'])}"
        out.append(RemoteFile(url=url, name=sibling["rfilename"], size=lfs.get("size") or sibling.get("size"),
                              sha256=lfs.get("sha256"), git_sha1=None if lfs else sibling.get("blobId")))
    return out


def download_hf(repo: str, folder: Path, file: str | None = None, *, revision: str = "main",
                token: str | None = None, progress: ProgressFn | None = None) -> list[Downloaded]:
    """Download from a Hub model repo into `folder` (resumable, hash-checked)."""
    http = Http(token)
    try:
        results = []
        for remote in hf_remote_files(http, repo, file, revision):
            path, resumed, sha, skipped = fetch_file(http, remote, folder, progress)
            results.append(Downloaded("hf", repo, path, path.stat().st_size, sha, resumed, skipped))
        return results
    finally:
        http.close()


# --- Civitai ----------------------------------------------------------------------------------------------------


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
                      sha256=hashes.get("SHA256"))  # sizeKB is rounded: the hash is the check


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


# --- the models table -------------------------------------------------------------------------------------------

MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")


async def record_download(store, item: Downloaded) -> None:
    """Remember a downloaded file in the models table."""
    await store.run(model_repo.record_download, item.source, item.ref, str(item.path.resolve()), item.size,
                    item.sha256)


async def list_models(store, models_dir: Path) -> list[dict]:
    """Downloaded models (with whether the file is still there) plus model files found in `models_dir`."""
    rows = await store.run(model_repo.list_downloads)
    known = set()
    for row in rows:
        row["exists"] = Path(row["path"]).exists()
        known.add(row["path"])
    if models_dir.is_dir():
        for path in sorted(models_dir.rglob("*")):
            if path.is_file() and path.suffix in MODEL_SUFFIXES and str(path.resolve()) not in known:
                rows.append({"id": None, "source": "local", "ref": "", "path": str(path.resolve()),
                             "size": path.stat().st_size, "sha256": None, "downloaded_at": None, "exists": True})
    return rows
