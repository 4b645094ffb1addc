"""RecordingClient: a ResponsesClient that reports every model exchange it makes.

Part of ``client``. The CLI writes run transcripts and ``--record`` cassettes from these
reports; the loop sees an ordinary :class:`ResponsesClient`. Only the final Response of a
streamed answer is reported (the events can be rebuilt from it), once the stream has ended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sandloop.client._stream import ResponseStream, StreamOpener
from sandloop.client.responses import ResponsesClient, request_body
from sandloop.errors import ApiError
from sandloop.items import CompactedResponse, CompactParams, Response, ResponseCreateParams

__all__ = ("ExchangeListener", "RecordingClient")

#: Called with ``(kind, payload)``: ``("request", body)`` before a ``POST /responses`` is sent,
#: ``("response", wire)`` once its final Response is known, ``("error", {"message": ...})``
#: when it failed; ``compact_request`` / ``compact_response`` for ``POST /responses/compact``.
ExchangeListener = Callable[[str, dict[str, Any]], None]


class _ReportingStream(ResponseStream):
    """A ResponseStream that reports its final Response (or its failure) when closed."""

    def __init__(self, opener: StreamOpener, listener: ExchangeListener) -> None:
        super().__init__(opener)
        self._listener = listener
        self._reported = False

    async def aclose(self) -> None:
        await super().aclose()
        if self._reported:
            return
        self._reported = True
        response = self.final_response
        if response is None:
            # Closed before the end (error or cancellation): the caller sees why; we note it.
            self._listener("error", {"message": "the stream ended before its final response"})
            return
        self._listener("response", response.to_wire())


class RecordingClient(ResponsesClient):
    """A :class:`ResponsesClient` that tells ``listener`` about each request and response.

    Args:
        listener: Receives ``(kind, payload)`` for every exchange (see :data:`ExchangeListener`).
            It runs on the event loop: keep it quick (appending to a file is fine).
        **options: Passed to :class:`ResponsesClient`.
    """

    def __init__(self, *, listener: ExchangeListener, **options: Any) -> None:
        super().__init__(**options)
        self.listener = listener

    async def create(
        self, params: ResponseCreateParams | Mapping[str, Any], *, wait: bool = True
    ) -> Response:
        body = request_body(params)
        self.listener("request", body)
        try:
            response = await super().create(body, wait=wait)
        except ApiError as exc:
            self.listener("error", {"message": str(exc)})
            raise
        self.listener("response", response.to_wire())
        return response

    def stream(self, params: ResponseCreateParams | Mapping[str, Any]) -> ResponseStream:
        body = dict(request_body(params), stream=True)
        self.listener("request", body)
        return _ReportingStream(self._stream_opener(body), self.listener)

    async def compact(self, params: CompactParams | Mapping[str, Any]) -> CompactedResponse:
        body = params.to_request() if isinstance(params, CompactParams) else dict(params)
        self.listener("compact_request", body)
        compacted = await super().compact(body)
        self.listener("compact_response", compacted.to_wire())
        return compacted
