"""ResponseStream: the typed events of one streamed response, and the final Response.

Bytes from the HTTP body go through the SSE decoder, each ``data:`` is parsed into a typed
event (unknown event types are skipped), and the output items are assembled from the events and
checked against the ``response.completed`` payload, which stays authoritative.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self

import anyio

from sandloop.client._assemble import OutputAssembler
from sandloop.client._body import loads_bounded
from sandloop.client._config import ClientLimits
from sandloop.client._http import ERROR_BODY_BYTES, HttpStream
from sandloop.client._sse import SseDecoder
from sandloop.errors import ApiConnectionError, ApiError, InvalidResponseError, ResponseFailedError
from sandloop.items import (
    Response,
    ResponseCompletedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    StreamEvent,
    UnknownEvent,
    parse_event,
)

__all__ = ("ResponseStream", "failed_error")

StreamOpener = Callable[[AsyncExitStack], Awaitable[HttpStream]]
_TERMINAL = (ResponseCompletedEvent, ResponseFailedEvent, ResponseIncompleteEvent)
_DRAIN_SECONDS = 1.0


class ResponseStream:
    """The events of one ``stream=True`` response; use it as an async context manager.

    Example::

        async with client.stream(params) as stream:
            async for event in stream:
                if isinstance(event, ResponseTextDeltaEvent):
                    print(event.delta, end="")
        response = stream.response   # the final, checked Response

    Iterating yields every known event, including the terminal ``response.completed`` or
    ``response.incomplete`` one. A ``response.failed`` event or an ``error`` event raises
    ``ResponseFailedError``; a cut or malformed stream raises ``ApiConnectionError`` or
    ``InvalidResponseError``, never a silent end. A stream past the client's time bounds
    raises ``ResponseStalledError`` / ``ResponseDeadlineError`` (connection errors, retried
    by the agent loop); one past its size caps raises ``ResponseTooLargeError`` or
    ``ResponseTooDeepError``.
    """

    def __init__(self, opener: StreamOpener, limits: ClientLimits | None = None) -> None:
        self._opener = opener
        self._limits = limits if limits is not None else ClientLimits()
        self._stack = AsyncExitStack()
        self._http: HttpStream | None = None
        self._events: AsyncGenerator[StreamEvent] | None = None
        self._response: Response | None = None
        self._assembler = OutputAssembler()

    async def __aenter__(self) -> Self:
        self._http = await self._opener(self._stack)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        if self._events is not None:
            await self._events.aclose()
        await self._stack.aclose()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._http is None:
            raise RuntimeError("use the stream as a context manager: async with client.stream(...)")
        if self._events is None:
            self._events = self._iterate(self._http)
        return self._events

    @property
    def response(self) -> Response:
        """The final Response (``completed`` or ``incomplete``), once the stream has ended.

        Raises:
            RuntimeError: the stream has not ended (see :attr:`final_response` to ask).
        """
        if self._response is None:
            raise RuntimeError("the stream has not finished: iterate it to the end first")
        return self._response

    @property
    def final_response(self) -> Response | None:
        """The final Response once the stream has ended, ``None`` before (or when it broke)."""
        return self._response

    async def get_final_response(self) -> Response:
        """Read the rest of the stream and return the final Response."""
        async for _ in self:
            pass
        return self.response

    async def _iterate(self, http: HttpStream) -> AsyncGenerator[StreamEvent]:
        kind = http.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            body = await http.read(ERROR_BODY_BYTES, truncate=True)
            snippet = body[:200].decode("utf-8", errors="replace")
            raise InvalidResponseError(
                f"expected an event stream (text/event-stream), got {kind or 'no content type'}: "
                f"{snippet!r}"
            )
        limits = self._limits
        decoder = SseDecoder(max_line=limits.max_line_bytes, max_event=limits.max_event_bytes)
        count = 0
        finished = False
        chunks = http.chunks(limits.max_stream_bytes)
        try:
            async for chunk in chunks:
                for message in decoder.feed(chunk):
                    event = _parse(message.data, count, limits.max_json_depth)
                    if event is None:
                        continue
                    count += 1
                    finished = self._take(event)
                    if not isinstance(event, UnknownEvent):
                        yield event
                    if finished:
                        break
                if finished:
                    break
        except ApiConnectionError as exc:
            # A copy keeps the error's class and attributes (seconds of a stall or deadline).
            cut = copy.copy(exc)
            cut.args = (f"{exc} (the stream was cut after {count} events)",)
            raise cut from exc
        if finished:
            await _drain(chunks)
            return
        raise InvalidResponseError(
            f"the event stream ended after {count} events without response.completed, "
            "response.incomplete or response.failed"
        )

    def _take(self, event: StreamEvent) -> bool:
        """Account for one event; return whether it ended the response."""
        if isinstance(event, ResponseErrorEvent):
            raise ResponseFailedError(
                f"the stream reported an error: {event.code or 'error'}: {event.message}",
                code=event.code,
            )
        if isinstance(event, ResponseFailedEvent):
            raise failed_error(event.response)
        if isinstance(event, _TERMINAL):
            self._response = self._assembler.finish(event.response)
            return True
        self._assembler.add(event)
        return False


async def _drain(chunks: AsyncGenerator[bytes]) -> None:
    """Read what follows the terminal event, so the connection goes back to the pool.

    Bounded: a server or proxy that keeps the body open after the response is complete must not
    hold the run; the connection is then closed instead of reused. A cut tail loses nothing.
    """
    with anyio.move_on_after(_DRAIN_SECONDS):
        try:
            async for _ in chunks:
                pass
        except ApiError:
            pass  # a stall, a cut or a flood after the end: the response is already whole
    await chunks.aclose()


def _parse(data: str, count: int, depth: int) -> StreamEvent | None:
    if data == "[DONE]":
        return None
    try:
        payload: Any = loads_bounded(data, depth, f"event {count + 1} of the stream")
    except ValueError as exc:
        snippet = data if len(data) <= 120 else data[:117] + "..."
        raise InvalidResponseError(
            f"event {count + 1} of the stream is not JSON ({exc}): {snippet!r}"
        ) from exc
    if not isinstance(payload, dict):
        raise InvalidResponseError(f"event {count + 1} of the stream is not a JSON object")
    return parse_event(payload)


def failed_error(response: Response) -> ResponseFailedError:
    """The error for a Response whose status is ``failed`` or ``cancelled``."""
    error = response.error
    code = error.code if error is not None else None
    detail = f"{code or 'error'}: {error.message}" if error is not None else "no error details"
    return ResponseFailedError(
        f"response {response.id} {response.status}: {detail}", response=response, code=code
    )
