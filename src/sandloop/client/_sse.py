"""An incremental Server-Sent Events decoder, robust to any chunk boundaries.

Bytes are split into lines before decoding, so a multi-byte UTF-8 character or a ``\\r\\n``
cut between two chunks is handled. Follows the WHATWG event-stream rules the Responses API
needs: ``event:``, ``data:`` (joined by newlines), comments and other fields ignored.
One line and one event are capped (``ResponseTooLargeError``), so a server cannot make the
decoder buffer without end.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandloop.errors import ResponseTooLargeError

__all__ = ("SseDecoder", "SseMessage")


@dataclass(frozen=True, slots=True)
class SseMessage:
    """One dispatched event: its ``event:`` name (``message`` when absent) and its data."""

    event: str
    data: str


class SseDecoder:
    """Feed bytes in, get complete messages out."""

    __slots__ = (
        "_buffer",
        "_data",
        "_data_size",
        "_event",
        "_max_event",
        "_max_line",
        "_pending_cr",
    )

    def __init__(
        self, *, max_line: int = 16 * 1024 * 1024, max_event: int = 16 * 1024 * 1024
    ) -> None:
        self._max_line = max_line
        self._max_event = max_event
        self._data_size = 0
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
            self._check_line(len(self._buffer))
            return []
        messages: list[SseMessage] = []
        lines = self._buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        self._buffer = bytearray(lines.pop())
        self._check_line(len(self._buffer))
        for line in lines:
            self._check_line(len(line))
            message = self._line(line.decode("utf-8", errors="replace"))
            if message is not None:
                messages.append(message)
        return messages

    def close(self) -> list[SseMessage]:
        """End of stream: a last event without its blank line is incomplete and dropped."""
        self._buffer.clear()
        self._data.clear()
        self._data_size = 0
        return []

    @property
    def has_partial(self) -> bool:
        """Whether bytes of an unfinished event are buffered."""
        return bool(self._buffer) or bool(self._data)

    def _check_line(self, size: int) -> None:
        if size > self._max_line:
            raise ResponseTooLargeError(
                f"a line of the stream is longer than {self._max_line} bytes "
                "(ClientLimits.max_line_bytes)",
                what="line",
                limit=self._max_line,
            )

    def _line(self, line: str) -> SseMessage | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            message = SseMessage(self._event or "message", "\n".join(self._data))
            self._event, self._data, self._data_size = "", [], 0
            return message
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data_size += len(value) + 1
            if self._data_size > self._max_event:
                raise ResponseTooLargeError(
                    f"an event of the stream is larger than {self._max_event} bytes "
                    "(ClientLimits.max_event_bytes)",
                    what="event",
                    limit=self._max_event,
                )
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None
