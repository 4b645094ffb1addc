"""A follow-up run chained onto a stopped run (``previous_response_id``), end to end.

After a stop (max turns, an incomplete response, a cancel) the outputs that answer the last
response's calls exist only on the client: ``RunResult.pending_input`` holds them and the
follow-up sends them first. The scripted server rejects a chained request that leaves a call of
the response it continues without an output, so each resume here passes its strict checks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from sandloop.client import ResponsesClient
from sandloop.errors import MaxTurnsExceeded, ResponseFailedError, ResponseIncompleteError
from sandloop.executors.function import tool
from sandloop.items import FunctionCallOutput, Message, dump_item
from sandloop.loop import Agent, AgentLoop, RunResult, run
from sandloop.testing import ScriptedResponsesServer, Turn, function_call, message

GO_ON = {"type": "message", "role": "user", "content": "go on"}


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
    async with (
        ScriptedResponsesServer(turns) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        yield server, client


async def go_on(
    agent: Agent, result: RunResult, server: ScriptedResponsesServer, client: ResponsesClient
) -> RunResult:
    """Chain a follow-up onto ``result``; check what it sent."""
    follow = await run(
        agent,
        result.continue_input("go on"),
        client=client,
        previous_response_id=result.last_response_id,
    )
    sent = server.create_requests[-1].body
    assert sent["previous_response_id"] == result.last_response_id
    assert sent["input"] == [*(dump_item(i) for i in result.pending_input), GO_ON]
    return follow


async def test_after_max_turns_a_chained_follow_up_is_accepted() -> None:
    turns = [
        [function_call("add", {"a": 1, "b": 1}, call_id="c1")],
        [function_call("add", {"a": 2, "b": 2}, call_id="c2")],
        [message("4, then", phase="final_answer")],
    ]
    agent = Agent(model="m", tools=[add], max_turns=2)
    async with serve(turns) as (server, client):
        with pytest.raises(MaxTurnsExceeded) as info:
            await run(agent, "loop", client=client)
        result = info.value.result
        (pending,) = result.pending_input
        assert isinstance(pending, FunctionCallOutput)
        assert (pending.call_id, pending.output) == ("c2", "4")
        assert result.last_response_id == result.responses[-1].id
        follow = await go_on(agent, result, server, client)
    assert follow.final_output == "4, then"
    assert follow.pending_input == []


async def test_after_an_incomplete_response_the_synthetic_outputs_are_sent() -> None:
    turns = [
        Turn([function_call("add", {"a": 1, "b": 1}, call_id="c1")], status="incomplete"),
        [message("picked up", phase="final_answer")],
    ]
    agent = Agent(model="m", tools=[add])
    async with serve(turns) as (server, client):
        with pytest.raises(ResponseIncompleteError) as info:
            await run(agent, "add", client=client)
        result = info.value.result
        (pending,) = result.pending_input
        assert isinstance(pending, FunctionCallOutput)
        assert pending.call_id == "c1"
        assert pending.output == "Not run: the response was incomplete."
        follow = await go_on(agent, result, server, client)
    assert follow.final_output == "picked up"


async def test_after_a_cancel_the_finished_and_settled_outputs_are_sent() -> None:
    started = anyio.Event()

    @tool
    async def build() -> str:
        """Build the project."""
        started.set()
        await anyio.sleep(60)
        return "built"

    turns = [
        [
            function_call("add", {"a": 1, "b": 1}, call_id="a1"),
            function_call("build", {}, call_id="b1"),
        ],
        [message("resumed", phase="final_answer")],
    ]
    agent = Agent(model="m", tools=[add, build])
    async with serve(turns) as (server, client):
        loop = AgentLoop(agent, "build it", client=client)
        async with anyio.create_task_group() as tg:
            tg.start_soon(loop.run)
            with anyio.fail_after(5):
                await started.wait()
            tg.cancel_scope.cancel()
        result = loop.result()
        assert result.status == "cancelled"
        outputs = {i.call_id: i.output for i in result.pending_input}
        assert set(outputs) == {"a1", "b1"}  # a1 may have finished or not: either is sent
        assert outputs["b1"] == "Not run: the run was cancelled."
        follow = await go_on(agent, result, server, client)
    assert follow.final_output == "resumed"


async def test_before_any_response_the_pending_input_is_the_whole_input() -> None:
    turns = [Turn(None, status="failed")]
    async with serve(turns) as (_, client):
        loop = AgentLoop(Agent(model="m"), "hello", client=client)
        with pytest.raises(ResponseFailedError):
            await loop.run()
    result = loop.result()
    assert [type(i) for i in result.pending_input] == [Message]
    assert result.continue_input() == result.pending_input


def test_continue_input_and_the_dict_form_keep_pending_input() -> None:
    output = FunctionCallOutput(call_id="c9", output="done")
    result = RunResult(run_id="r", status="max_turns", final_output="", items=[output])
    result.pending_input = [output]
    items = result.continue_input("next")
    assert items[0] is output
    assert isinstance(items[1], Message)
    assert items[1].content == "next"
    assert result.continue_input([GO_ON]) == [output, GO_ON]
    again = RunResult.from_dict(result.to_dict())
    assert again.pending_input == [output]
    old = result.to_dict()
    del old["pending_input"]  # a result saved before the field existed
    assert RunResult.from_dict(old).pending_input == []
