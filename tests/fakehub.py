"""A local HTTP server speaking the Hugging Face Hub and Civitai endpoints loratui uses, as huggingface_hub calls them.

Hub, as read from huggingface_hub's ``file_download.py`` and ``utils/_http.py``:
- ``HEAD|GET /{repo}/resolve/{revision}/{path}``: an LFS file answers 302 to a CDN on another host (``localhost``
  instead of ``127.0.0.1``, so huggingface_hub drops the token there) with ``X-Repo-Commit``, ``X-Linked-Etag``
  (its SHA-256) and ``X-Linked-Size``; a small git file answers 200 with ``ETag`` (its git blob id). Errors carry
  ``X-Error-Code`` (RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound) as the Hub's do.
- ``GET /api/models/{repo}/revision/{revision}?blobs=True``: the file list (``siblings`` with ``lfs`` and
  ``blobId``).
- ``POST /api/repos/create``, ``/api/validate-yaml``, ``/api/models/{repo}/preupload|commit/{rev}``: uploads.
- ``GET /cdn/...``: the bytes, honouring ``Range``; ``break_after`` cuts the next full transfer of a file short,
  the way a dropped connection does, and ``cdn_bytes`` serves other bytes than the file list's hash.
Civitai: ``/api/v1/model-versions/{id}``, ``/api/v1/models/{id}``, ``/api/download/models/{id}`` (token needed).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


def commit_of(repo: str) -> str:
    """The (fixed) commit id a fake repo is at."""
    return hashlib.sha1(repo.encode()).hexdigest()


def git_blob_id(data: bytes) -> str:
    """The id git gives a blob: what the Hub reports for small files."""
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


class HubState:
    """What the local server holds and saw (request header names in lower case)."""

    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}  # repo id -> {"private", "gated", "files": {path: bytes}, "lfs": set}
        self.civitai: dict[int, dict] = {}  # version id -> {"name", "data", "model_id"}
        self.requests: list[dict] = []
        self.token = "hf_secret_token_123"
        self.civitai_token = "civitai_secret_456"
        self.break_after: dict[str, int] = {}  # file path -> bytes sent before the connection drops (once)
        self.cdn_bytes: dict[str, bytes] = {}  # file path -> what the CDN sends instead (a corrupted copy)
        self.chunk_delay_s = 0.0  # > 0: file bodies go out 256 KiB at a time with this pause between (a slow link)
        self.chunks_sent = 0  # chunks sent that way
        self.port = 0

    @property
    def url(self) -> str:
        """The server's base URL (what HF_ENDPOINT points at)."""
        return f"http://127.0.0.1:{self.port}"

    def add_file(self, repo: str, path: str, data: bytes, lfs: bool = True, *, private: bool = False,
                 gated: bool = False) -> None:
        """Put a file into a repo (created on first use)."""
        entry = self.repos.setdefault(repo, {"private": private, "gated": gated, "files": {}, "lfs": set()})
        entry["files"][path] = data
        if lfs:
            entry["lfs"].add(path)

    def paths(self, prefix: str) -> list[str]:
        """The request paths seen that start with `prefix`, in order."""
        return [r["path"] for r in self.requests if r["path"].startswith(prefix)]


class _Handler(BaseHTTPRequestHandler):
    state: HubState

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _json(self, code: int, body, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _record(self, body: bytes = b"") -> None:
        self.state.requests.append({"method": self.command, "path": self.path,
                                    "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "body": body})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _auth(self, token: str) -> bool:
        return self.headers.get("Authorization") == f"Bearer {token}"

    def _url(self, repo: str) -> str:
        return f"{self.state.url}/{repo}"

    def _repo_error(self, repo: str, revision: str | None) -> bool:
        """Answer like the Hub when the repo cannot be read (missing, private, gated, unknown revision)."""
        entry = self.state.repos.get(repo)
        if entry is None:
            self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        elif (entry["private"] or entry["gated"]) and not self._auth(self.state.token):
            if entry["gated"]:
                self._json(403, {"error": "Access to this model is restricted"}, {"X-Error-Code": "GatedRepo"})
            else:
                self._json(401, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        elif revision is not None and revision not in ("main", commit_of(repo)):
            self._json(404, {"error": "Invalid rev id"}, {"X-Error-Code": "RevisionNotFound"})
        else:
            return False
        return True

    # --- uploads ---------------------------------------------------------------------------------------------------

    def do_POST(self) -> None:  # noqa: N802
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
            self.state.repos[repo] = {"private": private, "gated": False, "files": {}, "lfs": set()}
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

    # --- downloads -------------------------------------------------------------------------------------------------

    def _send_data(self, data: bytes, name: str | None = None, break_key: str | None = None) -> None:
        start = 0
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes="):
            start = int(range_header[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
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
        cut = self.state.break_after.pop(break_key, None) if break_key and not start else None
        if cut is not None:  # promise the whole file, send part of it, hang up
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        if not self.state.chunk_delay_s:
            self.wfile.write(data[start:])
            return
        for offset in range(start, len(data), 256 * 1024):
            try:
                self.wfile.write(data[offset:offset + 256 * 1024])
                self.wfile.flush()
                self.state.chunks_sent += 1
            except OSError:
                return  # the client hung up (a cancelled download)
            time.sleep(self.state.chunk_delay_s)

    def _resolve(self, parts: list[str]) -> None:
        repo, revision, name = f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
        if self._repo_error(repo, revision):
            return
        entry = self.state.repos[repo]
        commit = commit_of(repo)
        data = entry["files"].get(name)
        if data is None:
            return self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound",
                                                                  "X-Repo-Commit": commit})
        if name in entry["lfs"]:
            sha = hashlib.sha256(data).hexdigest()
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.state.port}/cdn/{repo}/{name}?sig=xyz")
            self.send_header("X-Repo-Commit", commit)
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("ETag", f'"{git_blob_id(data)}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{git_blob_id(data)}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(data)

    def _file_list(self, repo: str, revision: str) -> None:
        if self._repo_error(repo, revision):
            return
        entry = self.state.repos[repo]
        siblings = []
        for name, data in entry["files"].items():
            sibling = {"rfilename": name, "size": len(data), "blobId": git_blob_id(data)}
            if name in entry["lfs"]:
                sibling["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            siblings.append(sibling)
        self._json(200, {"id": repo, "sha": commit_of(repo), "private": entry["private"], "siblings": siblings})

    def do_HEAD(self) -> None:  # noqa: N802
        self._record()
        parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(parts)
        self._json(404, {"error": "no route"})

    def do_GET(self) -> None:  # noqa: N802
        self._record()
        split = urlsplit(self.path)
        parts = [unquote(p) for p in split.path.strip("/").split("/")]
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
            return self._file_list(f"{parts[2]}/{parts[3]}", parts[5])
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(parts)
        if parts[0] == "cdn":
            repo, name = f"{parts[1]}/{parts[2]}", "/".join(parts[3:])
            data = self.state.cdn_bytes.get(name, self.state.repos[repo]["files"][name])
            return self._send_data(data, break_key=name)
        if parts[:3] == ["api", "v1", "model-versions"]:
            version = self.state.civitai.get(int(parts[3]))
            if version is None:
                return self._json(404, {"error": "No model version"})
            return self._json(200, {"id": int(parts[3]), "files": [{
                "name": version["name"], "primary": True, "sizeKB": len(version["data"]) / 1024,
                "hashes": {"SHA256": hashlib.sha256(version["data"]).hexdigest().upper()},
                "downloadUrl": version.get("url") or f"{self.state.url}/api/download/models/{parts[3]}"}]})
        if parts[:3] == ["api", "v1", "models"]:
            ids = [vid for vid, v in self.state.civitai.items() if v.get("model_id") == int(parts[3])]
            return self._json(200 if ids else 404, {"id": int(parts[3]), "modelVersions": [{"id": i} for i in ids]})
        if parts[:3] == ["api", "download", "models"]:
            if not self._auth(self.state.civitai_token):
                return self._json(401, {"error": "Unauthorized"})
            version = self.state.civitai[int(parts[3])]
            return self._send_data(version["data"], version["name"])
        self._json(404, {"error": f"no route {split.path}"})


@contextlib.contextmanager
def serve() -> Iterator[HubState]:
    """Run the fake Hub on 127.0.0.1 (a free port) while the block runs."""
    state = HubState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
