"""A raw-socket HTTP server that answers every request with one hostile behaviour.

Runs in threads of the test process, so that the client under test can run in a subprocess
whose peak RSS is its own. Bodies are generated lazily: the server never holds a flood.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Self

#: Sends bytes to the client.
Send = Callable[[bytes], None]
#: Writes the answer to one request (headers included) with ``send``.
Behaviour = Callable[[Send], None]

MIB = 1024 * 1024
SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"


class HostileServer:
    """``with HostileServer(behaviour) as server:`` then ``server.url``; counts requests."""

    def __init__(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"
        self.requests = 0
        self.bytes_sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.bytes_sent += len(data)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            header, _, body = head.partition(b"\r\n\r\n")
            length = 0
            for line in header.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            with contextlib.suppress(OSError):  # the client hung up: what it should do
                self._behaviour(lambda data: self._send(conn, data))


def event(payload: dict[str, object]) -> bytes:
    """One SSE event carrying ``payload``."""
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


CREATED = event(
    {
        "type": "response.created",
        "response": {"id": "resp_1", "object": "response", "status": "in_progress", "output": []},
    }
)


def keepalive_forever(send: Send) -> None:
    send(SSE_HEAD + CREATED)
    while True:
        send(b": keepalive\n\n")
        time.sleep(0.05)


def one_byte_per_tick(send: Send) -> None:
    send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n")
    while True:
        send(b" ")
        time.sleep(0.1)


def silent_after_headers(send: Send) -> None:
    send(SSE_HEAD + CREATED)
    time.sleep(30)


def silent_json_body(send: Send) -> None:
    send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
    time.sleep(30)


def delta_flood(send: Send) -> None:
    """600 MB of text deltas, 64 KiB each."""
    delta = event(
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "x" * 65536,
        }
    )
    send(SSE_HEAD + CREATED)
    for _ in range(600 * MIB // len(delta)):
        send(delta)


def long_line(send: Send) -> None:
    """One 100 MB ``data:`` line."""
    send(SSE_HEAD + CREATED + b'data: {"type": "response.output_text.delta", "delta": "')
    piece = b"x" * MIB
    for _ in range(100):
        send(piece)


def _gzip_blocks(filler: bytes, gib: int) -> Iterator[bytes]:
    """A gzip body of ``gib`` GiB of ``filler`` bytes (about 1 MB per GiB), made lazily.

    After a full flush the compressor holds no history, so one 16 MiB block repeats exactly.
    The trailer is left out: a bounded client stops long before it.
    """
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = filler * (16 * MIB // len(filler))
    yield c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    for _ in range(gib * 64 - 1):
        yield block


def gzip_bomb(kind: str) -> Behaviour:
    """A 4 GiB body in about 4 MB of gzip: JSON spaces, or blank SSE lines."""

    def behave(send: Send) -> None:
        ctype = b"application/json" if kind == "json" else b"text/event-stream"
        send(
            b"HTTP/1.1 200 OK\r\ncontent-type: " + ctype + b"\r\ncontent-encoding: gzip\r\n"
            b"connection: close\r\n\r\n"
        )
        for block in _gzip_blocks(b" " if kind == "json" else b"\n", 4):
            send(block)

    return behave


DEEP = b"[" * 100_000 + b"]" * 100_000


def deep_json(send: Send) -> None:
    send(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(DEEP)}\r\n\r\n".encode()
        + DEEP
    )


def deep_event(send: Send) -> None:
    send(SSE_HEAD + CREATED + b"data: " + DEEP + b"\n\n")
