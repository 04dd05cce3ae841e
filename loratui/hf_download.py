"""Hugging Face Hub downloads through huggingface_hub, shared by the WD14 tagger and the base-model downloads.

``fetch_file`` gets one file of a Hub model repo, either into the Hugging Face cache or into a folder the user
chose (``local_dir``: the file lands at FOLDER/<path in the repo>, and huggingface_hub keeps its bookkeeping in
FOLDER/.cache/huggingface/). huggingface_hub does the transfer: the cache, skipping a file that is already there
and current (one HEAD request compares the Hub's ETag), resuming a connection that drops during a run,
``HF_ENDPOINT``, the token (or the login it stored). ``list_files`` reads a repo's file list with sizes and hashes.

What this module adds around it:

- progress through loratui's callback ``(file name, bytes done, total or None)``: huggingface_hub is handed a
  progress-bar class that draws nothing and calls the callback. A callback that raises (a cancel request) stops
  a plain HTTP transfer at its next report (huggingface_hub reads the body 10 MiB at a time); a Xet transfer
  (Rust threads) stops when the file is done at the latest. A job waiting for a download does not wait for that:
  ``JobRunner.until_cancelled`` lets it go at once.
- ``HF_HUB_OFFLINE`` read at each call (huggingface_hub reads it once, at import): the answer comes from disk, or
  is one clear error.
- one ``LoratuiError`` instead of huggingface_hub's exceptions. A file not on disk yet is first asked for with a
  single HEAD request that does not retry, so an unreachable Hub fails at once instead of after half a minute of
  back-off warnings; free disk space is checked before the transfer.
- nothing on the terminal: huggingface_hub's log records from the calling thread are kept off the stderr handler
  it installs (the TUI owns the terminal, the CLI prints one line per error).

Resuming after an *interrupted run* is not offered by huggingface_hub 2.x (tested: 2.4): each attempt writes a
fresh temporary file (upstream issue huggingface/huggingface_hub#4196), so the file being fetched starts over while
files already finished are kept. (1.x continued the ``.incomplete`` file, but did not resume a connection that
dropped mid-transfer.)
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from loratui.errors import LoratuiError, ModelError, NotFoundError, RemoteError

if TYPE_CHECKING:  # imported when used: the TUI imports this module at start, tqdm costs tens of ms
    from tqdm.std import tqdm

HubProgress = Callable[[str, int, "int | None"], None]
"""(file name, bytes done, total bytes or None)."""

DEFAULT_ENDPOINT = "https://huggingface.co"
REPORT_EVERY_S = 0.2
_NETWORK_MODULES = ("httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3")


@dataclass(frozen=True)
class HubFile:
    """A file on disk after `fetch_file`."""

    path: Path
    transferred: int
    """Bytes fetched by this call; 0 when the file was already on disk and current."""


@dataclass(frozen=True)
class RepoFile:
    """One file of a Hub repo as its file list describes it."""

    name: str
    """Path inside the repo ('/'-separated)."""
    size: int | None
    sha256: str | None
    """The LFS SHA-256; None for a small file kept in git."""
    blob_id: str | None
    """The git blob id (SHA-1 of 'blob SIZE\\0' + content)."""


def offline() -> bool:
    """Whether HF_HUB_OFFLINE is set now."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def endpoint() -> str:
    """The Hub to talk to: $HF_ENDPOINT now, or huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def list_files(repo_id: str, *, revision: str | None = None, token: str | None = None) -> list[RepoFile]:
    """The files of a Hub model repo with sizes and hashes (needs the network)."""
    from huggingface_hub import HfApi

    if offline():
        raise ModelError(f"cannot list the files of {repo_id}: HF_HUB_OFFLINE is set",
                         hint="name the file to use, or unset HF_HUB_OFFLINE")
    with quiet_hub_logs():
        try:
            info = HfApi(endpoint=endpoint(), token=token).model_info(repo_id, revision=revision,
                                                                     files_metadata=True)
        except Exception as exc:
            error = _as_loratui_error(exc, repo_id, None, revision, token)
            if error is None:
                raise
            raise error from None
    return [RepoFile(s.rfilename, s.lfs.size if s.lfs else s.size, s.lfs.sha256 if s.lfs else None, s.blob_id)
            for s in info.siblings or []]


def fetch_file(repo_id: str, filename: str, *, revision: str | None = None, local_dir: Path | None = None,
               token: str | None = None, progress: HubProgress | None = None,
               hint: str | None = None) -> HubFile:
    """One file of a Hub model repo on disk: from the cache / `local_dir` when current, else downloaded.

    `token` None lets huggingface_hub use HF_TOKEN or its stored login. `hint` is added to the errors a user
    fixes by fetching elsewhere (offline, Hub unreachable). LoratuiError on failure; whatever `progress` raises
    (a cancel request) propagates unchanged.
    """
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url

    place = Path(local_dir) if local_dir is not None else Path(constants.HF_HUB_CACHE)
    on_disk = _on_disk(repo_id, filename, revision, local_dir)
    if offline():
        if on_disk is None:
            where = str(place) if local_dir is not None else "the Hugging Face cache"
            raise ModelError(f"{repo_id}/{filename} is not in {where} and HF_HUB_OFFLINE is set", hint=hint)
        return HubFile(on_disk, 0)
    sink = _ProgressSink(filename, progress)
    with quiet_hub_logs():
        try:
            if on_disk is None:
                url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint())
                _check_space(get_hf_file_metadata(url, token=token).size, place)
            path = hf_hub_download(repo_id, filename, revision=revision, local_dir=local_dir, token=token,
                                   endpoint=endpoint(), tqdm_class=sink.bar_class())
        except Exception as exc:
            if sink.raised is not None:
                raise sink.raised from None
            error = _as_loratui_error(exc, repo_id, filename, revision, token, hint=hint, place=place)
            if error is None:
                raise
            raise error from None
    if sink.raised is not None:  # a cancel request made inside a Xet transfer
        raise sink.raised
    return HubFile(Path(path), sink.transferred)


def _on_disk(repo_id: str, filename: str, revision: str | None, local_dir: Path | None) -> Path | None:
    """The copy huggingface_hub would fall back to without the network, if there is one."""
    if local_dir is not None:
        path = Path(local_dir) / filename
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, filename, revision=revision)
    return Path(cached) if isinstance(cached, str) else None


def _check_space(size: int | None, place: Path) -> None:
    """ModelError when the disk holding `place` cannot take `size` more bytes."""
    probe = place
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if size is not None and size > free:
        raise ModelError(f"not enough disk space in {place}: the file needs {size / 1e9:.2f} GB, "
                         f"{free / 1e9:.2f} GB are free")


class _ProgressSink:
    """Counts the bytes huggingface_hub reports and passes them to loratui's callback, throttled."""

    def __init__(self, name: str, progress: HubProgress | None) -> None:
        self.name = name
        self.progress = progress
        self.transferred = 0
        self.raised: BaseException | None = None
        self._last = 0.0

    def report(self, done: int, total: int | None, *, force: bool = False) -> None:
        """Call the callback (at most every REPORT_EVERY_S unless forced); remember what it raises."""
        now = time.monotonic()
        if self.progress is None or self.raised is not None or (not force and now - self._last < REPORT_EVERY_S):
            return
        self._last = now
        try:
            self.progress(self.name, done, total)
        except BaseException as exc:
            self.raised = exc
            raise

    def bar_class(self) -> type[tqdm]:
        """A tqdm class for huggingface_hub's `tqdm_class`: draws nothing, reports to this sink."""
        from tqdm.std import tqdm

        sink = self

        class SinkBar(tqdm):
            def __init__(self, *args, **kwargs) -> None:
                kwargs["disable"] = True
                super().__init__(*args, **kwargs)
                self.done = self.n
                sink.report(self.done, self.total, force=True)

            def update(self, n: float | None = 1) -> None:
                step = int(n or 0)
                self.done += step
                sink.transferred += step
                sink.report(self.done, self.total)

            # A Xet transfer also reports network bytes (compressed, deduplicated): the file bytes above count.
            def update_transfer(self, n: int = 1) -> None:
                pass

            def set_transfer_postfix_str(self, *args, **kwargs) -> None:
                pass

            def close(self) -> None:
                # Never raises: close() runs while an exception unwinds, or from __del__.
                try:
                    sink.report(self.done, self.total, force=True)
                except BaseException:
                    pass
                super().close()

        return SinkBar


class _OtherThreads(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread


@contextmanager
def quiet_hub_logs() -> Iterator[None]:
    """Keep huggingface_hub's log records from this thread off its own handlers (its stderr handler).

    Records still propagate to the root logger, so a log file or pytest's capture sees them.
    """
    handlers = list(logging.getLogger("huggingface_hub").handlers)
    muted = _OtherThreads()
    for handler in handlers:
        handler.addFilter(muted)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(muted)


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _as_loratui_error(exc: Exception, repo_id: str, filename: str | None, revision: str | None,
                      token: str | None, *, hint: str | None = None, place: Path | None = None) -> LoratuiError | None:
    """huggingface_hub's and the network's exceptions as one clear error; None for anything else (a bug)."""
    from huggingface_hub import errors as hf

    what = f"{repo_id}/{filename}" if filename else repo_id
    if isinstance(exc, hf.GatedRepoError):
        return RemoteError(f"{repo_id} is gated: accept its conditions on {endpoint()}/{repo_id} and use a token "
                           "of that account", hint="set HF_TOKEN, or name the variable holding the token")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return NotFoundError(f"no model repo {repo_id} on {endpoint()} (a private repo needs a token that may read "
                             "it)")
    if isinstance(exc, hf.RevisionNotFoundError):
        return NotFoundError(f"{repo_id} has no revision {revision!r}")
    if isinstance(exc, hf.EntryNotFoundError) and not isinstance(exc, hf.LocalEntryNotFoundError):
        return NotFoundError(f"{repo_id} has no file {filename!r}" + (f" at revision {revision}" if revision else ""))
    if isinstance(exc, hf.HfHubHTTPError):
        code = exc.response.status_code if getattr(exc, "response", None) is not None else None
        if code in (401, 403):
            return RemoteError(f"{what}: access denied (HTTP {code})",
                               hint="check the token, or accept the model's conditions on its Hub page")
        return RemoteError(f"{what}: the Hub answered HTTP {code}" if code else
                           f"{what}: {_redact(str(exc).splitlines()[0], token)}")
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return ModelError(f"{what} is not on this machine and HF_HUB_OFFLINE is set", hint=hint)
    network = type(exc).__module__.split(".", 1)[0] in _NETWORK_MODULES or isinstance(
        exc, (ConnectionError, TimeoutError, hf.LocalEntryNotFoundError))
    if network:  # LocalEntryNotFoundError here: the HEAD request failed for want of a connection
        cause = exc.__cause__ or exc
        reason = _redact(str(cause).splitlines()[0] if str(cause) else type(cause).__name__, token)
        return RemoteError(f"cannot reach the Hub at {endpoint()} for {what}: {reason}", hint=hint)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return ModelError(f"the disk is full: {what} does not fit in {place}")
    if isinstance(exc, OSError):  # e.g. huggingface_hub's size check after a broken transfer
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return RemoteError(f"download of {what} failed: {_redact(text, token)}", hint="run it again")
    return None
