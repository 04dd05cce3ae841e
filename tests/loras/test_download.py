"""Base-model downloads from the Hub through huggingface_hub, against the local fake Hub (tests/fakehub.py)."""

from __future__ import annotations

import hashlib
import logging
import socket
import time

import pytest

from loratui.errors import ArchiveError, ConflictError, ModelError, NotFoundError, RemoteError
from loratui.hf_download import fetch_file
from loratui.loras.download import download_hf


@pytest.fixture
def hub_terminal():
    """What reaches huggingface_hub's own log handlers (the stderr handler it installs writes to the terminal)."""
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    hub_logger = logging.getLogger("huggingface_hub")
    hub_logger.addHandler(handler)
    yield seen
    hub_logger.removeHandler(handler)


def test_download_checks_the_hash_and_sends_the_token_only_to_the_hub(tmp_path, hub_server, caplog):
    caplog.set_level(logging.DEBUG)
    data = bytes(range(256)) * 4000
    hub_server.add_file("org/base", "model.safetensors", data, private=True)
    hub_server.add_file("org/base", "config.json", b"{}", lfs=False)
    hub_server.add_file("org/base", "unet/diffusion.safetensors", b"x" * 10)
    folder = tmp_path / "models"
    progress = []
    results = download_hf("org/base", folder, token=hub_server.token,
                          progress=lambda name, done, total: progress.append((name, done, total)))
    assert [r.path for r in results] == [folder / "model.safetensors"]  # top-level .safetensors only
    assert results[0].path.read_bytes() == data and results[0].sha256 == hashlib.sha256(data).hexdigest()
    assert not results[0].skipped and progress[-1] == ("model.safetensors", len(data), len(data))
    assert (folder / ".cache" / "huggingface").is_dir()  # huggingface_hub's bookkeeping
    hub_calls = [r for r in hub_server.requests if r["path"].startswith("/api/") or "/resolve/" in r["path"]]
    assert hub_calls and all(r["headers"].get("authorization") == f"Bearer {hub_server.token}" for r in hub_calls)
    cdn = [r for r in hub_server.requests if r["path"].startswith("/cdn/")]
    assert cdn and all("authorization" not in r["headers"] for r in cdn)  # another host: no token
    assert all(hub_server.token not in r["path"] for r in hub_server.requests)
    assert hub_server.token not in caplog.text

    single = download_hf("org/base", folder, file="config.json", token=hub_server.token)
    assert single[0].path.read_bytes() == b"{}"
    nested = download_hf("org/base", folder, file="unet/diffusion.safetensors", token=hub_server.token)
    assert nested[0].path == folder / "unet" / "diffusion.safetensors"  # the repo's layout is kept

    before = len(hub_server.requests)
    again = download_hf("org/base", folder, token=hub_server.token)
    assert again[0].skipped and again[0].sha256 == results[0].sha256
    assert not [r for r in hub_server.requests[before:] if r["path"].startswith("/cdn/")]


def test_a_dropped_connection_is_resumed_with_a_range_request(tmp_path, hub_server, monkeypatch, hub_terminal,
                                                              caplog):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "DOWNLOAD_CHUNK_SIZE", 65536)  # huggingface_hub writes whole chunks
    data = hashlib.sha256(b"seed").digest() * 20000
    hub_server.add_file("org/base", "model.safetensors", data)
    hub_server.break_after["model.safetensors"] = 250_000
    result = download_hf("org/base", tmp_path / "models")[0]
    assert result.path.read_bytes() == data
    ranges = [r["headers"].get("range") for r in hub_server.requests if r["path"].startswith("/cdn/")]
    assert ranges == [None, f"bytes={3 * 65536}-"]  # the whole chunks received before the drop are kept
    assert "Trying to resume download" in caplog.text  # huggingface_hub warned (records reach the root logger)
    assert hub_terminal == []  # ... but not on the terminal


def test_private_gated_and_missing_repos_are_clear_errors(tmp_path, hub_server):
    hub_server.add_file("org/private", "model.safetensors", b"p" * 100, private=True)
    hub_server.add_file("org/gated", "model.safetensors", b"g" * 100, gated=True)
    hub_server.add_file("org/base", "model.safetensors", b"b" * 100)
    folder = tmp_path / "models"
    with pytest.raises(NotFoundError, match="no model repo org/private .*private repo needs a token"):
        download_hf("org/private", folder)
    with pytest.raises(NotFoundError) as wrong:
        download_hf("org/private", folder, token="hf_wrong_token_zzz")
    assert "hf_wrong_token_zzz" not in wrong.value.one_line()
    with pytest.raises(RemoteError, match="org/gated is gated"):
        download_hf("org/gated", folder, file="model.safetensors")
    with pytest.raises(NotFoundError, match="no model repo org/nothing"):
        download_hf("org/nothing", folder)
    with pytest.raises(NotFoundError, match="has no file 'other.safetensors'"):
        download_hf("org/base", folder, file="other.safetensors")
    with pytest.raises(NotFoundError, match="has no revision 'v9'"):
        download_hf("org/base", folder, revision="v9")
    assert not list(folder.glob("*.safetensors"))


def test_offline_mode_answers_from_the_folder_or_with_one_error(tmp_path, hub_server, monkeypatch):
    hub_server.add_file("org/base", "model.safetensors", b"weights" * 100)
    folder = tmp_path / "models"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="cannot list the files of org/base: HF_HUB_OFFLINE is set"):
        download_hf("org/base", folder)
    with pytest.raises(ModelError, match="org/base/model.safetensors is not in .*models and HF_HUB_OFFLINE is set"):
        download_hf("org/base", folder, file="model.safetensors")
    assert hub_server.requests == []

    monkeypatch.delenv("HF_HUB_OFFLINE")
    download_hf("org/base", folder)
    hub_server.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = download_hf("org/base", folder, file="model.safetensors")
    assert offline[0].skipped and offline[0].path.read_bytes() == b"weights" * 100
    assert hub_server.requests == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_hub_is_one_quick_error_without_noise(tmp_path, hub_server, monkeypatch, hub_terminal):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    started = time.monotonic()
    with pytest.raises(RemoteError, match="cannot reach the Hub at http://127.0.0.1:") as listing:
        download_hf("org/base", tmp_path / "models")
    with pytest.raises(RemoteError, match="cannot reach the Hub") as single:
        fetch_file("org/base", "model.onnx", hint="fetch it elsewhere")  # the tagger's path: the HF cache
    assert time.monotonic() - started < 5  # huggingface_hub alone backs off for ~23 s
    assert single.value.hint == "fetch it elsewhere" and listing.value.hint is None
    assert hub_terminal == []


def test_an_existing_different_file_is_not_overwritten(tmp_path, hub_server):
    hub_server.add_file("org/base", "model.safetensors", b"new" * 100)
    hub_server.add_file("org/base", "config.json", b'{"a": 1}', lfs=False)
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"my own file")
    (folder / "config.json").write_bytes(b"{}")
    with pytest.raises(ConflictError, match="nothing was overwritten"):
        download_hf("org/base", folder)
    with pytest.raises(ConflictError, match="nothing was overwritten"):
        download_hf("org/base", folder, file="config.json")  # a small git file: its blob id tells
    assert (folder / "model.safetensors").read_bytes() == b"my own file"
    assert (folder / "config.json").read_bytes() == b"{}"


def test_a_same_file_already_there_is_adopted_without_a_transfer(tmp_path, hub_server):
    data = b"same weights" * 1000
    hub_server.add_file("org/base", "model.safetensors", data)
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(data)  # e.g. fetched by an older loratui or by hand
    result = download_hf("org/base", folder)[0]
    assert result.skipped and result.sha256 == hashlib.sha256(data).hexdigest()
    assert not hub_server.paths("/cdn/")


def test_a_corrupted_transfer_fails_the_hash_check_and_is_removed(tmp_path, hub_server):
    data = b"A" * 300_000
    hub_server.add_file("org/base", "model.safetensors", data)
    hub_server.cdn_bytes["model.safetensors"] = b"B" * len(data)
    folder = tmp_path / "models"
    with pytest.raises(ModelError, match="SHA-256 mismatch"):
        download_hf("org/base", folder)
    assert not (folder / "model.safetensors").exists()
    del hub_server.cdn_bytes["model.safetensors"]
    assert download_hf("org/base", folder)[0].path.read_bytes() == data  # a re-run starts clean


class Stop(Exception):
    pass


def test_a_raising_progress_callback_stops_between_files(tmp_path, hub_server):
    hub_server.add_file("org/base", "a.safetensors", b"a" * 5000)
    hub_server.add_file("org/base", "b.safetensors", b"b" * 5000)
    folder = tmp_path / "models"

    def progress(name, done, total):
        if name == "b.safetensors":
            raise Stop()

    with pytest.raises(Stop):
        download_hf("org/base", folder, progress=progress)
    assert (folder / "a.safetensors").read_bytes() == b"a" * 5000
    assert not (folder / "b.safetensors").exists()
    assert not hub_server.paths("/cdn/org/base/b.safetensors")


def test_a_raising_progress_callback_stops_a_transfer(tmp_path, hub_server, monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "DOWNLOAD_CHUNK_SIZE", 1024)
    monkeypatch.setattr("loratui.hf_download.REPORT_EVERY_S", 0)
    hub_server.add_file("org/base", "a.safetensors", b"a" * 5000)

    def progress(name, done, total):
        if done:
            raise Stop()

    with pytest.raises(Stop):
        fetch_file("org/base", "a.safetensors", local_dir=tmp_path, progress=progress)
    assert not (tmp_path / "a.safetensors").exists()
    assert not list((tmp_path / ".cache").rglob("*.incomplete"))  # huggingface_hub removed its partial file


def test_names_that_leave_the_folder_are_refused(tmp_path, hub_server):
    hub_server.add_file("org/evil", "../x.safetensors", b"x" * 50)
    folder = tmp_path / "dl" / "models"
    with pytest.raises(ArchiveError, match="refusing to write outside"):
        download_hf("org/evil", folder, file="../x.safetensors")
    assert not (tmp_path / "dl" / "x.safetensors").exists()


def test_partial_files_a_killed_run_left_behind_are_removed_once_stale(tmp_path, hub_server):
    import os

    hub_server.add_file("org/base", "model.safetensors", b"w" * 1000)
    partials = tmp_path / ".cache" / "huggingface" / "download"
    partials.mkdir(parents=True)
    stale, live = partials / "abc.123.dead.incomplete", partials / "abc.123.live.incomplete"
    stale.write_bytes(b"x" * 100)
    live.write_bytes(b"x" * 100)
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    download_hf("org/base", tmp_path)
    assert not stale.exists() and live.exists()
