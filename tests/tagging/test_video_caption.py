"""Captioning video clips through a real local OpenAI-compatible HTTP server: sampled frames, order, data URLs,
the vLLM video part, journaled writes, and a truncated clip that fails alone."""

from __future__ import annotations

import base64
import io
import json
import os
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

av = pytest.importorskip("av")

FPS = 24
CLIP_FRAMES = 48  # 2 s


def make_clip(path: Path, frames: int = CLIP_FRAMES, size: tuple[int, int] = (96, 64)) -> None:
    """An MPEG-4 clip whose frame k is a solid grey of level 5 * k (so a frame's level tells its time; grey survives
    the YUV round trip within a level or two)."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.bit_rate, stream.codec_context.gop_size = 8_000_000, 1  # near-lossless, every frame a key frame
        for k in range(frames):
            pixels = np.zeros((size[1], size[0], 3), np.uint8)
            pixels[...] = 5 * k
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


class VideoChat(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: records the parts of each message; answers with what it saw."""

    seen: list[dict] = []
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        parts = body["messages"][0]["content"]
        prompt = next(p["text"] for p in parts if p["type"] == "text")
        frames, kinds = [], [p["type"] for p in parts]
        for part in parts:
            if part["type"] == "image_url":
                frames.append(part["image_url"]["url"])
            elif part["type"] == "video_url":
                header, data = part["video_url"]["url"].split(",", 1)
                assert header == "data:video/jpeg;base64"
                frames.extend("data:image/jpeg;base64," + chunk for chunk in data.split(","))
        reds, formats = [], []
        for url in frames:
            header, data = url.split(",", 1)
            image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
            formats.append((header, image.format, image.size))
            reds.append(image.convert("RGB").getpixel((image.width // 2, image.height // 2))[0])
        with VideoChat.lock:
            VideoChat.seen.append({"prompt": prompt, "kinds": kinds, "formats": formats, "reds": reds,
                                   "max_tokens": body.get("max_tokens")})
        answer = f"{len(frames)} frames, reds {'-'.join(str(r) for r in reds)}"
        data = json.dumps({"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": answer}}],
                           "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    VideoChat.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), VideoChat)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


@pytest.fixture
def clips(cli, colour_dataset, store_with, home):
    concept = colour_dataset / "10_hero"
    make_clip(concept / "clip.mp4")
    make_clip(concept / "short.mkv", frames=5)
    make_clip(concept / "broken.mp4")
    assert cli("dataset", "add", colour_dataset, "--name", "ds").code == 0
    kinds = {i["path"]: i["kind"] for i in cli("dataset", "images", "ds", "--json").json()}
    assert [p for p, k in sorted(kinds.items()) if k == "video"] == [
        "10_hero/broken.mp4", "10_hero/clip.mp4", "10_hero/short.mkv"]
    # Cut half way after it was indexed (a sync that died): the index still lists it, reading it fails.
    data = (concept / "broken.mp4").read_bytes()
    (concept / "broken.mp4").write_bytes(data[: len(data) // 2])
    return colour_dataset


def caption_args(url: str, *extra: str) -> list[str]:
    return ["caption", "ds", "--base-url", url, "--model", "qwen-test", "--json", *extra]


def test_clip_frames_are_sampled_in_order_and_the_caption_is_journaled(cli, clips, server, home):
    result = cli(*caption_args(server, "--items", "videos", "--template", "wan-video", "--frames", "8"))
    assert result.code == 1, result  # the truncated clip failed; the others were captioned
    report = result.json()
    assert report["images"] == 3 and report["written"] == 2
    assert [path for path, _ in report["failed"]] == ["10_hero/broken.mp4"]
    assert "cannot read video" in report["failed"][0][1]

    by_count = {len(s["reds"]): s for s in VideoChat.seen}
    clip = next(s for s in VideoChat.seen if s["reds"] and s["reds"][-1] > 150)
    assert clip["kinds"] == ["text"] + ["image_url"] * 8  # the prompt, then one image per frame
    assert all(header == "data:image/jpeg;base64" and fmt == "JPEG" and size == (96, 64)
               for header, fmt, size in clip["formats"])
    # Frame i is the one at the middle of the i-th eighth of the 2 s clip: frames 3, 9, 15, ... 45 (level 5 k).
    expected = [5 * (6 * i + 3) for i in range(8)]
    assert all(abs(got - want) <= 2 for got, want in zip(clip["reds"], expected)), clip["reds"]
    assert clip["reds"] == sorted(clip["reds"])
    assert "8 frames taken in order from one video clip" in clip["prompt"]
    assert "'hero'" in clip["prompt"]  # {trigger}: the class tokens of 10_hero
    assert clip["max_tokens"] == 500  # the template's answer length
    assert 8 in by_count  # the 5-frame clip still gives 8 samples (frames repeat, in order)
    short = next(s for s in VideoChat.seen if s is not clip)
    assert short["reds"] == sorted(short["reds"]) and len(set(short["reds"])) <= 5

    caption = (clips / "10_hero" / "clip.txt").read_text(encoding="utf-8")
    assert caption.startswith("8 frames, reds ")
    assert not (clips / "10_hero" / "broken.txt").exists()
    assert not (clips / "10_hero" / "a_red.txt").exists()  # --items videos left the images alone
    conn = sqlite3.connect(home / "loratui.db")
    assert conn.execute("SELECT kind, state FROM operations").fetchall() == [("caption", "applied")]
    stored = conn.execute("SELECT caption FROM images WHERE rel_path = '10_hero/clip.mp4'").fetchone()[0]
    assert stored == caption


def test_video_url_mode_sends_one_vllm_video_part(cli, clips, server):
    result = cli(*caption_args(server, "--items", "videos", "--video-input", "video_url", "--frames", "4",
                               "--prompt", "{frames} frames of a {media}"))
    assert result.code == 1, result
    assert result.json()["written"] == 2
    for seen in VideoChat.seen:
        assert seen["kinds"] == ["text", "video_url"]
        assert len(seen["reds"]) == 4 and seen["prompt"] == "4 frames of a video clip"
        assert all(fmt == "JPEG" for _, fmt, _ in seen["formats"])


def test_images_and_clips_in_one_run(cli, clips, server):
    result = cli(*caption_args(server, "--frames", "3"))
    report = result.json()
    assert report["written"] == 5 and len(report["failed"]) == 1  # 3 images + 2 clips; one image was captioned
    one_image = [s for s in VideoChat.seen if len(s["reds"]) == 1]
    assert len(one_image) == 3 and all(s["kinds"] == ["text", "image_url"] for s in one_image)
    # A second run retries only the broken clip.
    VideoChat.seen = []
    again = cli(*caption_args(server, "--frames", "3"))
    assert again.json()["resumed"] == 5 and [p for p, _ in again.json()["failed"]] == ["10_hero/broken.mp4"]
    assert VideoChat.seen == []


def test_caption_options_are_checked(cli, clips, server):
    assert "frames per clip must be 1 to 64" in cli(*caption_args(server, "--frames", "0")).err
    assert "unknown caption template 'nope'" in cli(*caption_args(server, "--template", "nope")).err
    assert "unknown caption length" in cli(*caption_args(server, "--length", "huge")).err
