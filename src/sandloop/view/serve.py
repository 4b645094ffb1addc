"""``sandloop view --serve``: the pages over HTTP on 127.0.0.1, rewritten while the run goes on.

Part of ``view``, beside :mod:`.output`. The server answers ``GET /`` with the main page, the
other pages it wrote by name, and ``GET /__version`` with ``{"version": ..., "live": ...}``:
asking for the version re-reads the record (at most twice a second) and rewrites what changed,
and a live page polls it every second and reloads when it changes. Only this machine can
connect (it listens on 127.0.0.1), and a request naming another host is refused, so a web page
elsewhere cannot read the pages through DNS rebinding.
"""

from __future__ import annotations

import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sandloop.view.output import Renderer

__all__ = ("ViewServer",)

#: Seconds between two reads of the record, however often pages poll.
MIN_REFRESH = 0.5


class ViewServer:
    """The pages of ``renderer`` served on ``127.0.0.1:port`` (0: any free port).

    Use as a context manager, or call :meth:`start` and :meth:`close`.
    """

    def __init__(self, renderer: Renderer, *, port: int = 0) -> None:
        self.renderer = renderer
        self._lock = threading.Lock()
        self._last = 0.0
        handler = type("_Handler", (_Handler,), {"view": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The main page's address."""
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> ViewServer:
        """Write the pages and serve them from a background thread."""
        self.refresh(force=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Write the pages and serve them until interrupted."""
        self.refresh(force=True)
        self._httpd.serve_forever()

    def close(self) -> None:
        """Stop serving."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> ViewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self, *, force: bool = False) -> str:
        """Re-read the record when it is time; returns the current version."""
        with self._lock:
            now = time.monotonic()
            if force or now - self._last >= MIN_REFRESH:
                self._last = now
                self.renderer.refresh()
            return self.renderer.version

    def file(self, path: str) -> Path | None:
        """The page a request path names, or ``None`` (only pages this server wrote)."""
        name = unquote(urlsplit(path).path).lstrip("/")
        if not name:
            return self.renderer.page
        target = self.renderer.page.parent / name
        return target if target in self.renderer.pages else None


class _Handler(BaseHTTPRequestHandler):
    view: ViewServer

    def do_GET(self) -> None:  # the name http.server calls
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost"):
            self._send(HTTPStatus.FORBIDDEN, b"wrong host\n", "text/plain")
            return
        if urlsplit(self.path).path == "/__version":
            version = self.view.refresh()
            body = json.dumps({"version": version, "live": self.view.renderer.live}).encode()
            self._send(HTTPStatus.OK, body, "application/json")
            return
        file = self.view.file(self.path)
        if file is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            return
        self._send(HTTPStatus.OK, file.read_bytes(), "text/html; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # the names of the base class
        """Quiet: the terminal shows the address, not every poll."""
