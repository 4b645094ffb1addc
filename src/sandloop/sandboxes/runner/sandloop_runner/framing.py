"""Protocol framing: a 4-byte big-endian length and that many bytes of UTF-8 JSON."""

from __future__ import annotations

import json
import os
import struct
from typing import TYPE_CHECKING

from .common import CHUNK, Reply, Request

if TYPE_CHECKING:
    from collections.abc import Iterator

PROTOCOL = 1
HEADER = struct.Struct(">I")
MAX_FRAME = 512 * 1024 * 1024
# Made once: json.dumps with an option makes an encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def reply_limit(req: Request | None) -> int:
    """The largest reply the client accepts for the request (it says so in ``reply_max``)."""
    asked = (req or {}).get("reply_max")
    return min(int(asked), MAX_FRAME) if isinstance(asked, int) and asked > 0 else MAX_FRAME


def too_large(req: Request, size: int) -> Reply:
    """The error sent instead of a reply larger than the client accepts (kept small)."""
    what = f"the reply ({size} bytes) is larger than allowed ({reply_limit(req)})"
    if req.get("op") in ("read", "listdir"):
        path = str(req.get("path") or ".")[:200]
        message = f"{path}: {what}; read less of it (max_bytes)"
        error = {"type": "file", "reason": "too_large", "message": message, "path": path}
    else:
        error = {"type": "request", "message": what + "; ask for less (max_output)"}
    return {"id": req.get("id"), "ok": False, "error": error}


def encode(message: Reply, request: Request | None = None) -> bytes:
    """The frame of a reply to ``request``; an error instead when the client would refuse it."""
    body = _ENCODER.encode(message).encode("utf-8")
    if len(body) > reply_limit(request):
        # The client drops a channel that sends more: the request fails alone instead.
        body = _ENCODER.encode(too_large(request or {}, len(body))).encode()
    return HEADER.pack(len(body)) + body


def read_frames(fd: int) -> Iterator[Request]:
    """The requests arriving on ``fd``, until it ends."""
    buf = bytearray()
    while True:
        chunk = os.read(fd, CHUNK * 4)
        if not chunk:
            return
        buf += chunk
        while len(buf) >= HEADER.size:
            (size,) = HEADER.unpack_from(buf)
            if size > MAX_FRAME:
                raise ValueError(f"frame of {size} bytes exceeds the limit")
            if len(buf) < HEADER.size + size:
                break
            body = bytes(buf[HEADER.size : HEADER.size + size])
            del buf[: HEADER.size + size]
            yield json.loads(body.decode("utf-8"))
