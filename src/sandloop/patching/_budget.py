"""The time a patch may take to match: a cooperative deadline checked inside the matcher.

Part of ``sandloop.patching`` (pure: reading the clock is its only contact with the world).
The apply_patch executor runs the matching in a worker thread with a :class:`Budget`; the
matcher's loops call :meth:`Budget.check`, which raises once the deadline has passed, so a
hostile diff can neither hold the event loop nor keep a thread busy past its budget.
"""

from __future__ import annotations

import time

from sandloop.errors import PatchTimeoutError

__all__ = ("Budget",)


class Budget:
    """A deadline for one patch.

    Args:
        seconds: How long the patch may take from now; ``None`` for no limit.
    """

    __slots__ = ("_deadline", "seconds")

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = seconds
        self._deadline = None if seconds is None else time.monotonic() + seconds

    def check(self) -> None:
        """Raise :class:`~sandloop.errors.PatchTimeoutError` once the deadline has passed."""
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise PatchTimeoutError(
                f"patch matching took longer than {self.seconds:g} s and was stopped: send "
                "smaller hunks with more distinctive context lines.",
                seconds=self.seconds or 0.0,
            )
