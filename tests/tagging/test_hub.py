"""Model download through huggingface-hub from a local Hub-like HTTP endpoint (HF_ENDPOINT), and offline mode."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

_root = importlib.util.spec_from_file_location("root_conftest", Path(__file__).parents[1] / "conftest.py")
root_conftest = importlib.util.module_from_spec(_root)
_root.loader.exec_module(root_conftest)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub(BaseHTTPRequestHandler):
    """Serves /{owner}/{repo}/resolve/{revision}/{file} the way the Hub does for plain (non-xet) files."""

    files: dict[str, bytes] = {}
    requests: list[str] = []

    def _file(self) -> bytes | None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 5 and parts[2] == "resolve":
            return self.files.get(f"{parts[0]}/{parts[1]}/{parts[4]}")
        return None

    def _headers(self, data: bytes | None) -> None:
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()

    def do_HEAD(self):  # noqa: N802
        self.requests.append(f"HEAD {self.path}")
        self._headers(self._file())

    def do_GET(self):  # noqa: N802
        self.requests.append(f"GET {self.path}")
        data = self._file()
        self._headers(data)
        if data is not None:
            self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(wd14_model):
    FakeHub.files = {f"acme/tiny-tagger/{name}": (wd14_model / name).read_bytes()
                     for name in ("model.onnx", "selected_tags.csv")}
    FakeHub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def run(home: Path, hf_home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = root_conftest.python_subprocess_env({"LORATUI_HOME": str(home), "HF_HOME": str(hf_home), **env})
    for var in ("HF_HUB_OFFLINE", "HF_TOKEN"):
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
    assert FakeHub.requests == []

    done = run(home, hf_home, "tag", "ds", "--model", "acme/tiny-tagger", HF_ENDPOINT=hub)
    assert done.returncode == 0, done.stderr
    # onnxruntime's native logger stays quiet on fd 2 even where CUDA is offered but cannot start
    assert ":onnxruntime:" not in done.stderr and "provider_bridge" not in done.stderr
    assert any(r.startswith("GET /acme/tiny-tagger/resolve/main/model.onnx") for r in FakeHub.requests)
    cached = list((hf_home / "hub").glob("models--acme--tiny-tagger/snapshots/*/model.onnx"))
    assert len(cached) == 1
    assert "red_theme" in (colour_dataset / "10_hero" / "a_red.txt").read_text(encoding="utf-8")

    FakeHub.requests.clear()
    again = run(home, hf_home, "tag", "ds", "--model", "acme/tiny-tagger", "--mode", "overwrite",
                HF_HUB_OFFLINE="1", HF_ENDPOINT=hub)
    assert again.returncode == 0, again.stderr
    assert FakeHub.requests == []  # served from the cache


def test_missing_repo_file_is_a_clear_error(home, hub, tmp_path, cli, colour_dataset):
    assert cli("dataset", "add", colour_dataset, "--name", "ds").code == 0
    result = run(home, tmp_path / "hf", "tag", "ds", "--model", "acme/other-tagger", HF_ENDPOINT=hub)
    assert result.returncode == 2
    assert "acme/other-tagger" in result.stderr and "Traceback" not in result.stderr


def test_short_names_map_to_smilingwolf_repos_and_offline_error_names_them(monkeypatch, tmp_path):
    from loratui.errors import ModelError
    from loratui.tagging.registry import KNOWN_MODELS, resolve_model

    assert KNOWN_MODELS["wd-vit-tagger-v3"] == "SmilingWolf/wd-vit-tagger-v3"
    assert len(KNOWN_MODELS) == 10 and all(v.startswith("SmilingWolf/") for v in KNOWN_MODELS.values())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelError) as info:
        resolve_model("wd-vit-tagger-v3")
    text = info.value.one_line()
    assert "SmilingWolf/wd-vit-tagger-v3/model.onnx is not in the Hugging Face cache" in text
    assert "hf download SmilingWolf/wd-vit-tagger-v3 model.onnx selected_tags.csv" in text
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "no-such-folder"))
