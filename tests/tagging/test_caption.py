"""Captioning through a real local HTTP server speaking the OpenAI chat-completions format."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

KEY = "sk-test-SECRET-1234567890"


class ChatServer(BaseHTTPRequestHandler):
    """POST /v1/chat/completions and GET /v1/models; behaviour set by class attributes per test."""

    models = ["llava-test", "other-model"]
    rate_limit_first = 0
    fail_always: set[str] = set()  # filenames that always get a 500
    delay_s = 0.0
    seen: list[dict] = []
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {KEY}":
            return True
        # Echo the key back like some servers do: the client must never print it.
        self._send(401, {"error": {"message": f"Incorrect API key provided: {self.headers.get('Authorization')}",
                                   "type": "invalid_request_error", "code": "invalid_api_key"}})
        return False

    def do_GET(self):  # noqa: N802
        if not self._authorised():
            return
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                         "owned_by": "test"} for m in self.models]})
        else:
            self._send(404, {"error": {"message": "no such route"}})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.delay_s:
            import time

            time.sleep(self.delay_s)
        if not self._authorised():
            return
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "no such route"}})
            return
        if body["model"] not in self.models:
            self._send(404, {"error": {"message": f"The model `{body['model']}` does not exist",
                                       "type": "invalid_request_error", "code": "model_not_found"}})
            return
        content = body["messages"][0]["content"]
        prompt = next(part["text"] for part in content if part["type"] == "text")
        url = next(part["image_url"]["url"] for part in content if part["type"] == "image_url")
        header, data = url.split(",", 1)
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        with ChatServer.lock:
            ChatServer.seen.append({"prompt": prompt, "header": header, "size": image.size, "format": image.format})
            if ChatServer.rate_limit_first > 0:
                ChatServer.rate_limit_first -= 1
                self._send(429, {"error": {"message": "Rate limit reached", "type": "requests"}},
                           {"Retry-After": "0"})
                return
        if any(name in prompt for name in self.fail_always):
            self._send(500, {"error": {"message": "model crashed"}})
            return
        red, green, blue = image.convert("RGB").resize((1, 1), Image.BOX).getpixel((0, 0))
        colour = "red" if red > max(green, blue) else "green" if green > blue else "blue"
        self._send(200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": f"a {colour} picture. {prompt}"}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107},
        })

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    ChatServer.rate_limit_first = 0
    ChatServer.fail_always = set()
    ChatServer.seen = []
    ChatServer.delay_s = 0.0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ChatServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


@pytest.fixture
def dataset(cli, colour_dataset, monkeypatch):
    monkeypatch.setenv("VLM_KEY", KEY)
    assert cli("dataset", "add", colour_dataset, "--name", "ds").code == 0
    return colour_dataset


def read(root, name):
    path = root / "10_hero" / name
    return path.read_text(encoding="utf-8") if path.exists() else None


def base_args(url):
    return ["caption", "ds", "--base-url", url, "--model", "llava-test", "--api-key-env", "VLM_KEY"]


def test_captions_end_to_end_with_templates_and_usage(cli, dataset, server, home):
    result = cli(*base_args(server), "--prompt", "T={trigger} F={filename} tags=[{tags}] {literal}",
                 "--max-side", "256", "--json")
    assert result.code == 0, result
    report = result.json()
    assert report["written"] == 3 and report["skipped_existing"] == 1
    assert report["total_tokens"] == 3 * 107 and report["prompt_tokens"] == 300
    assert read(dataset, "a_red.txt") == "a red picture. T=hero F=a_red.png tags=[] {literal}"
    assert read(dataset, "b_green.txt").startswith("a green picture. T=hero F=b_green.jpg")
    assert read(dataset, "d_red_captioned.txt") == "my own caption, hand written"
    assert all(s["header"] == "data:image/jpeg;base64" and s["format"] == "JPEG" for s in ChatServer.seen)
    assert all(max(s["size"]) <= 256 for s in ChatServer.seen)
    assert {s["size"] for s in ChatServer.seen} >= {(256, 213)}  # 600x500 shrunk, aspect kept
    conn = sqlite3.connect(home / "loratui.db")
    assert conn.execute("SELECT kind, state FROM operations").fetchall() == [("caption", "applied")]
    job = conn.execute("SELECT status, params FROM jobs WHERE kind = 'caption'").fetchone()
    assert job[0] == "completed" and KEY not in job[1]


def test_prepend_uses_existing_tags(cli, dataset, server):
    result = cli(*base_args(server), "--mode", "prepend", "--prompt", "tags: {tags}")
    assert result.code == 0, result
    text = read(dataset, "d_red_captioned.txt")
    assert text == "a red picture. tags: my own caption, hand written, my own caption, hand written"


def test_rate_limits_are_retried(cli, dataset, server):
    ChatServer.rate_limit_first = 4
    result = cli(*base_args(server), "--concurrency", "2", "--json")
    assert result.code == 0, result
    report = result.json()
    assert report["retries"] == 4 and report["written"] == 3 and report["requests"] == 7


def test_wrong_key_is_a_clear_error_and_never_printed(cli, dataset, server, monkeypatch, home):
    monkeypatch.setenv("VLM_KEY", "sk-wrong-SECRET-999")
    result = cli(*base_args(server), "--mode", "overwrite")
    assert result.code == 2
    assert "rejected the API key (HTTP 401)" in result.err and "$VLM_KEY" in result.err
    assert "sk-wrong-SECRET-999" not in result.err + result.out
    assert read(dataset, "d_red_captioned.txt") == "my own caption, hand written"
    assert read(dataset, "a_red.txt") is None
    conn = sqlite3.connect(home / "loratui.db")
    status, message = conn.execute("SELECT status, message FROM jobs").fetchone()
    assert status == "failed" and "401" in message and "SECRET" not in message


def test_unknown_model_names_the_served_ones(cli, dataset, server):
    args = base_args(server)
    args[args.index("llava-test")] = "gpt-9"
    result = cli(*args)
    assert result.code == 2
    assert "model 'gpt-9' was not found" in result.err and "llava-test, other-model" in result.err


def test_explicit_key_variable_must_exist(cli, dataset, server, monkeypatch):
    monkeypatch.delenv("VLM_KEY")
    result = cli(*base_args(server))
    assert result.code == 2 and "VLM_KEY is not set" in result.err


def test_failed_images_keep_their_caption_and_rerun_retries_only_them(cli, dataset, server, home):
    ChatServer.fail_always = {"b_green"}
    args = [*base_args(server), "--mode", "overwrite", "--retries", "1", "--backoff", "0.01",
            "--prompt", "{filename}", "--json"]
    first = cli(*args)
    assert first.code == 1
    report = first.json()
    assert [path for path, _ in report["failed"]] == ["10_hero/b_green.jpg"]
    assert "HTTP 500 after 2 tries" in report["failed"][0][1]
    assert read(dataset, "b_green.txt") is None
    assert read(dataset, "d_red_captioned.txt") == "a red picture. d_red_captioned.png"
    conn = sqlite3.connect(home / "loratui.db")
    assert conn.execute("SELECT status FROM jobs").fetchone()[0] == "failed"

    ChatServer.fail_always = set()
    ChatServer.seen = []
    second = cli(*args)
    assert second.code == 0, second
    assert second.json()["resumed"] == 3 and second.json()["written"] == 1
    assert [s["prompt"] for s in ChatServer.seen] == ["b_green.jpg"]
    assert read(dataset, "b_green.txt") == "a green picture. b_green.jpg"


def test_unreachable_endpoint(cli, dataset):
    result = cli("caption", "ds", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--retries", "0")
    assert result.code == 2 and "cannot reach http://127.0.0.1:9/v1" in result.err


def test_timeouts_are_retried_then_stop_the_job(cli, dataset, server):
    ChatServer.delay_s = 1.0
    result = cli(*base_args(server), "--timeout", "0.2", "--retries", "1", "--backoff", "0.01", "--concurrency", "1")
    assert result.code == 2 and "timed out after 2 tries" in result.err
    assert read(dataset, "a_red.txt") is None and read(dataset, "d_red_captioned.txt") == "my own caption, hand written"
