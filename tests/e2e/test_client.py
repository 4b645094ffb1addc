"""ResponsesClient over a real socket against ScriptedResponsesServer."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.errors import (
    ApiConnectionError,
    ApiTimeoutError,
    BadRequestError,
    ConfigError,
    InvalidResponseError,
    RateLimitError,
    ResponseFailedError,
)
from sandloop.items import (
    Compaction,
    CompactParams,
    FunctionCall,
    ResponseCompletedEvent,
    ResponseCreateParams,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseTextDeltaEvent,
    UnknownEvent,
)
from sandloop.testing import (
    ScriptedResponsesServer,
    Turn,
    bad_request,
    custom_tool_call,
    delay,
    drop_connection,
    function_call,
    malformed_stream,
    message,
    rate_limited,
    reasoning,
    server_error,
)

FAST = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.02)
LONG_TEXT = "The quick brown fox jumps over the lazy dog. Ünïcödé ✓ 🚀 " * 20


def client_for(server: ScriptedResponsesServer, **kwargs: Any) -> ResponsesClient:
    kwargs.setdefault("retry", FAST)
    return ResponsesClient(base_url=server.base_url, **kwargs)


async def test_json_round_trip() -> None:
    turns = [[function_call("add", {"a": 1, "b": 2}, call_id="c1")], [message("3")]]
    async with ScriptedResponsesServer(turns) as server, client_for(server) as client:
        first = await client.create(ResponseCreateParams(model="m", input="add 1 and 2"))
        assert isinstance(first.output[0], FunctionCall)
        assert json.loads(first.output[0].arguments) == {"a": 1, "b": 2}
        answer = [{"type": "function_call_output", "call_id": "c1", "output": "3"}]
        second = await client.create(
            {"model": "m", "previous_response_id": first.id, "input": answer}
        )
        assert second.output_text == "3"
        assert second.usage is not None
        assert second.usage.total_tokens > 0
    assert len(server.create_requests) == 2


@pytest.mark.parametrize("seed", range(8))
async def test_stream_survives_random_rechunking(seed: int) -> None:
    items = [
        reasoning("thinking"),
        message(LONG_TEXT, phase="commentary"),
        function_call("search", {"query": "ö" * 50}, call_id="c1"),
        custom_tool_call("patch", "*** Begin Patch\n" + "x" * 300, call_id="c2"),
    ]
    async with (
        ScriptedResponsesServer([items], stream_chunk_size=(1, 40), seed=seed) as server,
        client_for(server) as client,
        client.stream({"model": "m", "input": "go"}) as stream,
    ):
        events = [event async for event in stream]
    text = "".join(e.delta for e in events if isinstance(e, ResponseTextDeltaEvent))
    args = [e for e in events if isinstance(e, ResponseFunctionCallArgumentsDeltaEvent)]
    assert text == LONG_TEXT
    assert "".join(e.delta for e in args) == json.dumps({"query": "ö" * 50})
    assert isinstance(events[-1], ResponseCompletedEvent)
    numbers = [
        e.sequence_number
        for e in events
        if not isinstance(e, UnknownEvent) and e.sequence_number is not None
    ]
    assert len(numbers) == len(events)  # every event is known and numbered
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers)
    response = stream.response
    assert [item.type for item in response.output] == [i["type"] for i in items]
    assert response.output_text == LONG_TEXT


async def test_streams_and_requests_reuse_one_pooled_connection() -> None:
    turns = [[message(f"answer {i}")] for i in range(6)]
    server = ScriptedResponsesServer(turns, check_protocol=False, stream_chunk_size=5)
    async with server, client_for(server) as client:
        for i in range(3):
            async with client.stream({"model": "m", "input": str(i)}) as stream:
                await stream.get_final_response()
            await client.create({"model": "m", "input": str(i)})
    assert {r.connection for r in server.requests} == {1}


async def test_stream_reports_incomplete_and_failed() -> None:
    turns = [
        Turn([message("partial")], status="incomplete", incomplete_reason="max_output_tokens"),
        Turn([], status="failed", error={"code": "server_error", "message": "model crashed"}),
    ]
    async with ScriptedResponsesServer(turns) as server, client_for(server) as client:
        async with client.stream({"model": "m", "input": "a"}) as stream:
            response = await stream.get_final_response()
        assert response.status == "incomplete"
        assert response.incomplete_details is not None
        assert response.incomplete_details.reason == "max_output_tokens"
        history = [{"role": "user", "content": "a"}, *server.responses[response.id or ""]["output"]]
        async with client.stream({"model": "m", "input": history}) as stream:
            with pytest.raises(ResponseFailedError, match="model crashed"):
                await stream.get_final_response()


async def test_background_polling_until_completed() -> None:
    turns = [Turn([message("done in the background")], background_polls=3)]
    async with ScriptedResponsesServer(turns) as server:
        async with client_for(server, poll_interval=0.001, max_poll_interval=0.002) as client:
            response = await client.create({"model": "m", "input": "x", "background": True})
        assert response.status == "completed"
        assert response.output_text == "done in the background"
        methods = [(r.method, r.path) for r in server.requests]
        assert methods == [("POST", "/responses")] + [("GET", f"/responses/{response.id}")] * 4


async def test_background_create_without_wait_then_cancel() -> None:
    turns = [Turn([message("never seen")], background_polls=100)]
    async with ScriptedResponsesServer(turns) as server, client_for(server) as client:
        queued = await client.create({"model": "m", "background": True}, wait=False)
        assert queued.status == "queued"
        assert (await client.retrieve(queued.id or "")).status == "in_progress"
        cancelled = await client.cancel(queued.id or "")
        assert cancelled.status == "cancelled"
        with pytest.raises(ResponseFailedError, match="cancelled"):
            await client.wait(queued.id or "")


async def test_cancelling_the_caller_cancels_the_background_response() -> None:
    turns = [Turn([message("slow")], background_polls=10_000)]
    async with ScriptedResponsesServer(turns) as server:
        async with client_for(server, poll_interval=0.005, max_poll_interval=0.005) as client:
            with anyio.move_on_after(0.3) as scope:
                await client.create({"model": "m", "background": True})
        assert scope.cancelled_caught
        last = server.requests[-1]
        assert (last.method, last.path.endswith("/cancel")) == ("POST", True)
        assert next(iter(server.responses.values()))["status"] != "cancelled"  # final form kept
        resp_id = server.requests[0].body and next(iter(server.responses))
        async with client_for(server) as client:
            assert (await client.retrieve(resp_id or "")).status == "cancelled"


async def test_compact_returns_user_messages_and_one_compaction() -> None:
    turns = [[message("first answer")], [message("after compaction")]]
    async with ScriptedResponsesServer(turns) as server, client_for(server) as client:
        first = await client.create({"model": "m", "input": "question one", "store": False})
        history = [{"role": "user", "content": "question one"}, *server.responses[first.id or ""][
            "output"]]  # fmt: skip
        compacted = await client.compact(CompactParams(model="m", input=history))
        assert compacted.object == "response.compaction"
        kinds = [item.type for item in compacted.output]
        assert kinds == ["message", "compaction"]
        assert isinstance(compacted.output[-1], Compaction)
        assert compacted.output[-1].encrypted_content
        new_input = [
            *(item.to_wire() for item in compacted.output),
            {"role": "user", "content": "question two"},
        ]
        follow = await client.create({"model": "m", "input": new_input, "store": False})
        assert follow.output_text == "after compaction"


async def test_rate_limit_wait_is_honoured() -> None:
    turns = [
        Turn([message("ok")], faults=[rate_limited(0.3), rate_limited(None, retry_after_ms=200)])
    ]
    async with ScriptedResponsesServer(turns) as server, client_for(server) as client:
        response = await client.create({"model": "m"})
    assert response.output_text == "ok"
    times = [r.received_at for r in server.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.3
    assert times[2] - times[1] >= 0.2


async def test_rate_limit_exhausting_retries_raises_rate_limit_error() -> None:
    faults = [rate_limited(0.01) for _ in range(3)]
    turns = [Turn(None, faults=faults)]
    async with ScriptedResponsesServer(turns) as server:
        async with client_for(server, retry=RetryPolicy(max_retries=2)) as client:
            with pytest.raises(RateLimitError) as info:
                await client.create({"model": "m"})
        assert info.value.status_code == 429
        assert info.value.request_id is not None
        assert info.value.request_id.startswith("req_")


async def test_server_error_then_success() -> None:
    turns = [Turn([message("recovered")], faults=[server_error(500), server_error(503)])]
    async with ScriptedResponsesServer(turns) as server, client_for(server) as client:
        assert (await client.create({"model": "m"})).output_text == "recovered"
    assert len(server.requests) == 3


async def test_bad_request_is_raised_at_once_with_the_api_message() -> None:
    fault = bad_request("Invalid 'input[2]': unknown item type.", code="invalid_value",
                        param="input[2]")  # fmt: skip
    server = ScriptedResponsesServer([Turn(None, faults=[fault])])
    async with server, client_for(server) as client:
        with pytest.raises(BadRequestError) as info:
            await client.create({"model": "m"})
    assert info.value.code == "invalid_value"
    assert "unknown item type" in str(info.value)
    assert len(server.requests) == 1


async def test_stream_cut_midway_raises_then_a_new_request_succeeds() -> None:
    turns = [Turn([message(LONG_TEXT)], faults=[drop_connection(after_events=4)])]
    async with ScriptedResponsesServer(turns) as server, client_for(server) as client:
        async with client.stream({"model": "m"}) as stream:
            with pytest.raises(ApiConnectionError, match="after 4 events"):
                await stream.get_final_response()
        async with client.stream({"model": "m"}) as stream:
            assert (await stream.get_final_response()).output_text == LONG_TEXT


async def test_json_connection_dropped_is_retried() -> None:
    turns = [Turn([message("second try")], faults=[drop_connection()])]
    async with ScriptedResponsesServer(turns) as server, client_for(server) as client:
        assert (await client.create({"model": "m"})).output_text == "second try"
    assert len(server.requests) == 2


async def test_malformed_stream_is_invalid_response() -> None:
    turns = [Turn([message("x")], faults=[malformed_stream(after_events=2)])]
    async with (
        ScriptedResponsesServer(turns, stream_chunk_size=3) as server,
        client_for(server) as client,
    ):
        async with client.stream({"model": "m"}) as stream:
            with pytest.raises(InvalidResponseError, match=r"event 3 .* not JSON"):
                await stream.get_final_response()
        async with client.stream({"model": "m"}) as stream:
            await stream.get_final_response()


async def test_slow_server_times_out() -> None:
    turns = [Turn([message("late")], faults=[delay(1.0)])]
    server = ScriptedResponsesServer(turns)
    no_retry = RetryPolicy(max_retries=0)
    async with server, client_for(server, timeout=0.2, retry=no_retry) as client:
        with pytest.raises(ApiTimeoutError):
            await client.create({"model": "m"})
    # The server still produced the answer the client gave up on: the turn counts as played.
    assert server.remaining_turns == 0


def test_no_api_key_for_a_remote_url_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        ResponsesClient(base_url="https://api.openai.com/v1")
