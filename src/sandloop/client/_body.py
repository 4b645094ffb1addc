"""Bounded reading of a server's body: incremental decompression and a JSON depth check.

Both run on hostile input without recursion and without holding more than one piece: the
inflater hands out at most ``PIECE`` bytes per step whatever the ratio of the compressed
input, and the depth check walks only the brackets left once the strings are removed.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

from sandloop.errors import InvalidResponseError, ResponseTooDeepError

__all__ = ("ACCEPT_ENCODING", "PIECE", "Inflater", "check_depth", "loads_bounded")

#: What the client asks for: only the encodings :class:`Inflater` bounds (never br or zstd).
ACCEPT_ENCODING = "gzip, deflate"
#: The most bytes one decompression step produces.
PIECE = 64 * 1024

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class Inflater:
    """Decompress a ``Content-Encoding`` body piece by piece (identity, gzip or deflate)."""

    __slots__ = ("_decoder", "_encoding", "_what")

    def __init__(self, encoding: str, what: str) -> None:
        self._encoding = encoding.strip().lower()
        self._what = what
        self._decoder: Any = None
        if self._encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self._encoding not in ("", "identity", "deflate"):
            raise InvalidResponseError(
                f"{what}: unsupported content-encoding {encoding!r} (asked for {ACCEPT_ENCODING})"
            )

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decompressed pieces of ``data``, each at most ``PIECE`` bytes."""
        if not self._encoding or self._encoding == "identity":
            for start in range(0, len(data), PIECE):
                yield data[start : start + PIECE]
            return
        if self._decoder is None:
            # "deflate" is zlib-wrapped by the RFC, raw deflate by some servers: the header tells.
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        while True:
            try:
                piece = self._decoder.decompress(data, PIECE)
            except zlib.error as exc:
                raise InvalidResponseError(
                    f"{self._what}: bad {self._encoding} body: {exc}"
                ) from exc
            data = self._decoder.unconsumed_tail
            if piece:
                yield piece
            if not data and len(piece) < PIECE:
                return


def check_depth(text: str, limit: int, what: str) -> None:
    """Raise ``ResponseTooDeepError`` when ``text``'s JSON nests deeper than ``limit``."""
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            raise ResponseTooDeepError(
                f"{what}: the JSON nests deeper than {limit} levels (ClientLimits.max_json_depth)",
                limit=limit,
            )


def loads_bounded(text: str, limit: int, what: str) -> Any:
    """``json.loads`` after the depth check; ``ValueError`` when the text is not JSON."""
    check_depth(text, limit, what)
    return json.loads(text)
