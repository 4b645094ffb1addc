"""State modes, compaction, background, streaming events and cancellation, end to end.

Real sockets against ScriptedResponsesServer, whose strict checks (stateless replay verbatim
and in order, one output per call, known previous_response_id) run on every request.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import anyio
import pytest

from sandloop.client import ResponsesClient
from sandloop.errors import ResponseIncompleteError
from sandloop.executors.function import tool
from sandloop.loop import (
    Agent,
    AgentLoop,
    Compacted,
    ResponseCreated,
    RunEnded,
    RunEvent,
    RunStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnEnded,
    TurnStarted,
    run,
    run_sync,
    stream,
)
from sandloop.testing import (
    ScriptedResponsesServer,
    Turn,
    delay,
    function_call,
    message,
    reasoning,
)


@asynccontextmanager
async def serve(
    turns: list[Any], **options: Any
) -> AsyncIterator[tuple[ScriptedResponsesServer, ResponsesClient]]:
    async with (
        ScriptedResponsesServer(turns, **options) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0, poll_interval=0.01) as client,
    ):
        yield server, client


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


BIG = {"input_tokens": 9000, "output_tokens": 100, "total_tokens": 9100}


async def test_stateless_replays_history_verbatim() -> None:
    thought = reasoning("think", encrypted_content="gAAAA-opaque-bytes==")
    call = function_call("add", {"a": 1, "b": 2}, call_id="c1")
    call["created_by"] = "model"
    note = message("Adding now.", phase="commentary")
    turns = [
        [thought, note, call],
        [
            reasoning("again", encrypted_content="gAAAA-second=="),
            message("3", phase="final_answer"),
        ],
    ]
    agent = Agent(model="m", tools=[add], store=False, reasoning={"effort": "low"})
    async with serve(copy.deepcopy(turns)) as (server, client):
        result = await run(agent, "1+2?", client=client)
    first, second = server.create_requests
    for req in (first, second):
        assert req.body["store"] is False
        assert req.body["include"] == ["reasoning.encrypted_content"]
        assert "previous_response_id" not in req.body
        assert req.body["reasoning"] == {"effort": "low"}
    sent = second.body["input"]
    assert sent[0] == {"type": "message", "role": "user", "content": "1+2?"}
    assert sent[1] == thought  # encrypted reasoning replayed byte for byte, before its call
    assert sent[2] == note  # phase kept
    assert sent[3] == {k: v for k, v in call.items() if k != "created_by"}
    assert sent[4] == {"type": "function_call_output", "call_id": "c1", "output": "3"}
    assert result.final_output == "3"
    assert result.history == result.items


async def test_chained_mode_sends_only_new_items() -> None:
    turns = [
        [function_call("add", {"a": 1, "b": 2}, call_id="c1")],
        [function_call("add", {"a": 3, "b": 4}, call_id="c2")],
        [message("done")],
    ]
    async with serve(turns) as (server, client):
        result = await run(Agent(model="m", tools=[add]), "go", client=client)
        await _follow_up(server, client, result)
    reqs = server.create_requests[:3]
    assert [len(r.body["input"]) for r in reqs] == [1, 1, 1]
    assert [r.body.get("previous_response_id") for r in reqs] == [
        None,
        result.responses[0].id,
        result.responses[1].id,
    ]


async def _follow_up(server: ScriptedResponsesServer, client: ResponsesClient, result: Any) -> None:
    # A follow-up run chains onto the finished one; the server checks the id is known.
    server.turn(message("again"))
    follow = await run(
        Agent(model="m"), "more", client=client, previous_response_id=result.last_response_id
    )
    last = server.create_requests[-1].body
    assert last["previous_response_id"] == result.last_response_id
    assert last["input"] == [{"type": "message", "role": "user", "content": "more"}]
    assert follow.final_output == "again"


async def test_client_side_compaction() -> None:
    turns = [
        Turn([function_call("add", {"a": 1, "b": 2}, call_id="c1")], usage=BIG),
        Turn([function_call("add", {"a": 3, "b": 4}, call_id="c2")], usage=BIG),
        [message("7", phase="final_answer")],
    ]
    events: list[RunEvent] = []
    agent = Agent(model="m", tools=[add], compact_threshold=5000, store=False)
    async with serve(turns) as (server, client):
        result = await run(agent, "go", client=client, on_event=events.append)
    compacts = [r for r in server.requests if r.path == "/responses/compact"]
    assert len(compacts) == 2
    assert compacts[0].body["input"] == [{"type": "message", "role": "user", "content": "go"}]
    reqs = server.create_requests
    second = reqs[1].body["input"]
    assert [i["type"] for i in second] == [
        "message",
        "compaction",
        "function_call",
        "function_call_output",
    ]
    third = reqs[2].body["input"]
    assert third[1]["type"] == "compaction"
    assert third[1] != second[1]
    assert [i.get("call_id") for i in third[2:]] == ["c2", "c2"]
    assert [e.items_after for e in events if isinstance(e, Compacted)] == [4, 4]
    assert result.final_output == "7"
    # Usage counts the compaction passes too.
    assert result.usage.total_tokens > sum(
        r.usage.total_tokens for r in result.responses if r.usage
    )
    assert len(result.items) > len(result.history)


async def test_server_side_compaction_option() -> None:
    compaction = {"type": "compaction", "id": "cmp_1", "encrypted_content": "c2VjcmV0"}
    turns = [
        [compaction, function_call("add", {"a": 1, "b": 1}, call_id="c1")],
        [message("2")],
    ]
    agent = Agent(model="m", tools=[add], compact_threshold=2000, compaction="server", store=False)
    async with serve(turns) as (server, client):
        await run(agent, "go", client=client)
    first, second = server.create_requests
    assert first.body["context_management"] == [{"type": "compaction", "compact_threshold": 2000}]
    assert second.body["input"][1] == compaction
    assert not [r for r in server.requests if r.path == "/responses/compact"]


async def test_background_mode_polls() -> None:
    turns = [
        Turn([function_call("add", {"a": 2, "b": 2}, call_id="c1")], background_polls=2),
        Turn([message("4")], background_polls=1),
    ]
    async with serve(turns) as (server, client):
        result = await run(Agent(model="m", tools=[add], background=True), "go", client=client)
    assert all(r.body["background"] is True for r in server.create_requests)
    polls = [r for r in server.requests if r.method == "GET"]
    assert len(polls) >= 3
    assert result.final_output == "4"
    assert [r.status for r in result.responses] == ["completed", "completed"]


async def test_cancelling_a_background_run_cancels_the_response() -> None:
    turns = [Turn([message("never seen")], background_polls=100_000)]
    async with serve(turns) as (server, client):
        with anyio.move_on_after(0.5) as scope:
            await run(Agent(model="m", background=True), "go", client=client)
    assert scope.cancelled_caught
    cancels = [r for r in server.requests if r.path.endswith("/cancel")]
    assert len(cancels) == 1
    assert cancels[0].path == f"/responses/{_first_id(server)}/cancel"


def _first_id(server: ScriptedResponsesServer) -> str:
    return next(iter(server.responses))


async def test_streaming_events() -> None:
    turns = [
        [message("Let me add.", phase="commentary"), function_call("add", {"a": 1, "b": 2})],
        [message("The sum is 3.", phase="final_answer")],
    ]
    events: list[RunEvent] = []
    async with serve(turns, stream_chunk_size=(1, 9), seed=3) as (server, client):
        async for event in stream(Agent(model="m", tools=[add]), "add", client=client):
            events.append(event)
    assert all(r.body.get("stream") is True for r in server.create_requests)
    kinds = [type(e).__name__ for e in events if not isinstance(e, TextDelta)]
    assert kinds == [
        "RunStarted", "TurnStarted", "ResponseCreated", "TurnEnded", "ToolCallStarted",
        "ToolCallFinished", "TurnStarted", "ResponseCreated", "TurnEnded", "RunEnded",
    ]  # fmt: skip
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert "".join(d.delta for d in deltas if d.turn == 1) == "Let me add."
    assert "".join(d.delta for d in deltas if d.turn == 2) == "The sum is 3."
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert finished.status == "completed"
    assert finished.tool == "add"
    assert finished.duration >= 0
    assert finished.output.output == "3"
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    assert started.call_id == finished.call_id
    end = events[-1]
    assert isinstance(end, RunEnded)
    assert end.result.final_output == "The sum is 3."
    assert isinstance(events[0], RunStarted)
    assert isinstance(events[1], TurnStarted)
    assert isinstance(events[2], ResponseCreated)
    turn_end = next(e for e in events if isinstance(e, TurnEnded))
    assert turn_end.pending_calls == 1


async def test_stream_raises_after_run_ended() -> None:
    turns = [Turn([message("cut")], status="incomplete")]
    seen: list[RunEvent] = []
    async with serve(turns) as (_, client):
        with pytest.raises(ResponseIncompleteError, match="stopped early"):
            await _drain(stream(Agent(model="m"), "go", client=client), seen)
    assert isinstance(seen[-1], RunEnded)
    assert seen[-1].error is not None


async def test_closing_the_stream_early_cancels_the_run() -> None:
    # The model call hangs (a long server-side delay); closing the stream must not wait for it.
    server = ScriptedResponsesServer([Turn([message("late")], faults=[delay(30)])]).start()
    seen: list[str] = []
    try:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            events = stream(Agent(model="m"), "go", client=client)
            async with aclosing(events):
                async for event in events:
                    seen.append(type(event).__name__)
                    if isinstance(event, TurnStarted):
                        break
    finally:
        server.close()
    assert seen == ["RunStarted", "TurnStarted"]


async def _drain(events: AsyncIterator[RunEvent], into: list[RunEvent]) -> None:
    async for event in events:
        into.append(event)


@pytest.mark.parametrize("store", [True, False])
async def test_cancel_mid_tool_then_resume(store: bool) -> None:
    started = anyio.Event()
    cancelled = anyio.Event()

    @tool
    async def build() -> str:
        """Build the project."""
        started.set()
        try:
            await anyio.sleep(60)
        finally:
            cancelled.set()
        return "built"

    turns = [
        [
            reasoning("plan", encrypted_content="enc-1"),
            function_call("add", {"a": 1, "b": 1}, call_id="a1"),
            function_call("build", {}, call_id="b1"),
        ],
        [message("resumed fine", phase="final_answer")],
    ]
    agent = Agent(model="m", tools=[add, build], store=store)
    async with serve(turns) as (server, client):
        loop = AgentLoop(agent, "build it", client=client)
        async with anyio.create_task_group() as tg:
            tg.start_soon(loop.run)
            with anyio.fail_after(5):
                await started.wait()
            tg.cancel_scope.cancel()
        assert cancelled.is_set()
        partial = loop.result()
        assert partial.status == "cancelled"
        answers = {i.call_id: i.output for i in partial.history if i.type == "function_call_output"}
        assert answers["b1"] == "Not run: the run was cancelled."
        assert set(answers) == {"a1", "b1"}
        # The settled history is a valid request: the strict server accepts it.
        result = await run(agent, partial.history, client=client)
    assert result.final_output == "resumed fine"
    resumed = server.create_requests[1].body["input"]
    assert [i.get("call_id") for i in resumed[-2:]] == ["a1", "b1"]


def test_run_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedResponsesServer([[message("hi")]]) as server:
        # No client given: run_sync makes one from the environment and closes it.
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        result = run_sync(Agent(model="m"), "hello")
    assert result.final_output == "hi"
    assert result.turns == 1


async def test_compaction_keeps_the_stored_conversation_a_run_chains_onto() -> None:
    # Run 2 continues run 1's stored conversation; compacting must summarise that part too,
    # or the model loses everything said before run 2 once the chain restarts.
    turns = [
        [message("Noted.")],
        Turn([function_call("add", {"a": 1, "b": 2}, call_id="c1")], usage=BIG),
        [message("kiwi", phase="final_answer")],
    ]
    agent = Agent(model="m", tools=[add], compact_threshold=5000)
    async with serve(turns) as (server, client):
        first = await run(Agent(model="m"), "The code word is kiwi.", client=client)
        second = await run(
            agent, "What was the code word?", client=client,
            previous_response_id=first.last_response_id,
        )  # fmt: skip
    (compact,) = [r for r in server.requests if r.path == "/responses/compact"]
    assert compact.body["previous_response_id"] == first.last_response_id
    after = server.create_requests[-1].body
    assert "previous_response_id" not in after
    users = [i["content"] for i in after["input"] if i.get("role") == "user"]
    texts = [c if isinstance(c, str) else c[0]["text"] for c in users]
    assert texts == ["The code word is kiwi.", "What was the code word?"]
    assert second.final_output == "kiwi"
