"""Upload and download against a real local HTTP server speaking the Hub / Civitai endpoints."""

from __future__ import annotations

import hashlib
import logging

import pytest

from loratui.errors import ArchiveError, ModelError, RemoteError
from loratui.loras.download import download_civitai, download_hf, safe_filename
from loratui.loras.hub import model_card, upload_lora
from loratui.loras.inspect import inspect_file


def test_upload_creates_repo_and_commits_file_and_card(tmp_path, hub_server, lora_factory, kohya_metadata, caplog):
    caplog.set_level(logging.DEBUG)
    path = lora_factory(tmp_path / "mychar.safetensors", metadata=kohya_metadata)
    phases = []
    result = upload_lora(path, "alice/mychar-lora", private=True, token=hub_server.token,
                         progress=lambda phase, done, total: phases.append((phase, done, total)))
    repo = hub_server.repos["alice/mychar-lora"]
    assert repo["private"] is True
    assert repo["files"]["mychar.safetensors"] == path.read_bytes()
    card = repo["files"]["README.md"].decode()
    assert "base_model: stabilityai/stable-diffusion-xl-base-1.0" in card
    assert "`mychar`" in card and "AdamW8bit" in card and "| 10_mychar | 10 | 4 |" in card
    assert result.files == ["mychar.safetensors", "README.md"]
    size = path.stat().st_size
    assert [p[0] for p in phases] == ["creating repo", "hashing", "uploading", "done"]
    assert phases[-1] == ("done", size, size)
    # a second upload into the existing repo works (409 from create is fine)
    upload_lora(path, "alice/mychar-lora", token=hub_server.token)
    # the token went only into the Authorization header, never into a URL, a log record or the result
    assert all(hub_server.token not in r["path"] for r in hub_server.requests)
    assert hub_server.token not in caplog.text and hub_server.token not in repr(result)


def test_upload_with_bad_token_is_a_clear_error(tmp_path, hub_server, lora_factory):
    path = lora_factory(tmp_path / "x.safetensors")
    with pytest.raises(RemoteError) as err:
        upload_lora(path, "alice/x", token="hf_wrong_token_zzz")
    assert "hf_wrong_token_zzz" not in err.value.one_line()


def test_model_card_without_metadata(tmp_path, lora_factory):
    info = inspect_file(lora_factory(tmp_path / "bare.safetensors"))
    card = model_card(info, "bob/bare")
    assert card.startswith("---\nlibrary_name: other") and "# bare" in card and "rank (dim) | 8" in card


def test_download_from_hub_with_hash_check_and_token_dropped_on_redirect(tmp_path, hub_server, caplog):
    caplog.set_level(logging.DEBUG)
    data = bytes(range(256)) * 4000
    hub_server.add_file("org/base", "model.safetensors", data)
    hub_server.add_file("org/base", "config.json", b"{}", lfs=False)
    hub_server.add_file("org/base", "unet/diffusion.safetensors", b"x" * 10)
    progress = []
    results = download_hf("org/base", tmp_path / "models", token=hub_server.token,
                          progress=lambda name, done, total: progress.append((name, done, total)))
    assert [r.path.name for r in results] == ["model.safetensors"]  # top-level .safetensors only
    assert results[0].path.read_bytes() == data and results[0].sha256 == hashlib.sha256(data).hexdigest()
    assert progress[-1] == ("model.safetensors", len(data), len(data))
    api_calls = [r for r in hub_server.requests if r["path"].startswith("/api/") or "/resolve/" in r["path"]]
    assert all(r["headers"].get("Authorization") == f"Bearer {hub_server.token}" for r in api_calls)
    cdn = [r for r in hub_server.requests if r["path"].startswith("/cdn/")]
    assert cdn and all("Authorization" not in r["headers"] for r in cdn)  # another host: no token
    assert hub_server.token not in caplog.text
    # a small non-LFS file is checked against its git blob id
    single = download_hf("org/base", tmp_path / "models", file="config.json")
    assert single[0].path.read_bytes() == b"{}"
    # again: already complete, nothing fetched
    before = len(hub_server.requests)
    again = download_hf("org/base", tmp_path / "models")
    assert again[0].skipped and not [r for r in hub_server.requests[before:] if r["path"].startswith("/cdn/")]


def test_download_resumes_a_partial_file(tmp_path, hub_server):
    data = hashlib.sha256(b"seed").digest() * 20000
    hub_server.add_file("org/base", "model.safetensors", data)
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "model.safetensors.part").write_bytes(data[:250_000])
    result = download_hf("org/base", folder)[0]
    assert result.resumed_from == 250_000
    assert result.path.read_bytes() == data
    assert not (folder / "model.safetensors.part").exists()
    ranged = [r for r in hub_server.requests if r["path"].startswith("/cdn/")]
    assert ranged[-1]["headers"].get("Range") == "bytes=250000-"


def test_an_existing_different_file_is_not_overwritten(tmp_path, hub_server):
    from loratui.errors import ConflictError

    hub_server.add_file("org/base", "model.safetensors", b"new" * 100)
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"my own file")
    with pytest.raises(ConflictError, match="nothing was overwritten"):
        download_hf("org/base", folder)
    assert (folder / "model.safetensors").read_bytes() == b"my own file"


def test_corrupt_partial_download_fails_the_hash_check(tmp_path, hub_server):
    data = b"A" * 300_000
    hub_server.add_file("org/base", "model.safetensors", data)
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "model.safetensors.part").write_bytes(b"B" * 1000)  # wrong bytes from an earlier attempt
    with pytest.raises(ModelError, match="SHA-256 mismatch"):
        download_hf("org/base", folder)
    assert not (folder / "model.safetensors").exists() and not (folder / "model.safetensors.part").exists()
    assert download_hf("org/base", folder)[0].path.read_bytes() == data  # a re-run starts clean


def test_malicious_names_from_the_server_are_sanitised(tmp_path, hub_server):
    evil = b"evil bytes" * 100
    hub_server.civitai[77] = {"name": "../../../outside/evil.safetensors", "data": evil, "model_id": 5}
    folder = tmp_path / "dl" / "models"
    result = download_civitai("https://civitai.com/models/5/some-name", folder, token=hub_server.civitai_token)
    assert result.path == folder / "evil.safetensors" and result.path.read_bytes() == evil
    assert not (tmp_path / "outside").exists() and not (tmp_path / "dl" / "outside").exists()
    assert result.ref == "77"
    # the token went in the header, not the URL
    downloads = [r for r in hub_server.requests if r["path"].startswith("/api/download/")]
    assert downloads and all(hub_server.civitai_token not in r["path"] for r in downloads)
    # a Hub file list with a traversal name lands inside the folder too
    hub_server.add_file("org/evil", "..\\..\\x.safetensors", b"x" * 50)
    result = download_hf("org/evil", folder, file="..\\..\\x.safetensors")[0]
    assert result.path == folder / "x.safetensors"


def test_civitai_needs_the_token(tmp_path, hub_server):
    hub_server.civitai[9] = {"name": "m.safetensors", "data": b"m" * 10}
    with pytest.raises(RemoteError, match="access denied"):
        download_civitai("9", tmp_path, token=None)
    assert download_civitai("https://civitai.com/models/1?modelVersionId=9", tmp_path,
                            token=hub_server.civitai_token).path.name == "m.safetensors"


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
