"""A small threaded HTTP/1.1 server for the scripted Responses server.

Built on :mod:`http.server` so it needs no dependency: keep-alive (httpx pools connections),
chunked SSE flushed piece by piece, ``TCP_NODELAY`` so small pieces are not held back, and an
abrupt close for fault injection. Each connection is served on its own thread, so the caller's
event loop is never blocked.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandloop.testing._script import RecordedRequest

__all__ = ("HttpServer", "ResponseWriter")

BASE_PATH = "/v1"


class ResponseWriter:
    """How a request handler answers: JSON, a chunked stream, or a dropped connection."""

    __slots__ = ("_handler", "request_id")

    def __init__(self, handler: _Handler, request_id: str) -> None:
        self._handler = handler
        self.request_id = request_id

    def json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        """Send ``body`` as JSON with ``status``."""
        self.raw(status, json.dumps(body).encode(), "application/json", headers)

    def raw(
        self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send ``data`` as the complete body."""
        h = self._handler
        h.send_response(status)
        h.send_header("content-type", content_type)
        h.send_header("content-length", str(len(data)))
        self._common_headers(headers)
        h.end_headers()
        h.wfile.write(data)

    def stream(
        self, pieces: Iterable[bytes], *, complete: bool = True, coalesce: bool = False
    ) -> None:
        """Send an SSE body with chunked encoding, one HTTP chunk per piece.

        Args:
            pieces: The body bytes, already split where the chunk boundaries should be.
            complete: ``False`` drops the connection after the pieces instead of ending the
                body properly (a stream cut mid-way).
            coalesce: Send everything in one write (fast) instead of flushing each piece.
        """
        h = self._handler
        h.send_response(200)
        h.send_header("content-type", "text/event-stream; charset=utf-8")
        h.send_header("transfer-encoding", "chunked")
        h.send_header("cache-control", "no-cache")
        self._common_headers(None)
        h.end_headers()
        frames = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p]
        if complete:
            frames.append(b"0\r\n\r\n")
        if coalesce:
            frames = [b"".join(frames)]
        for frame in frames:
            h.wfile.write(frame)
        if not complete:
            self.drop()

    def drop(self) -> None:
        """Close the connection at once, without (finishing) an answer."""
        self._handler.close_connection = True
        with contextlib.suppress(OSError):
            self._handler.connection.shutdown(socket.SHUT_RDWR)

    def _common_headers(self, headers: Mapping[str, str] | None) -> None:
        self._handler.send_header("x-request-id", self.request_id)
        for name, value in (headers or {}).items():
            self._handler.send_header(name, value)


Handler = Callable[[RecordedRequest, ResponseWriter], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    number = 0

    def setup(self) -> None:
        super().setup()
        self.number = self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        received = time.monotonic()
        writer = ResponseWriter(self, self.server.next_request_id())
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError as exc:
            error = {"message": f"request body is not JSON: {exc}", "type": "invalid_request_error"}
            writer.json(400, {"error": error})
            return
        path = self.path.split("?", 1)[0]
        path = path[len(BASE_PATH) :] if path.startswith(BASE_PATH + "/") else path
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = RecordedRequest(method, path, headers, body, received, self.number)
        self.server.app(request, writer)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: Handler) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._request_count = 0
        self._connection_count = 0

    def track(self, conn: socket.socket, *, add: bool) -> int:
        """Remember (or forget) an open connection; return how many were opened so far."""
        with self._lock:
            if add:
                self._connections[conn] = threading.current_thread()
                self._connection_count += 1
            else:
                self._connections.pop(conn, None)
            return self._connection_count

    def next_request_id(self) -> str:
        with self._lock:
            self._request_count += 1
            return f"req_scripted_{self._request_count:06d}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up (or a connection we dropped on purpose) is not an error."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self, timeout: float = 10.0) -> None:
        """Shut every open connection down and wait for its handler thread to finish."""
        with self._lock:
            open_ = list(self._connections.items())
        for conn, _ in open_:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for _, thread in open_:
            # Handlers are daemon threads (a forgotten server must not block exit), so wait
            # for them here: closing the server leaves nothing running.
            thread.join(timeout)


class HttpServer:
    """Serve ``app`` on 127.0.0.1 (an ephemeral port) from a background thread."""

    def __init__(self, app: Handler) -> None:
        self._server = _Server(app)
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start accepting connections."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"scripted-responses-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop accepting, close open keep-alive connections and wait for handler threads."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()
