"""Bounded output capture on the host (the exec fallback's): head and tail of a stream kept.

The same rule as the runner's capture (``runner/sandloop_runner/capture.py``), which the host
does not import: the first and last halves of the cap, and a count of what fell out between.
"""

from __future__ import annotations

__all__ = ("Capture",)

# Trim the tail in batches of about this much, so a flood of small chunks does not copy it often.
_SLACK = 65536


class Capture:
    """Keeps the first and last bytes of a stream and counts what fell out of the middle."""

    def __init__(self, cap: int) -> None:
        self.head_cap = max(cap, 0) // 2
        self.tail_cap = max(cap, 0) - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_cap:
            self.tail += data
            if len(self.tail) > 2 * self.tail_cap + _SLACK:
                del self.tail[: len(self.tail) - self.tail_cap]

    def result(self) -> tuple[bytes, int]:
        tail = bytes(self.tail[-self.tail_cap :]) if self.tail_cap else b""
        body = bytes(self.head) + tail
        return body, self.total - len(body)
