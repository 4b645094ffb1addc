"""The httpx boundary: the only module of sandloop that imports httpx.

One pooled ``httpx.AsyncClient`` per ResponsesClient and event loop: httpx binds its connections
to the loop that opened them, so a session used from a new loop (a second ``run_sync``) opens a
fresh pool there and drops the old one. Every httpx exception is translated into
the sandloop error tree in :func:`map_httpx_errors`, chained with ``from exc``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio.lowlevel
import httpx

from sandloop.errors import ApiConnectionError, ApiTimeoutError, ConfigError, InvalidResponseError

__all__ = ("HttpResult", "HttpSession", "HttpStream", "Transport", "map_httpx_errors")

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
    """A complete answer: status, lower-cased headers and the raw body."""

    status: int
    headers: Mapping[str, str]
    content: bytes


class HttpStream:
    """An answer whose body is read incrementally (SSE)."""

    __slots__ = ("_response", "_what", "headers", "status")

    def __init__(self, response: httpx.Response, what: str) -> None:
        self._response = response
        self._what = what
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        """The whole remaining body (used for error answers)."""
        with map_httpx_errors(self._what):
            return await self._response.aread()

    async def chunks(self) -> AsyncGenerator[bytes]:
        """The body as it arrives, decoded from any content-encoding."""
        with map_httpx_errors(self._what):
            async for chunk in self._response.aiter_bytes():
                yield chunk


class HttpSession:
    """A pooled HTTP/1.1 session to one base URL, (re)opened per event loop."""

    __slots__ = ("_client", "_loop", "_options")

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        connect_timeout: float,
        max_connections: int,
        transport: Transport | None,
    ) -> None:
        self._options: dict[str, Any] = {
            "base_url": base_url + "/",
            "headers": dict(headers),
            "timeout": httpx.Timeout(timeout, connect=connect_timeout),
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
        """Send one request and read the whole answer."""
        what = f"{method} /{path}"
        with map_httpx_errors(what):
            response = await self._pool().request(method, path, **_body_kwargs(body))
            return HttpResult(response.status_code, response.headers, response.content)

    @asynccontextmanager
    async def stream(
        self, method: str, path: str, *, body: Any = None
    ) -> AsyncIterator[HttpStream]:
        """Send one request and expose the answer's body as it arrives."""
        what = f"{method} /{path}"
        with map_httpx_errors(what):
            pool = self._pool()
            request = pool.build_request(method, path, **_body_kwargs(body))
            request.headers["accept"] = "text/event-stream"
            response = await pool.send(request, stream=True)
        try:
            yield HttpStream(response, what)
        finally:
            with map_httpx_errors(what):
                await response.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection of this loop's pool; the next request opens a new one."""
        client, loop, self._client, self._loop = self._client, self._loop, None, None
        if client is None:
            return
        if loop == anyio.lowlevel.current_token():
            await client.aclose()


def _body_kwargs(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    # Compact separators: fewer bytes on the wire for long histories.
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return {"content": content, "headers": {"content-type": "application/json"}}
