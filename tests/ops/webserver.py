"""A real HTTP server on 127.0.0.1 for the download tests, and crafted zip files for the archive tests.

`WebServer.routes` maps a path to a `Route`, changeable while the server runs (a server that gets fixed).
Every request's path and Range header are kept in `requests`.
"""

from __future__ import annotations

import struct
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Route:
    """What one path answers."""

    body: bytes = b""
    status: int = 200
    content_type: str | None = "application/zip"
    length: int | None | str = "auto"
    """Content-Length: "auto" (the body's), a number (announced, whatever is sent), None (close-delimited)."""
    ranges: bool = True
    """Honour Range requests with 206."""
    cut_first: int | None = None
    """Send only this many bytes of the first full transfer, then hang up."""
    location: str | None = None
    """Answer a 302 to here."""


class WebServer:
    """A threaded HTTP server serving `routes`; use as a context manager."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append((self.path, self.headers.get("Range")))
                route = outer.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                outer.answer(self, route)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str) -> str:
        """The full URL of `path`."""
        return self.base + path

    def answer(self, handler: BaseHTTPRequestHandler, route: Route) -> None:
        """Send `route`'s answer."""
        if route.location is not None:
            handler.send_response(302)
            handler.send_header("Location", route.location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        data, status, start = route.body, route.status, 0
        asked = handler.headers.get("Range")
        if asked and route.ranges and status == 200:
            start = int(asked.split("=")[1].split("-")[0])
            if start >= len(route.body):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(route.body)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            data, status = route.body[start:], 206
        handler.send_response(status)
        if route.content_type:
            handler.send_header("Content-Type", route.content_type)
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{len(route.body) - 1}/{len(route.body)}")
        if route.length == "auto":
            handler.send_header("Content-Length", str(len(data)))
        elif route.length is not None:
            handler.send_header("Content-Length", str(route.length))
        if route.length != "auto":
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        if route.cut_first is not None and status == 200:
            cut, route.cut_first = route.cut_first, None
            handler.wfile.write(data[:cut])
            handler.wfile.flush()
            handler.close_connection = True
            return
        try:
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what these tests want

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "WebServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def raw_zip(path: Path, entries: list[tuple[str, bytes]], *, deflate: bool = True, copies: int = 1,
            overlap: int = 0) -> Path:
    """Write a zip by hand, quickly: each (name, data) compressed once and stored `copies` times (``name`` gets
    ``-N`` for copies after the first). `overlap` adds that many central-directory entries all pointing at the
    first entry's bytes (an overlapping-entries bomb). Returns `path`."""
    locals_, central = bytearray(), bytearray()
    count = 0

    def add(name: bytes, packed: bytes, crc: int, size: int, method: int, offset: int) -> None:
        nonlocal count
        central.extend(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0x800, method, 0, 0, crc, len(packed),
                                   size, len(name), 0, 0, 0, 0, 0, offset) + name)
        count += 1

    first = None
    for name, data in entries:
        packed = zlib.compress(data, 9)[2:-4] if deflate else data
        crc, method = zlib.crc32(data), (8 if deflate else 0)
        for copy in range(copies):
            full = (name if copy == 0 else f"{name}-{copy}").encode("utf-8")
            offset = len(locals_)
            first = first or (full, packed, crc, len(data), method, offset)
            locals_.extend(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0x800, method, 0, 0, crc, len(packed),
                                       len(data), len(full), 0) + full + packed)
            add(full, packed, crc, len(data), method, offset)
    for number in range(overlap):
        add(first[0] + f"-overlap{number}".encode(), *first[1:])
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(locals_), 0)
    path.write_bytes(bytes(locals_) + bytes(central) + end)
    return path
