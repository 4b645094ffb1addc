"""Event frames: a command's output sent while it runs, coalesced and bounded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .serve import Runner

#: Bytes one output event carries at most; seconds between two flushes.
EVENT_DATA = 8192
EVENT_INTERVAL = 0.1


class OutputStream:
    """Output sent as event frames while a command runs: at most one flush every
    ``EVENT_INTERVAL`` seconds, one frame per stream of at most ``EVENT_DATA`` bytes (the newest
    when more arrived), and no more than ``budget`` bytes per stream in all (``None``: no end).
    """

    def __init__(self, runner: Runner, rid: Any, budget: int | None) -> None:
        self.runner = runner
        self.rid = rid
        self.left = {"stdout": budget, "stderr": budget}
        self.pending = {"stdout": bytearray(), "stderr": bytearray()}
        self.last = 0.0

    def feed(self, name: str, data: bytes) -> None:
        left = self.left[name]
        if left is not None and left <= 0:
            return
        buf = self.pending[name]
        buf += data
        if len(buf) > 2 * EVENT_DATA:
            del buf[:-EVENT_DATA]

    def flush(self, now: float, force: bool = False) -> None:
        if not force and now - self.last < EVENT_INTERVAL:
            return
        for name, buf in self.pending.items():
            if buf:
                self.last = now
                left = self.left[name]
                size = EVENT_DATA if left is None else min(EVENT_DATA, left)
                data = bytes(buf[-size:]) if size > 0 else b""
                buf.clear()
                if data:
                    self.left[name] = None if left is None else left - len(data)
                    self.runner.event(self.rid, "output", stream=name, data=data)
