"""The SSE decoder gives the same events whatever the chunk boundaries."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from sandloop.client._sse import SseDecoder, SseMessage

STREAM = (
    b": a comment line\n"
    b'event: response.created\ndata: {"a": 1}\n\n'
    b'event: response.output_text.delta\r\ndata: {"delta": "h\\u00e9llo \xe2\x9c\x93"}\r\n\r\n'
    b"data: line one\ndata: line two\n\n"
    b"event: response.completed\rdata: {}\r\r"
    b"id: 7\nretry: 100\nevent: x\ndata:no-space\n\n"
)
EXPECTED = [
    SseMessage("response.created", '{"a": 1}'),
    SseMessage("response.output_text.delta", '{"delta": "h\\u00e9llo ✓"}'),
    SseMessage("message", "line one\nline two"),
    SseMessage("response.completed", "{}"),
    SseMessage("x", "no-space"),
]


def decode(chunks: list[bytes]) -> list[SseMessage]:
    decoder = SseDecoder()
    out: list[SseMessage] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


def test_whole_stream_at_once() -> None:
    assert decode([STREAM]) == EXPECTED


def test_one_byte_at_a_time() -> None:
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_any_split_points(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    bounds = [0, *points, len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert decode(chunks) == EXPECTED


def test_crlf_split_between_chunks_is_one_line_break() -> None:
    assert decode([b"data: a\r", b"\n\r", b"\n"]) == [SseMessage("message", "a")]


def test_unfinished_event_is_not_dispatched() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"event: e\ndata: {}\n") == []
    assert decoder.has_partial
    assert decoder.close() == []


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert decode([b"\n\nevent: lonely\n\n"]) == []
