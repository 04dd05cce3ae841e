"""Civitai downloads under the download rules of issue 13: schemes at every redirect hop, the declared size as the
limit, free space, `--refetch`, and names too long for the file system."""

from __future__ import annotations

import hashlib
from collections import namedtuple

import pytest

from loratui.errors import ArchiveError, RemoteError
from loratui.http_download import DiskSpaceError
from loratui.loras.civitai import MAX_NAME, download_civitai, safe_filename
from tests.ops.webserver import Route, WebServer


@pytest.fixture
def web():
    with WebServer() as server:
        yield server


def test_a_redirect_to_ftp_is_refused(tmp_path, hub_server, web):
    web.routes["/dl"] = Route(location="ftp://127.0.0.1/m.safetensors")
    hub_server.civitai[8] = {"name": "m.safetensors", "data": b"m" * 100, "url": web.url("/dl")}
    with pytest.raises(RemoteError, match="only http and https are followed"):
        download_civitai("8", tmp_path, token=hub_server.civitai_token)
    assert web.requests == [("/dl", None)] and not list(tmp_path.iterdir())


def test_more_bytes_than_civitai_declares_are_stopped_and_removed(tmp_path, hub_server, web):
    web.routes["/dl"] = Route(b"x" * 3_000_000, length=None)
    hub_server.civitai[10] = {"name": "m.safetensors", "data": b"m" * 100_000, "url": web.url("/dl")}
    with pytest.raises(ArchiveError, match="sent more than the download limit"):
        download_civitai("10", tmp_path, token=hub_server.civitai_token)
    assert not list(tmp_path.iterdir())


def test_a_huge_content_length_is_refused_before_downloading(tmp_path, hub_server, web):
    web.routes["/dl"] = Route(b"x", length=10 * 1000**4)
    hub_server.civitai[11] = {"name": "m.safetensors", "data": b"m" * 100_000, "url": web.url("/dl")}
    with pytest.raises(ArchiveError, match=r"m.safetensors is 9.09 TiB .* over the download limit"):
        download_civitai("11", tmp_path, token=hub_server.civitai_token)
    assert not list(tmp_path.iterdir())


def test_not_enough_free_space_is_refused_before_downloading(tmp_path, hub_server, monkeypatch):
    hub_server.civitai[12] = {"name": "m.safetensors", "data": b"m" * 300_000}
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda path: usage(10**12, 10**12 - 1000, 1000))
    with pytest.raises(DiskSpaceError, match=r"m.safetensors needs 292.97 KiB \(300000 bytes\)"):
        download_civitai("12", tmp_path, token=hub_server.civitai_token)
    assert not list(tmp_path.iterdir())


def test_refetch_discards_the_part_file(tmp_path, hub_server):
    data = hashlib.sha256(b"seed").digest() * 10_000
    hub_server.civitai[13] = {"name": "m.safetensors", "data": data}
    (tmp_path / "m.safetensors.part").write_bytes(data[:1000])
    result = download_civitai("13", tmp_path, token=hub_server.civitai_token, refetch=True)
    assert result.resumed_from == 0 and result.path.read_bytes() == data
    downloads = [r for r in hub_server.requests if r["path"].startswith("/api/download/")]
    assert "range" not in downloads[-1]["headers"]


def test_refetch_from_the_cli(cli, tmp_path, hub_server, monkeypatch):
    monkeypatch.setenv("CIVITAI_API_TOKEN", hub_server.civitai_token)
    hub_server.civitai[14] = {"name": "m.safetensors", "data": b"m" * 5000}
    (tmp_path / "m.safetensors.part").write_bytes(b"junk")
    result = cli("models", "download", "--civitai", "14", "--to", tmp_path, "--refetch", "--json")
    assert result.code == 0, result
    assert result.json()["files"][0]["resumed_from"] == 0
    assert cli("models", "download", "stabilityai/x", "--refetch").code == 2


def test_a_300_character_name_is_shortened_to_fit_the_file_system(tmp_path, hub_server):
    name = "é" * 300 + ".safetensors"
    assert len(safe_filename(name).encode()) <= MAX_NAME and safe_filename(name).endswith("é.safetensors")
    hub_server.civitai[15] = {"name": name, "data": b"m" * 100}
    result = download_civitai("15", tmp_path, token=hub_server.civitai_token)
    assert result.path.exists() and len(result.path.name.encode()) <= MAX_NAME
