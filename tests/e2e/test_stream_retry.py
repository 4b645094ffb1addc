"""A streamed answer cut mid-way is sent again; over a real socket against the scripted server.

The server drops the connection after a few SSE events (the answer has started to stream). The
loop must resend the same request with the client's retry policy, tell the event sink so the
partial text can be thrown away, and keep nothing of the broken answer in the run's items. A
malformed stream is not retried. The server checks every request strictly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.errors import ApiConnectionError, InvalidResponseError, ServerError
from sandloop.executors.function import tool
from sandloop.items import Message, dump_item
from sandloop.loop import Agent, RunEnded, RunEvent, run
from sandloop.loop import events as ev
from sandloop.testing import (
    ScriptedResponsesServer,
    Turn,
    drop_connection,
    function_call,
    malformed_stream,
    message,
    server_error,
)

ANSWER = "The sum is 5. " * 20  # long enough to stream in many deltas
RETRIES = 2


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    return a + b


@asynccontextmanager
async def serve(turns: list[Any]) -> AsyncIterator[tuple[ScriptedResponsesServer, ResponsesClient]]:
    retry = RetryPolicy(max_retries=RETRIES, initial_delay=0.01, max_delay=0.02)
    # Small chunks: the cut falls inside the answer's text, not at a tidy boundary.
    with ScriptedResponsesServer(turns, stream_chunk_size=(1, 40), seed=3) as server:
        async with ResponsesClient(base_url=server.base_url, retry=retry) as client:
            yield server, client


def answer_turn(faults: list[Any]) -> Turn:
    return Turn([message(ANSWER, phase="final_answer")], faults=faults)


def cut() -> Any:
    return drop_connection(after_events=6)  # created, in_progress, item/part added, 2 deltas


def tool_turn() -> list[dict[str, Any]]:
    return [function_call("add", {"a": 2, "b": 3}, call_id="c1")]


def answers_in(items: list[Any]) -> int:
    return sum(1 for i in items if isinstance(i, Message) and ANSWER in repr(i))


@pytest.mark.parametrize("store", [True, False], ids=["chained", "stateless"])
async def test_a_stream_cut_once_is_sent_again_and_the_run_completes(store: bool) -> None:
    events: list[RunEvent] = []

    async def record(event: RunEvent) -> None:
        events.append(event)

    turns: list[Any] = [tool_turn(), answer_turn([cut()])]
    async with serve(turns) as (server, client):
        agent = Agent(model="m", tools=[add], store=store)
        result = await run(agent, "add 2 and 3", client=client, stream=True, on_event=record)
    assert result.status == "completed"
    assert result.final_output == ANSWER
    assert answers_in(result.items) == 1
    assert answers_in(result.history) == 1
    assert result.turns == 2
    # The broken attempt and the retry sent the very same request (same chain, same input).
    _, broken, retried = server.create_requests
    assert broken.body == retried.body
    if store:
        assert retried.body["previous_response_id"] == result.responses[0].id
    # The sink heard of the retry after some text of the broken answer had streamed.
    kinds = [type(e) for e in events]
    retry_at = kinds.index(ev.ResponseRetrying)
    retrying = events[retry_at]
    assert isinstance(retrying, ev.ResponseRetrying)
    assert (retrying.turn, retrying.attempt) == (2, 1)
    assert isinstance(retrying.error, ApiConnectionError)
    assert retrying.delay <= 0.02
    before = "".join(e.delta for e in events[:retry_at] if isinstance(e, ev.TextDelta))
    after = "".join(e.delta for e in events[retry_at:] if isinstance(e, ev.TextDelta))
    assert before
    assert ANSWER.startswith(before)
    assert before != ANSWER
    assert after == ANSWER
    assert kinds.count(ev.TurnEnded) == 2


@pytest.mark.parametrize("store", [True, False], ids=["chained", "stateless"])
async def test_a_stream_cut_on_every_attempt_ends_typed_and_resumes(store: bool) -> None:
    ended: list[RunEnded] = []

    async def record(event: RunEvent) -> None:
        if isinstance(event, RunEnded):
            ended.append(event)

    # The answer turn is cut on every attempt of the run, then served whole to the resume.
    turns: list[Any] = [tool_turn(), answer_turn([cut()] * (RETRIES + 1))]
    async with serve(turns) as (server, client):
        agent = Agent(model="m", tools=[add], store=store)
        with pytest.raises(ApiConnectionError) as info:
            await run(agent, "add 2 and 3", client=client, stream=True, on_event=record)
        assert len(server.create_requests) == 1 + RETRIES + 1
        (end,) = ended
        assert end.error is info.value
        result = end.result
        assert result.status == "failed"
        assert result.turns == 2
        assert answers_in(result.items) == 0
        # Resume: stateless from the history, chained from the last response plus what it
        # has not seen (the tool's output); the server checks either strictly.
        if store:
            resumed = await run(
                agent,
                result.pending_input,
                client=client,
                previous_response_id=result.last_response_id,
                stream=True,
            )
        else:
            resumed = await run(agent, result.history, client=client, stream=True)
        assert resumed.final_output == ANSWER
        sent = server.create_requests[-1].body["input"]
        expected = result.pending_input if store else result.history
        assert sent == [dump_item(i) for i in expected]


async def test_a_malformed_stream_is_not_retried() -> None:
    turns: list[Any] = [answer_turn([malformed_stream(after_events=4)])]
    async with serve(turns) as (server, client):
        with pytest.raises(InvalidResponseError):
            await run(Agent(model="m"), "hi", client=client, stream=True)
        assert len(server.create_requests) == 1
        again = await run(Agent(model="m"), "hi", client=client, stream=True)
    assert again.final_output == ANSWER


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "create"])
async def test_a_request_the_client_sends_again_is_told_to_the_event_sink(streamed: bool) -> None:
    # HTTP 500 before any answer: the client retries it, the loop says so (nothing to discard).
    turns = [Turn(None, faults=[server_error(500)]), answer_turn([])]
    async with serve(turns) as (server, client):
        events: list[RunEvent] = []
        result = await run(Agent(model="m"), "hi", client=client, stream=streamed,
                           on_event=events.append)  # fmt: skip
        assert len(server.create_requests) == 2
    assert result.status == "completed"
    (retrying,) = [e for e in events if isinstance(e, ev.ResponseRetrying)]
    assert (retrying.turn, retrying.attempt, retrying.max_retries) == (1, 1, RETRIES)
    assert retrying.cut is False
    assert isinstance(retrying.error, ServerError)
    assert retrying.error.status_code == 500
    assert retrying.delay <= 0.02
