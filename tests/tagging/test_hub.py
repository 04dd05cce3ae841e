"""WD14 model download through huggingface_hub from the local fake Hub (HF_ENDPOINT), and offline mode."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests import fakehub

_root = importlib.util.spec_from_file_location("root_conftest", Path(__file__).parents[1] / "conftest.py")
root_conftest = importlib.util.module_from_spec(_root)
_root.loader.exec_module(root_conftest)


@pytest.fixture
def hub(wd14_model, monkeypatch):
    """The fake Hub holding acme/tiny-tagger (its model.onnx in LFS, its tag list in git, like SmilingWolf's)."""
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    with fakehub.serve() as state:
        state.add_file("acme/tiny-tagger", "model.onnx", (wd14_model / "model.onnx").read_bytes())
        state.add_file("acme/tiny-tagger", "selected_tags.csv", (wd14_model / "selected_tags.csv").read_bytes(),
                       lfs=False)
        yield state


def run(home: Path, hf_home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = root_conftest.python_subprocess_env({"LORATUI_HOME": str(home), "HF_HOME": str(hf_home), **env})
    for var in ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE"):
        if var not in env:
            environ.pop(var, None)
    return subprocess.run([sys.executable, "-m", "loratui", *args], env=environ, capture_output=True, text=True,
                          timeout=120)


def test_download_from_endpoint_then_offline_from_cache(cli, home, hub, colour_dataset, tmp_path):
    assert cli("dataset", "add", colour_dataset, "--name", "ds").code == 0
    hf_home = tmp_path / "hf"
    offline = run(home, hf_home, "tag", "ds", "--model", "acme/tiny-tagger", HF_HUB_OFFLINE="1")
    assert offline.returncode == 2
    assert "acme/tiny-tagger/model.onnx is not in the Hugging Face cache and HF_HUB_OFFLINE is set" in offline.stderr
    assert "hf download acme/tiny-tagger model.onnx selected_tags.csv" in offline.stderr
    assert hub.requests == []

    done = run(home, hf_home, "tag", "ds", "--model", "acme/tiny-tagger", HF_ENDPOINT=hub.url)
    assert done.returncode == 0, done.stderr
    # onnxruntime's native logger stays quiet on fd 2 even where CUDA is offered but cannot start
    assert ":onnxruntime:" not in done.stderr and "provider_bridge" not in done.stderr
    assert "/acme/tiny-tagger/resolve/main/model.onnx" in hub.paths("/acme/")
    assert hub.paths("/cdn/acme/tiny-tagger/model.onnx")
    cached = list((hf_home / "hub").glob("models--acme--tiny-tagger/snapshots/*/model.onnx"))
    assert len(cached) == 1
    assert "red_theme" in (colour_dataset / "10_hero" / "a_red.txt").read_text(encoding="utf-8")

    hub.requests.clear()
    again = run(home, hf_home, "tag", "ds", "--model", "acme/tiny-tagger", "--mode", "overwrite",
                HF_HUB_OFFLINE="1", HF_ENDPOINT=hub.url)
    assert again.returncode == 0, again.stderr
    assert hub.requests == []  # served from the cache


def test_missing_repo_file_is_a_clear_error(home, hub, tmp_path, cli, colour_dataset):
    assert cli("dataset", "add", colour_dataset, "--name", "ds").code == 0
    result = run(home, tmp_path / "hf", "tag", "ds", "--model", "acme/other-tagger", HF_ENDPOINT=hub.url)
    assert result.returncode == 2
    assert "no model repo acme/other-tagger" in result.stderr and "Traceback" not in result.stderr
    assert "--list-models" in result.stderr


def test_short_names_map_to_smilingwolf_repos_and_offline_error_names_them(monkeypatch, tmp_path):
    from loratui.errors import ModelError
    from loratui.tagging.registry import KNOWN_MODELS, resolve_model

    assert KNOWN_MODELS["wd-vit-tagger-v3"] == "SmilingWolf/wd-vit-tagger-v3"
    others = {"camie-tagger-v2": "Camais03/camie-tagger-v2", "pixai-tagger-v0.9": "deepghs/pixai-tagger-v0.9-onnx"}
    assert len(KNOWN_MODELS) == 12 and all(v.startswith("SmilingWolf/") for k, v in KNOWN_MODELS.items()
                                           if k not in others)
    assert {k: KNOWN_MODELS[k] for k in others} == others
    import huggingface_hub.constants as hub_constants  # imported before HF_HUB_OFFLINE is set: it reads it once

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelError) as info:
        resolve_model("wd-vit-tagger-v3")
    text = info.value.one_line()
    assert "SmilingWolf/wd-vit-tagger-v3/model.onnx is not in the Hugging Face cache" in text
    assert "hf download SmilingWolf/wd-vit-tagger-v3 model.onnx selected_tags.csv" in text
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "no-such-folder"))


def test_hf_token_reaches_a_private_tagger_repo_and_progress_is_reported(wd14_model, monkeypatch, tmp_path):
    import huggingface_hub.constants as hub_constants

    from loratui.errors import NotFoundError
    from loratui.tagging.registry import resolve_model

    model, tags = (wd14_model / "model.onnx").read_bytes(), (wd14_model / "selected_tags.csv").read_bytes()
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with fakehub.serve() as hub:
        hub.add_file("acme/private-tagger", "model.onnx", model, private=True)
        hub.add_file("acme/private-tagger", "selected_tags.csv", tags, lfs=False)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        with pytest.raises(NotFoundError, match="private repo needs a token") as denied:
            resolve_model("acme/private-tagger")
        assert "--list-models" in denied.value.one_line()

        monkeypatch.setenv("HF_TOKEN", hub.token)
        hub.requests.clear()
        seen = []
        files = resolve_model("acme/private-tagger", progress=lambda *report: seen.append(report))
    assert files.key == "acme/private-tagger" and files.model_path.read_bytes() == model
    assert files.tags_path.read_bytes() == tags
    assert ("model.onnx", len(model), len(model)) in seen and ("selected_tags.csv", len(tags), len(tags)) in seen
    to_hub = [r for r in hub.requests if not r["path"].startswith("/cdn/")]
    assert to_hub and all(r["headers"].get("authorization") == f"Bearer {hub.token}" for r in to_hub)
