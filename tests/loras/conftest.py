"""Tiny LoRA files written with safetensors, kohya key names, for the LoRA library tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.conftest import FIXTURES

REAL_LORA = FIXTURES / "loras" / "tinylora-sd15-dim4.safetensors"

# (module name, kind, out features, in features, rank, alpha)
DEFAULT_MODULES = [
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", "linear", 48, 40, 8, 4.0),
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_2", "linear", 40, 96, 8, 4.0),
    ("lora_unet_down_blocks_0_resnets_0_conv1", "conv3x3", 24, 16, 8, 4.0),
    ("lora_unet_down_blocks_0_attentions_0_proj_in", "conv1x1", 40, 40, 8, 4.0),
    ("lora_te_text_model_encoder_layers_0_mlp_fc1", "linear", 64, 32, 8, 4.0),
]

KOHYA_METADATA = {
    "ss_network_module": "networks.lora",
    "ss_network_dim": "8",
    "ss_network_alpha": "4.0",
    "ss_base_model_version": "sdxl_base_v1-0",
    "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
    "modelspec.title": "mychar",
    "ss_steps": "1200",
    "ss_max_train_steps": "1200",
    "ss_epoch": "6",
    "ss_num_epochs": "6",
    "ss_learning_rate": "0.0001",
    "ss_unet_lr": "0.0001",
    "ss_text_encoder_lr": "5e-05",
    "ss_optimizer": "bitsandbytes.optim.adamw.AdamW8bit",
    "ss_lr_scheduler": "cosine",
    "ss_resolution": "(1024, 1024)",
    "ss_training_comment": "None",
    "ss_seed": "42",
    "ss_dataset_dirs": json.dumps({"10_mychar": {"n_repeats": 10, "img_count": 4},
                                   "2_background": {"n_repeats": 2, "img_count": 3}}),
    "ss_tag_frequency": json.dumps({
        "10_mychar": {"mychar": 4, "1girl": 4, "smile": 2, "red hair": 3},
        "2_background": {"scenery": 3, "sky": 1},
    }),
}


def make_lora(path: Path, modules=DEFAULT_MODULES, metadata: dict | None = None, seed: int = 0,
              dtype=np.float32, zero_modules=()) -> Path:
    """Write a kohya-style LoRA (lora_down / lora_up / alpha per module)."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, kind, out_f, in_f, rank, alpha in modules:
        if kind == "linear":
            down = rng.standard_normal((rank, in_f))
            up = rng.standard_normal((out_f, rank))
        else:
            k = 3 if kind == "conv3x3" else 1
            down = rng.standard_normal((rank, in_f, k, k))
            up = rng.standard_normal((out_f, rank, 1, 1))
        if name in zero_modules:
            up = np.zeros_like(up)
        # decaying singular spectrum, like a trained LoRA
        scale = (0.7 ** np.arange(rank)).reshape((1, rank) + (1,) * (up.ndim - 2))
        tensors[f"{name}.lora_down.weight"] = (down * 0.1).astype(dtype)
        tensors[f"{name}.lora_up.weight"] = (up * scale * 0.05).astype(dtype)
        if alpha is not None:
            tensors[f"{name}.alpha"] = np.array(alpha, dtype=dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


@pytest.fixture
def lora_factory():
    """The `make_lora` helper."""
    return make_lora


@pytest.fixture
def kohya_metadata():
    """A copy of realistic sd-scripts metadata."""
    return dict(KOHYA_METADATA)


@pytest.fixture
def real_lora() -> Path:
    """A real sd-scripts output (tests/fixtures/loras; see the README there)."""
    assert REAL_LORA.is_file(), f"fixture missing: {REAL_LORA}"
    return REAL_LORA


# --- a local HTTP server speaking the Hub and Civitai endpoints loratui uses -------------------------------------

import base64  # noqa: E402
import hashlib  # noqa: E402
import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from urllib.parse import parse_qs, unquote, urlsplit  # noqa: E402


class HubState:
    """What the local server holds and saw."""

    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}  # repo id -> {"private": bool, "files": {path: bytes}}
        self.civitai: dict[int, dict] = {}  # version id -> {"name", "data", "model_id"}
        self.requests: list[dict] = []
        self.token = "hf_secret_token_123"
        self.civitai_token = "civitai_secret_456"
        self.port = 0

    def add_file(self, repo: str, path: str, data: bytes, lfs: bool = True) -> None:
        self.repos.setdefault(repo, {"private": False, "files": {}, "lfs": set()})
        self.repos[repo]["files"][path] = data
        if lfs:
            self.repos[repo]["lfs"].add(path)


class _Handler(BaseHTTPRequestHandler):
    state: HubState

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _json(self, code: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: bytes = b"") -> None:
        self.state.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                    "body": body})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _auth(self, token: str) -> bool:
        return self.headers.get("Authorization") == f"Bearer {token}"

    def do_POST(self) -> None:
        body = self._body()
        self._record(body)
        path = urlsplit(self.path).path
        if not self._auth(self.state.token):
            return self._json(401, {"error": "Invalid credentials"})
        if path == "/api/validate-yaml":  # the Hub checks a README's YAML header before a commit
            content = json.loads(body)["content"]
            ok = content.startswith("---\n") and "\n---\n" in content[4:]
            return self._json(200 if ok else 400, {"errors": [] if ok else [{"message": "bad yaml"}],
                                                   "warnings": []})
        if path == "/api/repos/create":
            payload = json.loads(body)
            repo = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
            if repo in self.state.repos:
                return self._json(409, {"error": "You already created this model repo", "url": self._url(repo)})
            private = bool(payload.get("private")) or payload.get("visibility") == "private"
            self.state.repos[repo] = {"private": private, "files": {}, "lfs": set()}
            return self._json(200, {"url": self._url(repo), "name": repo})
        parts = path.strip("/").split("/")
        if len(parts) >= 6 and parts[:2] == ["api", "models"] and parts[4] in ("preupload", "commit"):
            repo = f"{parts[2]}/{parts[3]}"
            if repo not in self.state.repos:
                return self._json(404, {"error": "Repository not found"})
            if parts[4] == "preupload":
                files = json.loads(body)["files"]
                return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                                   "oid": None} for f in files]})
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    self.state.repos[repo]["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            return self._json(200, {"commitUrl": self._url(repo) + "/commit/abc", "commitOid": "a" * 40,
                                    "pullRequestUrl": None})
        return self._json(404, {"error": f"no route {path}"})

    def _url(self, repo: str) -> str:
        return f"http://127.0.0.1:{self.state.port}/{repo}"

    def _send_data(self, data: bytes, name: str | None = None) -> None:
        start = 0
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes="):
            start = int(range_header[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        if name:
            self.send_header("Content-Disposition", f'attachment; filename="{name}"')
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def do_GET(self) -> None:
        self._record()
        split = urlsplit(self.path)
        parts = [unquote(p) for p in split.path.strip("/").split("/")]
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
            repo = f"{parts[2]}/{parts[3]}"
            entry = self.state.repos.get(repo)
            if entry is None:
                return self._json(404, {"error": "Repository not found"})
            siblings = []
            for name, data in entry["files"].items():
                sibling = {"rfilename": name, "size": len(data)}
                if name in entry["lfs"]:
                    sibling["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                else:
                    sibling["blobId"] = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
                siblings.append(sibling)
            return self._json(200, {"id": repo, "siblings": siblings})
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, name = f"{parts[0]}/{parts[1]}", "/".join(parts[4:])
            if name not in self.state.repos.get(repo, {}).get("files", {}):
                return self._json(404, {"error": "Entry not found"})
            # Like the Hub: redirect to a CDN on another host (here: localhost instead of 127.0.0.1).
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.state.port}/cdn/{repo}/{name}?sig=xyz")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if parts[0] == "cdn":
            repo, name = f"{parts[1]}/{parts[2]}", "/".join(parts[3:])
            return self._send_data(self.state.repos[repo]["files"][name])
        if parts[:3] == ["api", "v1", "model-versions"]:
            version = self.state.civitai.get(int(parts[3]))
            if version is None:
                return self._json(404, {"error": "No model version"})
            return self._json(200, {"id": int(parts[3]), "files": [{
                "name": version["name"], "primary": True, "sizeKB": len(version["data"]) / 1024,
                "hashes": {"SHA256": hashlib.sha256(version["data"]).hexdigest().upper()},
                "downloadUrl": f"http://127.0.0.1:{self.state.port}/api/download/models/{parts[3]}"}]})
        if parts[:3] == ["api", "v1", "models"]:
            ids = [vid for vid, v in self.state.civitai.items() if v.get("model_id") == int(parts[3])]
            return self._json(200 if ids else 404, {"id": int(parts[3]), "modelVersions": [{"id": i} for i in ids]})
        if parts[:3] == ["api", "download", "models"]:
            if not self._auth(self.state.civitai_token):
                return self._json(401, {"error": "Unauthorized"})
            version = self.state.civitai[int(parts[3])]
            return self._send_data(version["data"], version["name"])
        self._json(404, {"error": f"no route {split.path}"})


@pytest.fixture
def hub_server(monkeypatch):
    """A real HTTP server on 127.0.0.1 speaking the Hub and Civitai endpoints; env points loratui at it."""
    state = HubState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{state.port}"
    monkeypatch.setenv("HF_ENDPOINT", base)
    monkeypatch.setenv("LORATUI_CIVITAI_ENDPOINT", base)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
