"""The agent loop end to end over a real socket against ScriptedResponsesServer.

Each test plays a script; the server checks every request strictly (each call answered by
exactly one output of the right type, history replayed in order when stateless) and fails the
test on any protocol problem when its ``async with`` block exits.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from sandloop.client import ResponsesClient
from sandloop.errors import (
    MaxTurnsExceeded,
    ResponseFailedError,
    ResponseIncompleteError,
    RunTimeoutError,
    SandboxDiedError,
    TokenBudgetExceeded,
)
from sandloop.executors.base import ApprovalRequest
from sandloop.executors.custom import CustomTool
from sandloop.executors.function import tool
from sandloop.items import FunctionCallOutput, Message
from sandloop.loop import Agent, AgentLoop, RunResult, run
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    Turn,
    apply_patch_call,
    computer_call,
    custom_tool_call,
    function_call,
    local_shell_call,
    mcp_approval_request,
    message,
    reasoning,
    shell_call,
)


@asynccontextmanager
async def serve(turns: list[Any]) -> AsyncIterator[tuple[ScriptedResponsesServer, ResponsesClient]]:
    async with (
        ScriptedResponsesServer(turns) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        yield server, client


def inputs(request: RecordedRequest) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = request.body["input"]
    return body


def outputs_of(request: RecordedRequest) -> dict[str, str]:
    """call_id → output text of the function/custom outputs in a request."""
    return {
        i["call_id"]: i["output"]
        for i in inputs(request)
        if i["type"] in ("function_call_output", "custom_tool_call_output")
    }


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    return a + b


async def test_multi_turn_with_two_parallel_calls() -> None:
    started: list[str] = []
    both = anyio.Event()

    @tool
    async def fetch(city: str) -> str:
        """Fetch the weather for a city."""
        started.append(city)
        if len(started) == 2:
            both.set()
        # Only returns once both calls are running at the same time.
        with anyio.fail_after(5):
            await both.wait()
        return f"sunny in {city}"

    turns = [
        [
            reasoning("look up both"),
            function_call("fetch", {"city": "Oslo"}, call_id="c_oslo"),
            function_call("fetch", {"city": "Rome"}, call_id="c_rome"),
        ],
        [function_call("add", {"a": 2, "b": 3}, call_id="c_add")],
        [message("Both sunny; 5.", phase="final_answer")],
    ]
    agent = Agent(model="gpt-test", instructions="Be brief.", tools=[fetch, add])
    async with serve(turns) as (server, client):
        result = await run(agent, "weather?", client=client)
    assert result.status == "completed"
    assert result.final_output == "Both sunny; 5."
    assert result.turns == 3
    assert len(result.responses) == 3
    reqs = server.create_requests
    second = inputs(reqs[1])
    assert [i["call_id"] for i in second] == ["c_oslo", "c_rome"]  # outputs in call order
    assert outputs_of(reqs[1]) == {"c_oslo": "sunny in Oslo", "c_rome": "sunny in Rome"}
    assert reqs[1].body["previous_response_id"] == result.responses[0].id
    assert reqs[2].body["previous_response_id"] == result.responses[1].id
    assert outputs_of(reqs[2]) == {"c_add": "5"}
    for req in reqs:
        assert req.body["instructions"] == "Be brief."
        assert [t["name"] for t in req.body["tools"]] == ["fetch", "add"]
    assert result.usage.total_tokens == sum(
        r.usage.total_tokens for r in result.responses if r.usage
    )
    # Every call has its output in the items, right after the response that asked.
    kinds = [i.type for i in result.items]
    assert kinds == [
        "message", "reasoning", "function_call", "function_call", "function_call_output",
        "function_call_output", "function_call", "function_call_output", "message",
    ]  # fmt: skip


async def test_sequential_tool_runs_alone() -> None:
    running = 0
    overlap: list[int] = []

    async def work(tag: str) -> str:
        nonlocal running
        running += 1
        overlap.append(running)
        await anyio.sleep(0.02)
        running -= 1
        return tag

    @tool(sequential=True)
    async def migrate(step: str) -> str:
        """Run a migration step; never concurrently."""
        return await work(step)

    @tool
    async def read(path: str) -> str:
        """Read a path."""
        return await work(path)

    turns = [
        [
            function_call("read", {"path": "a"}, call_id="r1"),
            function_call("migrate", {"step": "m"}, call_id="m1"),
            function_call("read", {"path": "b"}, call_id="r2"),
        ],
        [message("done")],
    ]
    async with serve(turns) as (server, client):
        result = await run(Agent(model="m", tools=[migrate, read]), "go", client=client)
    req = server.create_requests[1]
    assert [i["call_id"] for i in inputs(req)] == ["r1", "m1", "r2"]
    assert overlap[1] == 1  # the migration ran with nothing beside it
    assert result.final_output == "done"


async def test_failures_go_back_to_the_model() -> None:
    @tool
    def explode(x: int) -> int:
        """Always fails."""
        raise RuntimeError(f"cannot handle {x}")

    turns = [
        [
            function_call("nosuch", {}, call_id="u1"),
            function_call("add", '{"a": 1, "b": ', call_id="j1"),
            function_call("add", {"a": "one", "b": 2}, call_id="v1"),
            function_call("explode", {"x": 7}, call_id="e1"),
            shell_call(["ls"], call_id="s1"),
            local_shell_call(["ls"], call_id="l1"),
        ],
        [message("I see the errors.")],
    ]
    async with serve(turns) as (server, client):
        result = await run(Agent(model="m", tools=[add, explode]), "go", client=client)
    out = outputs_of(server.create_requests[1])
    assert out["u1"] == "Unknown tool 'nosuch'. Available tools: add, explode."
    assert "not valid JSON" in out["j1"]
    assert "a: Input should be a valid integer" in out["v1"]
    assert out["e1"] == "explode raised RuntimeError: cannot handle 7"
    sent = {i.get("call_id", i.get("id")): i for i in inputs(server.create_requests[1])}
    assert sent["s1"]["type"] == "shell_call_output"
    assert "Unknown tool 'shell'" in sent["s1"]["output"][0]["stderr"]
    assert sent["l1"]["type"] == "local_shell_call_output"
    assert result.status == "completed"


async def test_custom_tool_round_trip() -> None:
    def shout(text: str) -> str:
        """Repeat the text loudly."""
        return text.upper()

    loud = CustomTool(shout, grammar=r"[a-z ]+", syntax="regex")
    turns = [[custom_tool_call("shout", "hello there", call_id="k1")], [message("ok")]]
    async with serve(turns) as (server, client):
        await run(Agent(model="m", tools=[loud]), "go", client=client)
    first, second = server.create_requests
    assert first.body["tools"][0]["format"] == {
        "type": "grammar",
        "syntax": "regex",
        "definition": "[a-z ]+",
    }
    assert inputs(second) == [
        {"type": "custom_tool_call_output", "call_id": "k1", "output": "HELLO THERE"}
    ]


async def test_denied_approval_and_mcp_request() -> None:
    ran: list[str] = []

    @tool(needs_approval=True)
    def delete(path: str) -> str:
        """Delete a file."""
        ran.append(path)
        return "deleted"

    asked: list[ApprovalRequest] = []

    async def approve(request: ApprovalRequest) -> bool:
        asked.append(request)
        if request.kind == "mcp":
            return request.tool == "docs.search"
        path: str = json.loads(request.arguments)["path"]
        return path == "tmp.txt"

    turns = [
        [
            function_call("delete", {"path": "tmp.txt"}, call_id="d1"),
            function_call("delete", {"path": "/etc/passwd"}, call_id="d2"),
            mcp_approval_request("search", {"q": "x"}, server_label="docs", id="mcpr_1"),
            mcp_approval_request("drop_db", {}, server_label="docs", id="mcpr_2"),
        ],
        [message("ok")],
    ]
    agent = Agent(model="m", tools=[delete, {"type": "mcp", "server_label": "docs"}])
    async with serve(turns) as (server, client):
        await run(agent, "go", client=client, approve=approve)
    assert ran == ["tmp.txt"]
    sent = inputs(server.create_requests[1])
    by_key = {i.get("call_id") or i.get("approval_request_id"): i for i in sent}
    assert by_key["d1"]["output"] == "deleted"
    assert by_key["d2"]["output"] == "The user denied this delete call. Do not retry it as is."
    assert by_key["mcpr_1"] == {
        "type": "mcp_approval_response",
        "approval_request_id": "mcpr_1",
        "approve": True,
    }
    assert by_key["mcpr_2"]["approve"] is False
    assert by_key["mcpr_2"]["reason"] == "denied by the user"
    assert sorted(a.kind for a in asked) == ["call", "call", "mcp", "mcp"]
    assert server.create_requests[0].body["tools"][1] == {"type": "mcp", "server_label": "docs"}


async def test_max_turns_carries_a_valid_partial_result() -> None:
    turns = [
        [function_call("add", {"a": 1, "b": 1}, call_id="c1")],
        [function_call("add", {"a": 2, "b": 2}, call_id="c2")],
    ]
    async with serve(turns) as (_, client):
        with pytest.raises(MaxTurnsExceeded) as info:
            await run(Agent(model="m", tools=[add], max_turns=2), "loop", client=client)
    result: RunResult = info.value.result
    assert result.status == "max_turns"
    assert result.turns == 2
    last = result.items[-1]
    assert isinstance(last, FunctionCallOutput)
    assert (last.call_id, last.output) == ("c2", "4")


async def test_failed_response_is_a_typed_error() -> None:
    turns = [
        [function_call("add", {"a": 1, "b": 1}, call_id="c1")],
        Turn([], status="failed", error={"code": "server_error", "message": "boom"}),
    ]
    async with serve(turns) as (_, client):
        with pytest.raises(ResponseFailedError) as info:
            await run(Agent(model="m", tools=[add]), "go", client=client)
    assert info.value.code == "server_error"
    result = info.value.result
    assert result.status == "failed"
    assert result.turns == 2
    assert result.items[-1].output == "2"


async def test_incomplete_response_is_a_typed_error() -> None:
    turns = [
        Turn(
            [message("partial answ"), function_call("add", {"a": 1, "b": 1}, call_id="c1")],
            status="incomplete",
            incomplete_reason="max_output_tokens",
        )
    ]
    async with serve(turns) as (_, client):
        with pytest.raises(ResponseIncompleteError) as info:
            await run(Agent(model="m", tools=[add]), "go", client=client)
    assert info.value.reason == "max_output_tokens"
    result = info.value.result
    assert result.status == "incomplete"
    # The call was not run, but it has an output, so the history can be sent again.
    assert result.items[-1].call_id == "c1"
    assert "incomplete" in result.items[-1].output


async def test_sandbox_death_stops_the_run() -> None:
    @tool
    async def probe() -> str:
        """Probe the sandbox."""
        raise SandboxDiedError("the container exited (137)")

    turns = [[function_call("probe", {}, call_id="p1")]]
    async with serve(turns) as (_, client):
        with pytest.raises(SandboxDiedError):
            await run(Agent(model="m", tools=[probe]), "go", client=client)


async def test_run_timeout() -> None:
    @tool
    async def slow() -> str:
        """Takes long."""
        await anyio.sleep(30)
        return "late"

    turns = [[function_call("slow", {}, call_id="s1")]]
    async with serve(turns) as (_, client):
        with pytest.raises(RunTimeoutError) as info:
            await run(Agent(model="m", tools=[slow], timeout=0.3), "go", client=client)
    result = info.value.result
    assert result.status == "timeout"
    assert result.items[-1].call_id == "s1"
    assert "time limit" in result.items[-1].output


async def test_hosted_and_unknown_items_pass_through_untouched() -> None:
    web = {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {"type": "search", "query": "x"},
    }
    odd = {"type": "future_thing", "id": "ft_1", "payload": {"nested": [1, 2]}, "created_by": "x"}
    turns = [
        [web, odd, function_call("add", {"a": 1, "b": 2}, call_id="c1")],
        [message("3", phase="final_answer")],
    ]
    agent = Agent(model="m", tools=[add], store=False)
    async with serve(turns) as (server, client):
        result = await run(agent, "go", client=client)
    sent = inputs(server.create_requests[1])
    assert sent[1] == web
    assert sent[2] == {k: v for k, v in odd.items() if k != "created_by"}
    assert result.final_output == "3"


async def test_final_output_prefers_final_answer_phase() -> None:
    turns = [
        [message("The answer is 4.", phase="final_answer"), message("(extra note)")],
    ]
    async with serve(turns) as (_, client):
        result = await run(Agent(model="m"), "2+2?", client=client)
    assert result.final_output == "The answer is 4."
    assert isinstance(result.items[0], Message)


async def test_namespaced_tools_are_grouped_and_routed() -> None:
    @tool(namespace="math", name="add")
    def math_add(a: int, b: int) -> int:
        """Add, in the math namespace."""
        return a + b + 1000

    turns = [
        [
            function_call("add", {"a": 1, "b": 2}, call_id="plain"),
            function_call("add", {"a": 1, "b": 2}, call_id="ns", namespace="math"),
        ],
        [message("ok")],
    ]
    agent = Agent(model="m", tools=[add, math_add], namespaces={"math": "Arithmetic."})
    async with serve(turns) as (server, client):
        await run(agent, "go", client=client)
    tools = server.create_requests[0].body["tools"]
    assert tools[0]["name"] == "add"
    assert tools[1]["type"] == "namespace"
    assert tools[1]["description"] == "Arithmetic."
    assert [t["name"] for t in tools[1]["tools"]] == ["add"]
    assert outputs_of(server.create_requests[1]) == {"plain": "3", "ns": "1003"}


async def test_calls_without_a_tool_get_their_family_output() -> None:
    turns = [
        [
            apply_patch_call("delete_file", "a.txt", call_id="p1"),
            computer_call({"type": "screenshot"}, call_id="k1"),
        ],
        [message("ok")],
    ]
    async with serve(turns) as (server, client):
        await run(Agent(model="m"), "go", client=client)
    sent = inputs(server.create_requests[1])
    assert sent[0] == {
        "type": "apply_patch_call_output",
        "call_id": "p1",
        "status": "failed",
        "output": "Unknown tool 'apply_patch'. Available tools: none.",
    }
    assert sent[1]["type"] == "computer_call_output"
    assert sent[1]["call_id"] == "k1"
    # A screenshot cannot carry words: a developer message after it says what happened.
    assert sent[2]["role"] == "developer"
    assert "Unknown tool 'computer'" in sent[2]["content"]


async def test_token_budget() -> None:
    usage = {"input_tokens": 600, "output_tokens": 50, "total_tokens": 650}
    turns = [
        Turn([function_call("add", {"a": 1, "b": 1}, call_id="c1")], usage=usage),
        Turn([function_call("add", {"a": 2, "b": 2}, call_id="c2")], usage=usage),
    ]
    async with serve(turns) as (_, client):
        with pytest.raises(TokenBudgetExceeded) as info:
            await run(Agent(model="m", tools=[add], token_budget=1000), "go", client=client)
    result = info.value.result
    assert result.status == "token_budget"
    assert result.usage.total_tokens == 1300
    assert result.items[-1].call_id == "c2"  # the last calls ran and were answered


@pytest.mark.parametrize("limit", [None, 60.0])
async def test_a_callback_timeout_is_not_the_run_timeout(limit: float | None) -> None:
    # The user's own TimeoutError (here: nobody answered the approval prompt) is theirs: it
    # must not turn into RunTimeoutError (or crash formatting a limit the run does not have),
    # and the history must still answer every call so the run can be resumed.
    @tool(needs_approval=True)
    def deploy() -> str:
        """Deploy."""
        return "deployed"

    async def approve(request: ApprovalRequest) -> bool:
        raise TimeoutError("nobody answered the prompt")

    turns = [[function_call("deploy", {}, call_id="d1")], [message("resumed")]]
    agent = Agent(model="m", tools=[deploy], timeout=limit)
    async with serve(turns) as (_, client):
        loop = AgentLoop(agent, "ship it", client=client, approve=approve)
        with pytest.raises(TimeoutError, match="nobody answered") as info:
            await loop.run()
        assert not isinstance(info.value, RunTimeoutError)
        partial = loop.result()
        assert partial.status == "failed"
        assert isinstance(partial.items[-1], FunctionCallOutput)
        assert partial.items[-1].call_id == "d1"
        resumed = await run(Agent(model="m"), partial.history, client=client)
    assert resumed.final_output == "resumed"
