"""When and how long to wait before retrying a request.

Retried: 408, 409, 429, every 5xx, and connection errors (timeouts included). Not retried:
other 4xx, which would fail the same way again. The wait grows exponentially with jitter,
unless the server says how long to wait (``retry-after-ms`` or ``Retry-After``).

Who wants to hear of each retry (the agent loop, which turns them into ``ResponseRetrying``
events for its display) wraps its requests in :func:`observing_retries`. The observer lives in a
context variable, so each task hears only of its own requests, also when many runs share one
client.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from sandloop.errors import ApiError

__all__ = ("RetryNotice", "RetryObserver", "RetryPolicy", "observing_retries", "parse_retry_after")

_RETRY_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a ResponsesClient retries failed requests.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retrying).
        initial_delay: Wait before the first retry, in seconds, before jitter.
        max_delay: Upper bound of the exponential wait.
        jitter: Fraction of the wait that is randomised (0.25: between 75% and 100%), so many
            clients do not retry in lockstep.
        max_retry_after: The longest server-requested wait honoured; a longer one is capped.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    @staticmethod
    def retryable_status(status: int) -> bool:
        """Whether an HTTP status is worth retrying."""
        return status in _RETRY_STATUSES or status >= 500

    def delay(self, retry: int, headers: Mapping[str, str] | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based).

        Args:
            retry: How many retries were already made.
            headers: The failed answer's headers; ``retry-after-ms`` / ``Retry-After`` win.
        """
        asked = parse_retry_after(headers) if headers is not None else None
        if asked is not None:
            return min(asked, self.max_retry_after)
        base = min(self.max_delay, self.initial_delay * 2.0**retry)
        return base * (1.0 - self.jitter * random.random())


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait the server asked for, in seconds, or ``None``.

    Reads ``retry-after-ms`` (milliseconds, OpenAI's header) first, then ``Retry-After`` in
    seconds or as an HTTP date. Negative or unparsable values are ignored.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = -1.0
        if ms >= 0:
            return ms / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(raw).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return seconds if seconds >= 0 else None


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """A request failed before its answer began and is about to be sent again.

    Attributes:
        retry: The 1-based number of this retry (the attempt about to be made is ``retry + 1``).
        max_retries: The policy's retries in all.
        error: Why the last attempt failed (an HTTP error status, no connection, a timeout).
        delay: Seconds the client waits before the next attempt.
    """

    retry: int
    max_retries: int
    error: ApiError
    delay: float


#: What hears of retries: called, and awaited, before the client sleeps.
RetryObserver = Callable[[RetryNotice], Awaitable[None]]

_observer: ContextVar[RetryObserver | None] = ContextVar("sandloop_retry_observer", default=None)


@contextmanager
def observing_retries(observer: RetryObserver) -> Iterator[None]:
    """Within the block, this task's client requests tell ``observer`` of each retry."""
    token = _observer.set(observer)
    try:
        yield
    finally:
        _observer.reset(token)


async def notify_retry(notice: RetryNotice) -> None:
    """Tell the current task's observer, if any, of a retry."""
    observer = _observer.get()
    if observer is not None:
        await observer(notice)
