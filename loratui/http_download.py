"""Plain HTTP(S) downloads into a resumable ``.part`` file, shared by `dataset import URL` and Civitai.

Every download follows the same rules:

- **http and https only, at every hop.** Redirects are followed here, one hop at a time (at most 10), and each
  new location is checked, so a redirect to ``ftp://`` or ``file://`` is refused. The token (an Authorization
  header) is dropped when a redirect leaves the first host (signed CDN URLs).
- **A size limit**, checked against the size the server announces (Content-Range's total, else Content-Length)
  before a byte is written, and again while streaming (a server may announce nothing, or lie). A download over
  the limit stops and its ``.part`` is removed: resuming it could only exceed the limit again.
- **Free space** is checked before the transfer: the bytes still to come, plus a reserve left for the database,
  against ``shutil.disk_usage``, both numbers in the message (`DiskSpaceError`). A disk that fills up anyway
  (nothing announced) ends the download and removes its ``.part`` at once, so the disk is usable again.
- **Resume:** an existing ``.part`` is continued with a Range request. A 206 whose Content-Range does not start
  where the part ends, or a 200 (the server ignores Range), starts over; a 416 whose total is the part's size
  means the part is already complete. Network failures keep the ``.part`` for the next run.
- **One writer per ``.part``:** it is held with an exclusive ``flock`` while written, so a second process
  downloading the same file fails clearly instead of interleaving bytes, and cleanup skips files in use.
- **Content** is the caller's: `fetch_to_part` calls ``check_start(first bytes, content type)`` on a fresh
  transfer before writing more, and the caller checks the finished ``.part`` before moving it into place.

Nothing here prints; URLs in messages lose their credentials and query string (`redact_url`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

from loratui.errors import ArchiveError, LoratuiError, NotFoundError, RemoteError

if TYPE_CHECKING:  # imported when used: the TUI imports this module at start, httpx costs ~45 ms
    import httpx

MAX_REDIRECTS = 10
SPACE_RESERVE = 64 * 1024 * 1024
"""Bytes a download or an extraction leaves free, so the database and logs can still be written."""
REPORT_EVERY_S = 0.2
START_BYTES = 8
"""How much of a fresh transfer `check_start` sees before more is written."""
_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)

Progress = Callable[[int, "int | None"], None]
"""(bytes done, total or None)."""
StartCheck = Callable[[bytes, str], None]
"""(the first bytes of a fresh transfer, the Content-Type) -> None, or raise to stop and discard it."""


class DiskSpaceError(LoratuiError):
    """Not enough free space for a download or an extraction (what is needed and what is free)."""

    title = "Not enough disk space"


def human_bytes(count: int | float) -> str:
    """A byte count for messages: binary units with two decimals from 1 KiB on (``3.10 GiB``)."""
    if count < 1024:
        return f"{int(count)} bytes"
    value = count / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"


def redact_url(url: str) -> str:
    """`url` for messages and records: scheme, host, port and path; no credentials, no query (signed URLs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def free_space(place: Path) -> tuple[Path, int]:
    """(the nearest existing folder at or above `place`, its free bytes)."""
    probe = Path(place)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe, shutil.disk_usage(probe).free


def require_space(need: int, place: Path, what: str) -> None:
    """DiskSpaceError when the disk holding `place` cannot take `need` more bytes (and the reserve)."""
    where, free = free_space(place)
    if need + SPACE_RESERVE > free:
        raise DiskSpaceError(f"{what} needs {human_bytes(need)} ({need} bytes) in {where}, but only "
                             f"{human_bytes(free)} ({free} bytes) are free (loratui keeps "
                             f"{human_bytes(SPACE_RESERVE)} free)", hint="free some space and run it again")


class Http:
    """A small httpx wrapper: http(s) only at every hop, manual redirects, credentials kept to the first host."""

    def __init__(self, token: str | None = None, timeout: float = 60.0, client: httpx.Client | None = None,
                 auth_hint: str = "check the token"):
        import httpx

        self._token = token
        self.auth_hint = auth_hint
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 20.0)),
                                             follow_redirects=False, headers={"User-Agent": "loratui"})

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def _headers(self, url: str, origin_host: str, extra: dict | None) -> dict:
        headers = dict(extra or {})
        if self._token and urlsplit(url).netloc == origin_host:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _hide(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def open(self, url: str, headers: dict | None = None) -> httpx.Response:
        """GET with streaming, following redirects (each hop http or https); the caller closes the response."""
        import httpx

        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            if urlsplit(url).scheme.lower() not in ("http", "https"):
                raise RemoteError(f"refusing to fetch {redact_url(url)}: only http and https are followed")
            try:
                request = self.client.build_request("GET", url, headers=self._headers(url, origin, headers))
                response = self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise RemoteError(self._hide(f"{redact_url(url)}: {type(exc).__name__}: {exc}")) from None
            except ValueError as exc:  # httpx refuses some malformed URLs with ValueError subclasses
                raise RemoteError(f"cannot fetch {redact_url(url)}: {exc}") from None
            if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                location = response.headers["location"]
                response.close()
                try:
                    url = str(httpx.URL(url).join(location))
                except (httpx.InvalidURL, ValueError):
                    raise RemoteError(f"{redact_url(url)} redirects to an invalid URL") from None
                continue
            return response
        raise RemoteError(f"{redact_url(url)}: more than {MAX_REDIRECTS} redirects")

    def get_json(self, url: str):
        """GET a JSON document; RemoteError/NotFoundError on failure."""
        response = self.open(url, {"Accept": "application/json"})
        try:
            response.read()
            self.raise_for_status(response, url)
            try:
                return response.json()
            except ValueError:
                raise RemoteError(f"{redact_url(url)}: the answer is not JSON") from None
        finally:
            response.close()

    def raise_for_status(self, response: httpx.Response, url: str) -> None:
        """Turn HTTP errors into loratui errors (the URL without its query)."""
        code = response.status_code
        if code < 400:
            return
        where = redact_url(url)
        if code in (401, 403):
            raise RemoteError(f"{where}: access denied (HTTP {code})", hint=self.auth_hint)
        if code == 404:
            raise NotFoundError(f"{where}: not found (HTTP 404)")
        raise RemoteError(f"{where}: HTTP {code}")


@dataclass(frozen=True)
class Fetched:
    """What `fetch_to_part` did."""

    resumed_from: int
    """Bytes of an earlier run's .part that were kept."""
    size: int
    """Bytes in the .part now."""
    content_type: str


def content_type(response: httpx.Response) -> str:
    """The response's Content-Type, printable and short (it is shown in messages)."""
    text = response.headers.get("content-type", "")
    return "".join(ch for ch in text if ch.isprintable())[:80]


def _content_range(response: httpx.Response) -> tuple[int | None, int | None]:
    """(first byte, total) from ``Content-Range: bytes A-B/TOTAL`` or ``bytes */TOTAL``."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", response.headers.get("content-range", ""))
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


def _announced_total(response: httpx.Response, offset: int) -> int | None:
    """The whole file's size as the server announces it, or None."""
    if response.status_code == 206:
        return _content_range(response)[1]
    if response.headers.get("content-encoding", "identity").lower() not in ("", "identity"):
        return None  # Content-Length counts encoded bytes
    length = response.headers.get("content-length", "")
    return int(length) + offset if length.isdigit() else None


class _PartFile:
    """The .part file, opened for appending and held with an exclusive lock while this download writes it."""

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as exc:  # a symlink planted as the .part is refused too (ELOOP)
            raise LoratuiError(f"cannot write {path}: {exc.strerror or exc}",
                               title="Cannot write the download") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise RemoteError(f"{path} is being written by another loratui process ({redact_url(url)})",
                              hint="wait for that download to finish") from None

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def truncate(self) -> None:
        os.ftruncate(self.fd, 0)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def discard(self) -> None:
        """Remove the file (still holding the lock, so no other process starts on it meanwhile)."""
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        os.close(self.fd)


def fetch_to_part(http: Http, url: str, part: Path, *, max_bytes: int | None, what: str,
                  limit_hint: str | None = None, progress: Progress | None = None,
                  check_start: StartCheck | None = None) -> Fetched:
    """Download `url` into `part`, resuming what an earlier run left there; returns what was done.

    `what` names the download in messages; `max_bytes` None means no limit but free space. The finished
    ``.part`` stays where it is: the caller checks its content and moves it into place. Raises RemoteError
    (network; the .part is kept for a resume), ArchiveError (over the limit, or `check_start` refused; the .part
    is removed) or DiskSpaceError (removed when the disk filled up; kept when the check came first).
    """
    handle = _PartFile(part, url)
    try:
        return _fetch(http, url, handle, max_bytes=max_bytes, what=what, limit_hint=limit_hint,
                      progress=progress, check_start=check_start)
    except ArchiveError:
        handle.discard()
        raise
    finally:
        if part.exists() and handle.size() == 0:
            handle.discard()
        handle.close()


def _fetch(http: Http, url: str, handle: _PartFile, *, max_bytes, what, limit_hint, progress,
           check_start) -> Fetched:
    offset = handle.size()
    for _attempt in range(2):
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        response = http.open(url, headers)
        try:
            if response.status_code == 416 and offset:
                if _content_range(response)[1] == offset:
                    return Fetched(offset, offset, content_type(response))  # the .part is already complete
                handle.truncate()  # bigger than the file, or the file changed: start over
                offset = 0
                continue
            http.raise_for_status(response, url)
            if response.status_code == 206:
                start, _total = _content_range(response)
                if start != offset:
                    handle.truncate()
                    offset = 0
                    continue
            elif offset:
                handle.truncate()  # the server ignored the Range: the whole file comes again
                offset = 0
            total = _announced_total(response, offset)
            if max_bytes is not None and total is not None and total > max_bytes:
                raise ArchiveError(f"{what} is {human_bytes(total)} ({total} bytes), over the download limit of "
                                   f"{human_bytes(max_bytes)}; nothing was downloaded", hint=limit_hint)
            if total is not None:
                require_space(total - offset, handle.path.parent, what)
            done = _stream(response, handle, offset, total, max_bytes=max_bytes, what=what,
                           limit_hint=limit_hint, progress=progress, check_start=check_start)
            return Fetched(offset, done, content_type(response))
        finally:
            response.close()
    raise RemoteError(f"{what}: the server answered with a range that was not asked for",
                      hint="run it again with --refetch")


def _stream(response: httpx.Response, handle: _PartFile, offset: int, total: int | None, *, max_bytes, what,
            limit_hint, progress, check_start) -> int:
    import httpx

    done = offset
    head = b"" if offset == 0 and check_start is not None else None
    last = 0.0
    if progress:
        progress(done, total)
    try:
        for block in response.iter_bytes():  # as received: a broken transfer keeps what arrived
            if max_bytes is not None and done + len(block) > max_bytes:
                raise ArchiveError(f"{what} sent more than the download limit of {human_bytes(max_bytes)}: "
                                   "stopped, and the partial file was removed", hint=limit_hint)
            if head is not None:
                head += block[:START_BYTES]
                if len(head) >= START_BYTES:
                    check_start(head[:START_BYTES], content_type(response))
                    head = None
            try:
                handle.write(block)
            except OSError as exc:
                _write_failed(exc, handle, done, what)
            done += len(block)
            now = time.monotonic()
            if progress and now - last >= REPORT_EVERY_S:
                last = now
                progress(done, total)
    except (httpx.HTTPError, OSError) as exc:
        raise RemoteError(f"{what} broke off after {human_bytes(done)} ({type(exc).__name__}: {exc}); "
                          "run the same command again to resume") from None
    if head is not None:
        check_start(head, content_type(response))
    try:
        os.fsync(handle.fd)
    except OSError as exc:
        _write_failed(exc, handle, done, what)
    if progress:
        progress(done, total)
    if total is not None and done < total:
        raise RemoteError(f"{what} stopped at {done} of {total} bytes; run the same command again to resume")
    return done


def _write_failed(exc: OSError, handle: _PartFile, done: int, what: str):
    """A failed write: a full disk frees the space again at once; anything else is reported as it is."""
    if exc.errno in _SPACE_ERRNOS:
        handle.discard()
        where, free = free_space(handle.path.parent)
        raise DiskSpaceError(f"the disk filled up after {human_bytes(done)} of {what} ({where}: "
                             f"{human_bytes(free)} free); the partial file was removed to free the space",
                             hint="free some space and run it again") from None
    raise LoratuiError(f"cannot write {handle.path}: {exc.strerror or exc}",
                       title="Cannot write the download") from None
