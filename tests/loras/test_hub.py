"""Upload against a real local HTTP server speaking the Hub's endpoints (tests/fakehub.py)."""

from __future__ import annotations

import logging

import pytest

from loratui.errors import RemoteError
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
