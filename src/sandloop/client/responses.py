"""ResponsesClient: the async client of the Responses API used by the agent loop.

Sits between the loop and the network: it builds nothing itself (the loop hands it a
``ResponseCreateParams``), sends it with retries, and hands back parsed ``sandloop.items``
models. Only ``items`` and ``errors`` are imported; httpx stays behind ``_http``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio

from sandloop.client._body import loads_bounded
from sandloop.client._config import NO_KEY, ClientLimits, resolve_config
from sandloop.client._errors import status_error
from sandloop.client._http import ERROR_BODY_BYTES, HttpSession, HttpStream
from sandloop.client._retry import RetryNotice, RetryPolicy, notify_retry
from sandloop.client._stream import ResponseStream, StreamOpener, failed_error
from sandloop.errors import (
    ApiConnectionError,
    ApiError,
    ApiStatusError,
    ConfigError,
    InvalidResponseError,
)
from sandloop.items import (
    CompactedResponse,
    CompactParams,
    Response,
    ResponseCreateParams,
    dump_items,
    parse_compacted_response,
    parse_response,
)

if TYPE_CHECKING:
    from sandloop.client._http import Transport

__all__ = ("ResponsesClient",)

logger = logging.getLogger("sandloop.client")

_PENDING = frozenset({"queued", "in_progress"})
_FAILED = frozenset({"failed", "cancelled"})
Params = ResponseCreateParams | Mapping[str, Any]


class ResponsesClient:
    """An async client for ``/responses``: create, stream, retrieve, cancel, compact.

    One pooled HTTP connection pool per client: create it once, use it for many requests, and
    close it with ``aclose()`` or ``async with``. Failed requests are retried (408, 409, 429,
    5xx and connection errors) with exponential backoff and jitter, honouring ``Retry-After``.

    A response with status ``failed`` (or ``cancelled``) raises ``ResponseFailedError``; an
    ``incomplete`` one is returned for the caller to inspect ``incomplete_details``.

    Args:
        api_key: Defaults to ``OPENAI_API_KEY``. Not needed for a server on this machine
            (127.0.0.1, ``localhost``); without one, requests carry ``Authorization: Bearer
            sandloop-no-key`` (:data:`~sandloop.client.NO_KEY`), since some local proxies
            refuse a request without the header. A proxy that checks the key needs the real one.
        base_url: Defaults to ``OPENAI_BASE_URL``, then ``https://api.openai.com/v1``.
        timeout: Total seconds one request may take, from connecting to the last byte of its
            body or stream (``ResponseDeadlineError``). Each retry, and each retrieve of a
            background poll, is a request of its own.
        idle_timeout: Longest silence, in seconds, between two reads of a body once its headers
            have arrived (``ResponseStalledError``). SSE keepalive comments are bytes and reset
            it; they never extend ``timeout``.
        connect_timeout: Seconds allowed to connect.
        limits: Size and depth caps on every answer (see :class:`ClientLimits`).
        max_retries: Retries after the first attempt; ignored when ``retry`` is given.
        retry: The full retry policy.
        poll_interval: First wait between retrieves of a background response; it grows by
            half each time up to ``max_poll_interval``.
        max_poll_interval: Longest wait between two retrieves.
        headers: Extra headers sent with every request.
        organization: Sent as ``OpenAI-Organization``.
        project: Sent as ``OpenAI-Project``.
        max_connections: Size of the connection pool.
        transport: An httpx async transport (``httpx.MockTransport`` in unit tests).

    Raises:
        ConfigError: no API key for a server that is not on this machine, or a bad base URL.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 1800.0,
        idle_timeout: float = 120.0,
        connect_timeout: float = 10.0,
        limits: ClientLimits | None = None,
        max_retries: int = 2,
        retry: RetryPolicy | None = None,
        poll_interval: float = 0.25,
        max_poll_interval: float = 5.0,
        headers: Mapping[str, str] | None = None,
        organization: str | None = None,
        project: str | None = None,
        max_connections: int = 64,
        transport: Transport | None = None,
    ) -> None:
        config = resolve_config(api_key=api_key, base_url=base_url)
        self.base_url = config.base_url
        if timeout <= 0 or idle_timeout <= 0:
            raise ConfigError(f"timeouts must be > 0, got {timeout=} {idle_timeout=}")
        self.limits = limits if limits is not None else ClientLimits()
        self.retry = retry if retry is not None else RetryPolicy(max_retries=max_retries)
        # What ClientSettings.of() describes: every setting but the key (and no transport).
        self._settings: dict[str, Any] = {
            "base_url": config.base_url,
            "timeout": timeout,
            "connect_timeout": connect_timeout,
            "retry": self.retry,
            "poll_interval": poll_interval,
            "max_poll_interval": max_poll_interval,
            "headers": dict(headers or {}),
            "organization": organization,
            "project": project,
            "max_connections": max_connections,
        }
        self._custom_transport = transport is not None
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        sent = {"user-agent": "sandloop", **(headers or {})}
        if config.api_key:
            sent["authorization"] = f"Bearer {config.api_key}"
        elif not any(name.lower() == "authorization" for name in sent):
            # Only a server on this machine is reached without a key (resolve_config). A local
            # proxy may still refuse a request without the header: it gets a placeholder that
            # says what it is, never anything secret.
            sent["authorization"] = f"Bearer {NO_KEY}"
        if organization:
            sent["openai-organization"] = organization
        if project:
            sent["openai-project"] = project
        self._http = HttpSession(
            base_url=config.base_url,
            headers=sent,
            timeout=timeout,
            idle_timeout=idle_timeout,
            connect_timeout=connect_timeout,
            limits=self.limits,
            max_connections=max_connections,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool of the running event loop.

        The client stays usable: its next request opens a new pool, in whichever event loop
        makes it (so one client serves any number of ``run_sync`` calls).
        """
        await self._http.aclose()

    # --- endpoints --------------------------------------------------------------------------

    async def create(self, params: Params, *, wait: bool = True) -> Response:
        """``POST /responses`` and return the Response.

        With ``background=True`` the response is polled with ``retrieve`` until it reaches a
        terminal status (unless ``wait=False``); if the caller is cancelled meanwhile, the
        response is cancelled on the server too.

        Raises:
            ResponseFailedError: the response ended ``failed`` or ``cancelled``.
            ApiStatusError: an HTTP error status, after retries where they apply.
            ApiConnectionError: the server could not be reached, after retries.
            InvalidResponseError: the body is not a Response.
        """
        body = request_body(params)
        if body.get("stream"):
            raise ConfigError("create() does not stream: use stream(params) for stream=True")
        response = parse_response(await self._json("POST", "responses", body))
        if body.get("background") and wait and response.status in _PENDING:
            return await self.wait(response)
        return _checked(response)

    def stream(self, params: Params) -> ResponseStream:
        """``POST /responses`` with ``stream=True``; use the result with ``async with``.

        The request is sent (and retried) when the ``async with`` block is entered. See
        :class:`ResponseStream` for the events and the final ``response``.
        """
        opener = self._stream_opener(dict(request_body(params), stream=True))
        return ResponseStream(opener, self.limits)

    async def retrieve(self, response_id: str) -> Response:
        """``GET /responses/{id}``: the response as it is now (any status)."""
        return parse_response(await self._json("GET", f"responses/{_path_id(response_id)}"))

    async def cancel(self, response_id: str) -> Response:
        """``POST /responses/{id}/cancel``: cancel a background response; returns it."""
        path = f"responses/{_path_id(response_id)}/cancel"
        return parse_response(await self._json("POST", path))

    async def compact(self, params: CompactParams | Mapping[str, Any]) -> CompactedResponse:
        """``POST /responses/compact``: use the result's ``output`` in place of the history."""
        body = params.to_request() if isinstance(params, CompactParams) else dict(params)
        return parse_compacted_response(await self._json("POST", "responses/compact", body))

    async def wait(self, response: Response | str) -> Response:
        """Poll a background response until it is no longer queued or in progress.

        The wait between retrieves starts at ``poll_interval`` and grows by half up to
        ``max_poll_interval``. When the caller is cancelled, or polling fails for good, a cancel
        request is sent (shielded, at most 10 s) before the cancellation or error goes on.

        Raises:
            ResponseFailedError: the response ended ``failed`` or ``cancelled``.
        """
        current = response if isinstance(response, Response) else await self.retrieve(response)
        response_id = current.id
        if response_id is None:
            raise InvalidResponseError("a background response came back without an id")
        delay = self.poll_interval
        try:
            while current.status in _PENDING:
                await anyio.sleep(delay)
                delay = min(self.max_poll_interval, delay * 1.5)
                current = await self.retrieve(response_id)
        except (anyio.get_cancelled_exc_class(), ApiError):
            # Given up on: it must not run on (and bill) unseen.
            await self._cancel_quietly(response_id)
            raise
        return _checked(current)

    async def _cancel_quietly(self, response_id: str) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(10.0):
            try:
                await self.cancel(response_id)
            except ApiError as exc:
                # The caller's cancellation is what matters; a failed cancel is only logged.
                logger.warning("could not cancel background response %s: %s", response_id, exc)

    # --- plumbing ---------------------------------------------------------------------------

    async def _json(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """Send with retries; return the decoded JSON object of the 2xx answer."""
        retry = 0
        while True:
            try:
                result = await self._http.request(method, path, body=body)
            except ApiConnectionError as exc:
                retry = await self._backoff(retry, exc, None)
                continue
            if result.status < 300:
                return _decode(result.content, f"{method} /{path}", self.limits)
            error = status_error(
                result.status, result.headers, result.content, request=result.request
            )
            if not self.retry.retryable_status(result.status):
                raise error
            retry = await self._backoff(retry, error, result.headers)

    def _stream_opener(self, body: dict[str, Any]) -> StreamOpener:
        """What a :class:`ResponseStream` calls on ``async with`` to send ``body``."""

        async def open_stream(stack: AsyncExitStack) -> HttpStream:
            return await self._open_stream(body, stack)

        return open_stream

    async def _open_stream(self, body: dict[str, Any], stack: AsyncExitStack) -> HttpStream:
        """Open the SSE answer, retrying failures that happen before the first byte."""
        retry = 0
        while True:
            try:
                http, error = await self._try_stream(body, stack)
            except ApiConnectionError as exc:
                retry = await self._backoff(retry, exc, None)
                continue
            if error is None:
                return http
            if not self.retry.retryable_status(error.status_code):
                raise error
            retry = await self._backoff(retry, error, http.headers)

    async def _try_stream(
        self, body: dict[str, Any], stack: AsyncExitStack
    ) -> tuple[HttpStream, ApiStatusError | None]:
        """One attempt: a 2xx stream handed over to ``stack``, or the error of the answer."""
        async with AsyncExitStack() as attempt:
            http = await attempt.enter_async_context(
                self._http.stream("POST", "responses", body=body, sse=True)
            )
            if http.status < 300:
                stack.push_async_exit(attempt.pop_all())
                return http, None
            content = await http.read(ERROR_BODY_BYTES, truncate=True)
            return http, status_error(http.status, http.headers, content, request=http.request)

    async def _backoff(self, retry: int, error: ApiError, headers: Mapping[str, str] | None) -> int:
        """Sleep before the next attempt, or raise ``error`` when no retries are left.

        The error raised says how often the request was sent (:attr:`ApiError.attempts`).
        """
        if retry >= self.retry.max_retries:
            error.attempts = retry + 1
            raise error
        wait = self.retry.delay(retry, headers)
        logger.info("retrying in %.2fs (retry %d): %s", wait, retry + 1, error)
        await notify_retry(RetryNotice(retry + 1, self.retry.max_retries, error, wait))
        await anyio.sleep(wait)
        return retry + 1


def request_body(params: Params) -> dict[str, Any]:
    """The JSON body of ``POST /responses`` for ``params`` (item models in wire form)."""
    if isinstance(params, ResponseCreateParams):
        return params.to_request()
    body = dict(params)
    items = body.get("input")
    if isinstance(items, list) and not all(isinstance(item, dict) for item in items):
        # Item models mixed into a plain dict body: send their request form.
        body["input"] = dump_items(items)
    tools = body.get("tools")
    if isinstance(tools, list) and not all(isinstance(tool, dict) for tool in tools):
        body["tools"] = [t if isinstance(t, dict) else t.to_wire() for t in tools]
    return body


def _path_id(response_id: str) -> str:
    if not response_id or "/" in response_id or "?" in response_id:
        raise ConfigError(f"not a response id: {response_id!r}")
    return response_id


def _decode(content: bytes, what: str, limits: ClientLimits) -> dict[str, Any]:
    try:
        data = loads_bounded(content.decode("utf-8"), limits.max_json_depth, what)
    except ValueError as exc:
        snippet = content[:200].decode("utf-8", errors="replace")
        raise InvalidResponseError(f"{what}: the body is not JSON ({exc}): {snippet!r}") from exc
    if not isinstance(data, dict):
        raise InvalidResponseError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def _checked(response: Response) -> Response:
    if response.status in _FAILED:
        raise failed_error(response)
    return response
