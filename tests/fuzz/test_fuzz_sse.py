"""Random SSE byte streams in random chunkings: a response or a typed error, never a crash.

The client's ``stream()`` reads bodies served by ``httpx.MockTransport`` in the chunks hypothesis
picks. A well-formed stream (as the scripted server writes it) must assemble to exactly the
response it describes in any chunking; a mutated, truncated or random one must end in a
``SandloopError`` (or, when the mutation happened to keep it valid, a response).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
from fuzz_support import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.client._sse import SseDecoder
from sandloop.errors import SandloopError
from sandloop.items import Response
from sandloop.testing import function_call, message, reasoning, shell_call
from sandloop.testing._events import build_response, encode_event, stream_events


class Chunks(httpx.AsyncByteStream):
    """A response body delivered in the given pieces."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return [p for p in pieces if p]


async def _consume(chunks: list[bytes]) -> Response | SandloopError:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, stream=Chunks(chunks))

    client = ResponsesClient(
        base_url="https://api.example.test/v1",
        api_key="sk-test",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_retries=0),
    )
    async with client:
        try:
            async with client.stream({"model": "m", "input": "hi"}) as stream:
                async for _ in stream:
                    pass
            return stream.response
        except SandloopError as exc:
            return exc


def _served(output: list[dict[str, Any]]) -> dict[str, Any]:
    return build_response(
        response_id="resp_fuzz",
        request={"model": "m"},
        output=output,
        status="completed",
        usage={"input_tokens": 3, "output_tokens": 5, "total_tokens": 8},
    )


outputs = st.lists(
    st.one_of(
        st.builds(lambda t: message(t, phase="final_answer"), st.text(max_size=40)),
        st.builds(lambda a: function_call("add", {"a": a}), st.integers()),
        st.builds(lambda t: reasoning(t, encrypted_content="x"), st.text(max_size=10)),
        st.builds(lambda c: shell_call([c]), st.text(max_size=10)),
    ),
    max_size=3,
)
cuts = st.lists(st.integers(min_value=0, max_value=10**6), max_size=40)


@FUZZ
@given(outputs, cuts)
def test_a_valid_stream_assembles_to_its_response_in_any_chunking(
    output: list[dict[str, Any]], where: list[int]
) -> None:
    served = _served(output)
    body = b"".join(encode_event(e) for e in stream_events(served))
    got = anyio.run(_consume, _cut(body, where))
    assert isinstance(got, Response), got
    assert got.id == "resp_fuzz"
    assert [item.to_wire()["type"] for item in got.output] == [i["type"] for i in output]
    assert got.output_text == "".join(
        part["text"] for item in output if item["type"] == "message" for part in item["content"]
    )


@st.composite
def mutated_stream(draw: st.DrawFn) -> bytes:
    events = [encode_event(e) for e in stream_events(_served(draw(outputs)))]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["drop", "dup", "swap", "flip", "truncate", "insert"]))
        i = draw(st.integers(min_value=0, max_value=len(events) - 1))
        if kind == "drop" and len(events) > 1:
            del events[i]
        elif kind == "dup":
            events.insert(i, events[i])
        elif kind == "swap":
            j = draw(st.integers(min_value=0, max_value=len(events) - 1))
            events[i], events[j] = events[j], events[i]
        elif kind == "flip" and events[i]:
            raw = bytearray(events[i])
            at = draw(st.integers(min_value=0, max_value=len(raw) - 1))
            raw[at] = draw(st.integers(min_value=0, max_value=255))
            events[i] = bytes(raw)
        elif kind == "truncate":
            events[i] = events[i][: draw(st.integers(min_value=0, max_value=len(events[i])))]
            del events[i + 1 :]
        else:
            junk = draw(st.binary(max_size=60))
            events.insert(i, draw(st.sampled_from([junk, b"data: " + junk + b"\n\n"])))
    return b"".join(events)


@FUZZ
@given(mutated_stream(), cuts)
def test_a_mutated_stream_ends_in_a_response_or_a_typed_error(
    body: bytes, where: list[int]
) -> None:
    got = anyio.run(_consume, _cut(body, where))
    assert isinstance(got, Response | SandloopError)


json_events = st.dictionaries(
    st.sampled_from(["type", "response", "item", "delta", "output_index", "item_id", "sequence"]),
    st.none() | st.integers() | st.text(max_size=10) | st.sampled_from(["response.completed"]),
    max_size=5,
)


@FUZZ
@given(
    st.lists(
        st.binary(max_size=80) | json_events.map(lambda e: encode_event({"type": "x", **e})),
        max_size=8,
    ),
    cuts,
)
def test_random_bytes_and_events_end_in_a_typed_error(parts: list[bytes], where: list[int]) -> None:
    got = anyio.run(_consume, _cut(b"".join(parts), where))
    # Nothing here is a complete, consistent response.completed: it can only fail, cleanly.
    assert isinstance(got, SandloopError), got


@FUZZ
@given(st.binary(max_size=400), cuts)
def test_the_decoder_gives_the_same_events_in_any_chunking(data: bytes, where: list[int]) -> None:
    whole = SseDecoder().feed(data)
    decoder = SseDecoder()
    pieces = [m for chunk in _cut(data, where) for m in decoder.feed(chunk)]
    assert pieces == whole


def test_the_stream_consumer_is_strict_about_a_missing_terminal_event() -> None:
    # The fuzz checks above rely on a stream without its end being an error, not a response.
    served = _served([message("hi")])
    body = b"".join(encode_event(e) for e in stream_events(served)[:-1])
    got = anyio.run(_consume, [body])
    assert isinstance(got, SandloopError)
    assert json.dumps(served)  # the served response itself was well formed
