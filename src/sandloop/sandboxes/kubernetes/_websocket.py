"""RFC 6455 websocket framing, both ends, and the Kubernetes channel sub-protocols.

Part of ``sandboxes.kubernetes``: the pods ``attach`` subresource speaks a websocket whose
binary messages each start with one *channel* byte (``channel.k8s.io`` and its ``v4.`` and
``v5.`` versions): 0 the process's stdin, 1 stdout, 2 stderr, 3 the server's error/status
channel (a JSON ``Status`` in v4 and v5), 4 terminal resize. ``v5.channel.k8s.io`` adds a
message ``[255, channel]`` that closes one channel (the client closing stdin).

Sans-IO: :class:`FrameReader` turns received bytes into messages and :func:`encode_frame`
makes the bytes of one, so the sandbox's async channel and the test suite's API double share
one codec. Client frames are masked, server frames are not (the RFC's rule, checked on
arrival). Text, binary and continuation frames are joined into messages; ping, pong and close
are control messages handed to the caller.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass

__all__ = (
    "BINARY",
    "CHANNEL_PROTOCOLS",
    "CLOSE",
    "CLOSE_CHANNEL",
    "PING",
    "PONG",
    "TEXT",
    "FrameReader",
    "Message",
    "ProtocolError",
    "accept_key",
    "encode_frame",
    "new_key",
)

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: The Kubernetes stream sub-protocols, newest first.
CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
#: v5's "close this channel" message marker (``[255, channel]``).
CLOSE_CHANNEL = 255
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: The largest message accepted (the runner's own frame limit, with room for base64 and JSON).
MAX_MESSAGE = 768 << 20


class ProtocolError(Exception):
    """The peer broke the websocket protocol (bad framing, masking, size)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One complete message: ``opcode`` is TEXT, BINARY, CLOSE, PING or PONG."""

    opcode: int
    data: bytes


def new_key() -> str:
    """A fresh ``Sec-WebSocket-Key``."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server answers to ``key``."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def _xor(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    size = len(data)
    keystream = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "little") ^ int.from_bytes(keystream, "little")).to_bytes(
        size, "little"
    )


def encode_frame(opcode: int, payload: bytes, *, masked: bool) -> bytes:
    """One final frame (``masked``: a client's frame, with a random mask)."""
    size = len(payload)
    head = bytearray([0x80 | opcode])
    bit = 0x80 if masked else 0
    if size < 126:
        head.append(bit | size)
    elif size < 1 << 16:
        head.append(bit | 126)
        head += struct.pack(">H", size)
    else:
        head.append(bit | 127)
        head += struct.pack(">Q", size)
    if not masked:
        return bytes(head) + payload
    mask = os.urandom(4)
    return bytes(head) + mask + _xor(payload, mask)


class FrameReader:
    """Parses received bytes into messages.

    Args:
        expect_masked: ``True`` on a server (client frames must be masked), ``False`` on a
            client (server frames must not be).
        max_message: The largest message accepted.
    """

    def __init__(self, *, expect_masked: bool, max_message: int = MAX_MESSAGE) -> None:
        self._expect_masked = expect_masked
        self._max = max_message
        self._buf = bytearray()
        self._parts: list[bytes] = []
        self._opcode: int | None = None
        self._size = 0

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; every message they complete, in order.

        Raises:
            ProtocolError: The bytes are not a valid frame sequence.
        """
        self._buf += data
        out: list[Message] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return out
            message = self._assemble(*frame)
            if message is not None:
                out.append(message)

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        fin, rsv, opcode = buf[0] & 0x80, buf[0] & 0x70, buf[0] & 0x0F
        masked, size, offset = bool(buf[1] & 0x80), buf[1] & 0x7F, 2
        if rsv:
            raise ProtocolError("reserved bits set (no extension was negotiated)")
        if masked != self._expect_masked:
            raise ProtocolError("client frames must be masked and server frames not")
        if size == 126:
            if len(buf) < 4:
                return None
            (size,), offset = struct.unpack_from(">H", buf, 2), 4
        elif size == 127:
            if len(buf) < 10:
                return None
            (size,), offset = struct.unpack_from(">Q", buf, 2), 10
        if size > self._max or self._size + size > self._max:
            raise ProtocolError(f"a message of more than {self._max} bytes")
        start = offset + (4 if masked else 0)
        if len(buf) < start + size:
            return None
        mask = bytes(buf[offset:start])
        payload = bytes(buf[start : start + size])
        del buf[: start + size]
        return bool(fin), opcode, _xor(payload, mask) if masked else payload

    def _assemble(self, fin: bool, opcode: int, payload: bytes) -> Message | None:
        if opcode in (CLOSE, PING, PONG):
            if not fin or len(payload) > 125:
                raise ProtocolError("a fragmented or oversized control frame")
            return Message(opcode, payload)
        if opcode not in (CONTINUATION, TEXT, BINARY):
            raise ProtocolError(f"unknown opcode {opcode:#x}")
        if (opcode == CONTINUATION) != (self._opcode is not None):
            raise ProtocolError(
                "a continuation frame outside a fragmented message, or a new message inside one"
            )
        if opcode != CONTINUATION:
            self._opcode = opcode
        self._parts.append(payload)
        self._size += len(payload)
        if not fin:
            return None
        assert self._opcode is not None
        message = Message(self._opcode, b"".join(self._parts))
        self._parts, self._opcode, self._size = [], None, 0
        return message
