"""Civitai downloads against the local fake server (tests/fakehub.py): names, token, resume, hash, schemes."""

from __future__ import annotations

import hashlib

import pytest

from loratui.errors import ArchiveError, ConflictError, ModelError, RemoteError
from loratui.loras.civitai import download_civitai, safe_filename


def test_malicious_names_from_the_server_are_sanitised(tmp_path, hub_server):
    evil = b"evil bytes" * 100
    hub_server.civitai[77] = {"name": "../../../outside/evil.safetensors", "data": evil, "model_id": 5}
    folder = tmp_path / "dl" / "models"
    result = download_civitai("https://civitai.com/models/5/some-name", folder, token=hub_server.civitai_token)
    assert result.path == folder / "evil.safetensors" and result.path.read_bytes() == evil
    assert not (tmp_path / "outside").exists() and not (tmp_path / "dl" / "outside").exists()
    assert result.ref == "77" and result.sha256 == hashlib.sha256(evil).hexdigest()
    downloads = [r for r in hub_server.requests if r["path"].startswith("/api/download/")]
    assert downloads and all(hub_server.civitai_token not in r["path"] for r in downloads)  # header, not URL


def test_civitai_needs_the_token_and_never_shows_it(tmp_path, hub_server):
    hub_server.civitai[9] = {"name": "m.safetensors", "data": b"m" * 10}
    with pytest.raises(RemoteError, match="access denied"):
        download_civitai("9", tmp_path, token=None)
    with pytest.raises(RemoteError) as wrong:
        download_civitai("9", tmp_path, token="civitai_wrong_999")
    assert "civitai_wrong_999" not in wrong.value.one_line()
    assert download_civitai("https://civitai.com/models/1?modelVersionId=9", tmp_path,
                            token=hub_server.civitai_token).path.name == "m.safetensors"


def test_an_interrupted_download_resumes_from_its_part_file(tmp_path, hub_server):
    data = hashlib.sha256(b"seed").digest() * 20000
    hub_server.civitai[5] = {"name": "big.safetensors", "data": data}
    (tmp_path / "big.safetensors.part").write_bytes(data[:250_000])
    result = download_civitai("5", tmp_path, token=hub_server.civitai_token)
    assert result.resumed_from == 250_000 and result.path.read_bytes() == data
    assert not (tmp_path / "big.safetensors.part").exists()
    ranged = [r for r in hub_server.requests if r["path"].startswith("/api/download/")]
    assert ranged[-1]["headers"].get("range") == "bytes=250000-"
    again = download_civitai("5", tmp_path, token=hub_server.civitai_token)
    assert again.skipped and again.sha256 == result.sha256


def test_a_corrupt_part_file_fails_the_hash_check_and_a_rerun_starts_clean(tmp_path, hub_server):
    data = b"A" * 300_000
    hub_server.civitai[6] = {"name": "m.safetensors", "data": data}
    (tmp_path / "m.safetensors.part").write_bytes(b"B" * 1000)  # wrong bytes from an earlier attempt
    with pytest.raises(ModelError, match="SHA-256 mismatch"):
        download_civitai("6", tmp_path, token=hub_server.civitai_token)
    assert not (tmp_path / "m.safetensors").exists() and not (tmp_path / "m.safetensors.part").exists()
    assert download_civitai("6", tmp_path, token=hub_server.civitai_token).path.read_bytes() == data


def test_an_existing_different_file_is_not_overwritten(tmp_path, hub_server):
    hub_server.civitai[7] = {"name": "m.safetensors", "data": b"theirs" * 10}
    (tmp_path / "m.safetensors").write_bytes(b"mine")
    with pytest.raises(ConflictError, match="nothing was overwritten"):
        download_civitai("7", tmp_path, token=hub_server.civitai_token)
    assert (tmp_path / "m.safetensors").read_bytes() == b"mine"


def test_only_http_and_https_are_followed(tmp_path, hub_server):
    hub_server.civitai[8] = {"name": "m.safetensors", "data": b"m", "url": "file:///etc/passwd"}
    with pytest.raises(RemoteError, match="only http and https"):
        download_civitai("8", tmp_path, token=hub_server.civitai_token)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name,expected", [
    ("model.safetensors", "model.safetensors"), ("../../etc/passwd", "passwd"), ("a/b\\c.bin", "c.bin"),
    ("..", None), ("/", None), ("...hidden", "hidden"), ("x\x00y\nz.pt", "xyz.pt"), ("C:\\evil.ckpt", "evil.ckpt"),
])
def test_safe_filename(name, expected):
    if expected is None:
        with pytest.raises(ArchiveError):
            safe_filename(name)
    else:
        assert safe_filename(name) == expected
