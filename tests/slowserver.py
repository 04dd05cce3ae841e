"""A local HTTP server that answers every request with 503, at once or only when released: a Hub or a vision
endpoint that is overloaded or does not answer (tests of preparing jobs, cancels and retries)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    """Every request waits for `server.release` (when `server.hold`), then gets a 503."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        server = self.server
        with server.lock:
            server.requests.append(f"{self.command} {self.path}")
        if self.command == "POST":
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if server.hold:
            server.release.wait(30)
        body = b'{"error": {"message": "overloaded"}}'
        try:
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass

    do_GET = do_HEAD = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@contextmanager
def slow_server(hold: bool):
    """(server, base URL) of a local HTTP server answering 503 to everything; with `hold`, each request first
    waits for ``server.release`` (set on exit). ``server.requests`` lists 'METHOD path' of each request."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.hold, httpd.release, httpd.lock, httpd.requests = hold, threading.Event(), threading.Lock(), []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
