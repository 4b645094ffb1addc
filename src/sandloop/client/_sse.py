"""An incremental Server-Sent Events decoder, robust to any chunk boundaries.

Bytes are split into lines before decoding, so a multi-byte UTF-8 character or a ``\\r\\n``
cut between two chunks is handled. Follows the WHATWG event-stream rules the Responses API
needs: ``event:``, ``data:`` (joined by newlines), comments and other fields ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("SseDecoder", "SseMessage")


@dataclass(frozen=True, slots=True)
class SseMessage:
    """One dispatched event: its ``event:`` name (``message`` when absent) and its data."""

    event: str
    data: str


class SseDecoder:
    """Feed bytes in, get complete messages out."""

    __slots__ = ("_buffer", "_data", "_event", "_pending_cr")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._event = ""
        self._data: list[str] = []
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[SseMessage]:
        """Decode ``chunk`` and return the messages it completed."""
        if not chunk:
            return []
        if self._pending_cr and chunk.startswith(b"\n"):
            # The previous chunk ended in \r: this \n belongs to the same line break.
            chunk = chunk[1:]
        self._pending_cr = chunk.endswith(b"\r")
        self._buffer += chunk
        if b"\n" not in chunk and b"\r" not in chunk:
            # Fast path for a long line arriving in many small pieces: nothing to rescan.
            return []
        messages: list[SseMessage] = []
        lines = self._buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        self._buffer = bytearray(lines.pop())
        for line in lines:
            message = self._line(line.decode("utf-8", errors="replace"))
            if message is not None:
                messages.append(message)
        return messages

    def close(self) -> list[SseMessage]:
        """End of stream: a last event without its blank line is incomplete and dropped."""
        self._buffer.clear()
        self._data.clear()
        return []

    @property
    def has_partial(self) -> bool:
        """Whether bytes of an unfinished event are buffered."""
        return bool(self._buffer) or bool(self._data)

    def _line(self, line: str) -> SseMessage | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            message = SseMessage(self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return message
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None
