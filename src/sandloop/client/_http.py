"""The httpx boundary: the only module of sandloop that imports httpx.

One pooled ``httpx.AsyncClient`` per ResponsesClient and event loop: httpx binds its connections
to the loop that opened them, so a session used from a new loop (a second ``run_sync``) opens a
fresh pool there and drops the old one. Every httpx exception is translated into the sandloop
error tree in :func:`map_httpx_errors`, chained with ``from exc``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
import httpx

from sandloop.client._body import ACCEPT_ENCODING, Inflater
from sandloop.client._config import ClientLimits
from sandloop.errors import (
    ApiConnectionError,
    ApiTimeoutError,
    ConfigError,
    InvalidResponseError,
    ResponseDeadlineError,
    ResponseStalledError,
    ResponseTooLargeError,
)

__all__ = (
    "ERROR_BODY_BYTES",
    "HttpResult",
    "HttpSession",
    "HttpStream",
    "Transport",
    "map_httpx_errors",
)

#: How much of an error answer's body is kept (enough for its message).
ERROR_BODY_BYTES = 64 * 1024

#: What ``ResponsesClient(transport=...)`` accepts: any httpx async transport, such as
#: ``httpx.MockTransport`` in unit tests.
Transport = httpx.AsyncBaseTransport


@contextmanager
def map_httpx_errors(what: str) -> Iterator[None]:
    """Translate httpx exceptions raised inside the block into sandloop errors.

    Args:
        what: The operation, for the message (``POST /responses``).
    """
    try:
        yield
    except httpx.TimeoutException as exc:
        kind = type(exc).__name__
        raise ApiTimeoutError(f"{what}: timed out ({kind}): {exc or 'no answer in time'}") from exc
    except httpx.RemoteProtocolError as exc:
        raise ApiConnectionError(f"{what}: the connection broke: {exc}") from exc
    except httpx.UnsupportedProtocol as exc:
        raise ConfigError(f"{what}: unsupported URL: {exc}") from exc
    except httpx.TransportError as exc:
        kind = type(exc).__name__
        raise ApiConnectionError(f"{what}: connection failed ({kind}): {exc}") from exc
    except httpx.DecodingError as exc:
        raise InvalidResponseError(f"{what}: could not decode the body: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{what}: invalid URL: {exc}") from exc


@dataclass(frozen=True, slots=True)
class HttpResult:
    """A complete answer: status, lower-cased headers, the (decompressed) body, and the request
    it answers (``POST http://host/v1/responses``, for messages)."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    request: str = ""


class _Clock:
    """The two time bounds of one request: silence between reads, and the total deadline."""

    __slots__ = ("deadline_at", "idle", "total", "what")

    def __init__(self, idle: float, total: float, what: str) -> None:
        self.idle = idle
        self.total = total
        self.what = what
        self.deadline_at = anyio.current_time() + total

    def deadline_error(self) -> ResponseDeadlineError:
        return ResponseDeadlineError(
            f"{self.what}: no complete answer within the total timeout of {self.total:g}s",
            seconds=self.total,
        )

    def stalled_error(self) -> ResponseStalledError:
        return ResponseStalledError(
            f"{self.what}: no byte of the answer for {self.idle:g}s (idle_timeout)",
            seconds=self.idle,
        )


class HttpStream:
    """An answer whose body is read incrementally, within the request's time bounds."""

    __slots__ = ("_clock", "_encoding", "_inflater", "_raw", "headers", "request", "status")

    def __init__(self, response: httpx.Response, clock: _Clock) -> None:
        self._clock = clock
        self.request = clock.what
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers
        self._inflater: Inflater | None = None
        self._encoding = self.headers.get("content-encoding", "")
        if response.is_stream_consumed:
            # A transport that hands over a read answer (httpx.MockTransport): already decoded.
            self._raw = _once(response.content)
            self._encoding = ""
        else:
            self._raw = response.aiter_raw()

    async def read(self, limit: int, *, truncate: bool = False) -> bytes:
        """The rest of the body, at most ``limit`` bytes: beyond, cut (``truncate``) or refused.

        Raises:
            ResponseTooLargeError: the body is larger than ``limit`` and ``truncate`` is false.
        """
        parts: list[bytes] = []
        size = 0
        async for piece in self.chunks(None if truncate else limit, what="body"):
            # Not truncating, chunks() raises once the body passes the limit.
            parts.append(piece[: limit - size])
            size += len(parts[-1])
            if truncate and size >= limit:
                break
        return b"".join(parts)

    async def chunks(self, limit: int | None, *, what: str = "stream") -> AsyncGenerator[bytes]:
        """The body as it arrives, decompressed, in pieces of at most 64 KiB.

        Raises:
            ResponseTooLargeError: more than ``limit`` bytes (``what`` names the cap).
            ResponseStalledError: no byte for ``idle_timeout``.
            ResponseDeadlineError: the request's total timeout passed.
        """
        if self._inflater is None:
            self._inflater = Inflater(self._encoding, self._clock.what)
        total = 0
        while (raw := await self._next_raw()) is not None:
            for piece in self._inflater.feed(raw):
                total += len(piece)
                if limit is not None and total > limit:
                    raise ResponseTooLargeError(
                        f"{self._clock.what}: the {what} is larger than {limit} bytes "
                        f"(ClientLimits.max_{what}_bytes)",
                        what=what,
                        limit=limit,
                    )
                yield piece

    async def _next_raw(self) -> bytes | None:
        clock = self._clock
        remaining = clock.deadline_at - anyio.current_time()
        if remaining <= 0:
            raise clock.deadline_error()
        with map_httpx_errors(clock.what), anyio.move_on_after(min(clock.idle, remaining)):
            try:
                return await anext(self._raw)
            except StopAsyncIteration:
                return None
        raise clock.deadline_error() if remaining <= clock.idle else clock.stalled_error()


class HttpSession:
    """A pooled HTTP/1.1 session to one base URL, (re)opened per event loop.

    Time bounds: ``timeout`` is the total deadline of one request (connect, send, headers and
    the whole body or stream); ``idle_timeout`` is the longest silence between two reads of the
    body once the headers have arrived. Bodies are read raw and decompressed by
    :class:`Inflater`, so a compressed body is capped by its inflated size.
    """

    __slots__ = ("_base", "_client", "_idle", "_loop", "_options", "_total", "limits")

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        idle_timeout: float,
        connect_timeout: float,
        max_connections: int,
        transport: Transport | None,
        limits: ClientLimits,
    ) -> None:
        self._base = base_url
        self._idle = idle_timeout
        self._total = timeout
        self.limits = limits
        self._options: dict[str, Any] = {
            "base_url": base_url + "/",
            "headers": {"accept-encoding": ACCEPT_ENCODING, **headers},
            # Reads and writes are bounded by the clock of each request (see HttpStream).
            "timeout": httpx.Timeout(None, connect=connect_timeout),
            "limits": httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            "transport": transport,
            "follow_redirects": False,
        }
        self._client: httpx.AsyncClient | None = None
        self._loop: anyio.lowlevel.EventLoopToken | None = None

    def _pool(self) -> httpx.AsyncClient:
        """The pool of the running event loop, opened on first use in it."""
        loop = anyio.lowlevel.current_token()
        if self._client is None or self._loop != loop:
            # A pool of a finished loop cannot be closed from this one; its sockets go with it.
            self._client, self._loop = httpx.AsyncClient(**self._options), loop
        return self._client

    async def request(self, method: str, path: str, *, body: Any = None) -> HttpResult:
        """Send one request and read the whole answer (an error answer's body cut at 64 KiB).

        Raises:
            ResponseTooLargeError: a 2xx body past ``ClientLimits.max_body_bytes``.
        """
        async with self.stream(method, path, body=body) as http:
            if http.status < 300:
                content = await http.read(self.limits.max_body_bytes)
            else:
                content = await http.read(ERROR_BODY_BYTES, truncate=True)
            return HttpResult(http.status, http.headers, content, http.request)

    @asynccontextmanager
    async def stream(
        self, method: str, path: str, *, body: Any = None, sse: bool = False
    ) -> AsyncIterator[HttpStream]:
        """Send one request and expose the answer's body as it arrives."""
        # Errors name the whole URL: which server and path failed is what the user checks first.
        clock = _Clock(self._idle, self._total, f"{method} {self._base}/{path}")
        with map_httpx_errors(clock.what):
            pool = self._pool()
            request = pool.build_request(method, path, **_body_kwargs(body))
            if sse:
                request.headers["accept"] = "text/event-stream"
            with anyio.move_on_after(self._total) as scope:
                response = await pool.send(request, stream=True)
        if scope.cancelled_caught:
            raise clock.deadline_error()
        try:
            yield HttpStream(response, clock)
        finally:
            with map_httpx_errors(clock.what):
                await response.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection of this loop's pool; the next request opens a new one."""
        client, loop, self._client, self._loop = self._client, self._loop, None, None
        if client is None:
            return
        if loop == anyio.lowlevel.current_token():
            await client.aclose()


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content


def _body_kwargs(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    # Compact separators: fewer bytes on the wire for long histories.
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return {"content": content, "headers": {"content-type": "application/json"}}
