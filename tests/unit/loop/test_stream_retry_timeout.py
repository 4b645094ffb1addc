"""A read timeout in the middle of a streamed answer is retried by the loop (MockTransport).

The cut over a real socket is tested in tests/e2e/test_stream_retry.py; here the body stalls
with an ``httpx.ReadTimeout`` after the first text delta, which the client maps to
``ApiTimeoutError``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.errors import ApiTimeoutError
from sandloop.loop import Agent, RunEvent, run
from sandloop.loop import events as ev

FINAL: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "status": "completed",
    "output": [
        {"type": "message", "id": "m1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "Hello there", "annotations": []}]},
    ],
}  # fmt: skip
AT = {"item_id": "m1", "output_index": 0, "content_index": 0}


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


HEAD = _sse(
    {"type": "response.created", "response": dict(FINAL, status="in_progress", output=[])},
    {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": dict(FINAL["output"][0], content=[]),
    },
    {"type": "response.output_text.delta", **AT, "delta": "Hello"},
)
TAIL = _sse(
    {"type": "response.output_text.delta", **AT, "delta": " there"},
    {"type": "response.output_text.done", **AT, "text": "Hello there"},
    {"type": "response.output_item.done", "output_index": 0, "item": FINAL["output"][0]},
    {"type": "response.completed", "response": FINAL},
)


class _Stalls(httpx.AsyncByteStream):
    """The answer's first events, then a read that times out."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield HEAD
        raise httpx.ReadTimeout("no byte in time")


def _transport(stalls: int, bodies: list[bytes]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        headers = {"content-type": "text/event-stream"}
        if len(bodies) <= stalls:
            return httpx.Response(200, headers=headers, stream=_Stalls())
        return httpx.Response(200, headers=headers, content=HEAD + TAIL)

    return httpx.MockTransport(handle)


def _client(stalls: int, bodies: list[bytes]) -> ResponsesClient:
    retry = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.002)
    return ResponsesClient(
        base_url="http://127.0.0.1:9/v1", retry=retry, transport=_transport(stalls, bodies)
    )


async def test_a_read_timeout_mid_stream_is_retried() -> None:
    bodies: list[bytes] = []
    events: list[RunEvent] = []

    async def record(event: RunEvent) -> None:
        events.append(event)

    async with _client(1, bodies) as client:
        result = await run(Agent(model="m"), "hi", client=client, stream=True, on_event=record)
    assert result.final_output == "Hello there"
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]
    (retrying,) = [e for e in events if isinstance(e, ev.ResponseRetrying)]
    assert isinstance(retrying.error, ApiTimeoutError)
    assert retrying.attempt == 1


async def test_timeouts_past_the_retries_end_the_run_typed() -> None:
    bodies: list[bytes] = []
    async with _client(2, bodies) as client:
        with pytest.raises(ApiTimeoutError) as info:
            await run(Agent(model="m"), "hi", client=client, stream=True)
    assert len(bodies) == 2  # max_retries=1: one retry
    assert "cut after 3 events" in str(info.value)
