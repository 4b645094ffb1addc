"""MCP servers over stdio as tools of a run: a real SDK server process, the scripted model.

Each test runs an agent whose tools come from ``MCPServer.stdio(...)``; the scripted Responses
server issues the calls and checks every request (one output per call).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_support import PYTHON, SDK_STDIO, alive, outputs, pids, serve, tool_names

from sandloop import MCPServer
from sandloop.errors import ConfigError, MCPStartError
from sandloop.executors.base import ApprovalRequest
from sandloop.executors.function import tool
from sandloop.loop import Agent, run
from sandloop.testing import function_call, message


def sdk_server(**options: Any) -> MCPServer:
    return MCPServer.stdio(PYTHON, [SDK_STDIO], name="calc", **options)


async def test_tools_are_offered_and_called_with_text_image_structured_and_error_results() -> None:
    turns = [
        [
            function_call("calc__add", {"a": 2, "b": 40}, call_id="c_add"),
            function_call("calc__picture", {"caption": "a dot"}, call_id="c_pic"),
            function_call("calc__weather", {"city": "Oslo"}, call_id="c_weather"),
            function_call("calc__refuse", {"reason": "not today"}, call_id="c_refuse"),
        ],
        [message("done", phase="final_answer")],
    ]
    agent = Agent(model="gpt-test", tools=[sdk_server()])
    async with serve(turns) as (server, client):
        result = await run(agent, "go", client=client)
    assert result.status == "completed"
    first, second = server.create_requests
    names = tool_names(first)
    assert {"calc__add", "calc__picture", "calc__weather", "calc__refuse", "calc__hang"} <= set(
        names
    )
    add = next(t for t in first.body["tools"] if t["name"] == "calc__add")
    assert add["type"] == "function"
    assert add["description"] == "Add two integers."
    assert add["parameters"]["required"] == ["a", "b"]
    got = outputs(second)
    assert got["c_add"] == "42"
    caption, image = got["c_pic"]
    assert caption == {"type": "input_text", "text": "a dot"}
    assert image["type"] == "input_image"
    assert image["image_url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert json.loads(got["c_weather"]) == {"city": "Oslo", "temp_c": 21}
    assert "refused: not today" in got["c_refuse"]
    assert got["c_refuse"].startswith("calc__refuse failed")


async def test_the_server_process_and_its_children_are_gone_after_the_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    turns = [
        [function_call("calc__spawn_child", {}, call_id="c1")],
        [message("ok", phase="final_answer")],
    ]
    agent = Agent(model="gpt-test", tools=[sdk_server(env={"MCP_TEST_PIDS": str(pid_file)})])
    async with serve(turns) as (_, client):
        await run(agent, "go", client=client)
    started = pids(pid_file)
    assert len(started) == 2  # the server and the child it started
    assert not [p for p in started if alive(p)]


async def test_a_cancelled_run_leaves_no_server_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    turns = [[function_call("calc__hang", {}, call_id="c1")]]
    agent = Agent(model="gpt-test", tools=[sdk_server(env={"MCP_TEST_PIDS": str(pid_file)})])
    marker = anyio.Path(f"{pid_file}.hang")
    async with serve(turns) as (_, client):
        with anyio.move_on_after(30) as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_when_called() -> None:
                    # The server says so in a file once the call runs there.
                    while not await marker.exists():  # noqa: ASYNC110
                        await anyio.sleep(0.05)
                    tg.cancel_scope.cancel()

                tg.start_soon(cancel_when_called)
                await run(agent, "go", client=client)
        assert not scope.cancelled_caught
    started = pids(pid_file)
    assert started
    assert not [p for p in started if alive(p)]


async def test_a_failed_run_closes_its_server(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"

    def approve(request: ApprovalRequest) -> bool:
        raise RuntimeError("the approval callback broke")

    server_ = sdk_server(env={"MCP_TEST_PIDS": str(pid_file)}, needs_approval=True)
    turns = [[function_call("calc__add", {"a": 1, "b": 2}, call_id="c1")]]
    async with serve(turns) as (_, client):
        with pytest.raises(RuntimeError, match="the approval callback broke"):
            await run(
                Agent(model="gpt-test", tools=[server_]), "go", client=client, approve=approve
            )
    assert pids(pid_file)
    assert not [p for p in pids(pid_file) if alive(p)]


async def test_env_references_are_expanded_when_the_run_connects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SANDLOOP_TEST_SECRET", "s3cret")
    monkeypatch.setenv("SANDLOOP_NOT_PASSED", "leak")
    server_ = sdk_server(env={"API_TOKEN": "${SANDLOOP_TEST_SECRET}"})
    turns = [
        [
            function_call("calc__env_value", {"name": "API_TOKEN"}, call_id="c1"),
            function_call("calc__env_value", {"name": "SANDLOOP_NOT_PASSED"}, call_id="c2"),
        ],
        [message("ok", phase="final_answer")],
    ]
    async with serve(turns) as (server, client):
        await run(Agent(model="gpt-test", tools=[server_]), "go", client=client)
    got = outputs(server.create_requests[1])
    assert got == {"c1": "s3cret", "c2": "<unset>"}  # only env= and a few basics reach it


async def test_approvals_apply_to_mcp_tools() -> None:
    asked: list[ApprovalRequest] = []

    def approve(request: ApprovalRequest) -> bool:
        asked.append(request)
        return False

    turns = [
        [
            function_call("calc__add", {"a": 1, "b": 1}, call_id="c_add"),
            function_call("calc__refuse", {"reason": "x"}, call_id="c_refuse"),
        ],
        [message("ok", phase="final_answer")],
    ]
    agent = Agent(model="gpt-test", tools=[sdk_server(needs_approval=["add"])])
    async with serve(turns) as (server, client):
        await run(agent, "go", client=client, approve=approve)
    assert [(r.tool, r.arguments) for r in asked] == [("calc__add", '{"a": 1, "b": 1}')]
    got = outputs(server.create_requests[1])
    assert "denied" in got["c_add"]
    assert "refused: x" in got["c_refuse"]  # not asked: it ran


async def test_the_all_policy_asks_for_every_mcp_call() -> None:
    asked: list[str] = []

    async def approve(request: ApprovalRequest) -> bool:
        asked.append(request.tool)
        return True

    turns = [
        [function_call("calc__add", {"a": 1, "b": 2}, call_id="c1")],
        [message("ok", phase="final_answer")],
    ]
    agent = Agent(model="gpt-test", tools=[sdk_server()], approval_policy="all")
    async with serve(turns) as (server, client):
        await run(agent, "go", client=client, approve=approve)
    assert asked == ["calc__add"]
    assert outputs(server.create_requests[1]) == {"c1": "3"}


async def test_a_server_needing_approval_without_a_callback_is_refused_before_starting() -> None:
    agent = Agent(model="gpt-test", tools=[sdk_server(needs_approval=True)])
    async with serve([]) as (server, client):
        with pytest.raises(ConfigError, match="need approval"):
            await run(agent, "go", client=client)
    assert server.requests == []


async def test_a_name_clash_is_a_config_error_before_any_request() -> None:
    @tool(name="calc__add")
    def clash(a: int) -> int:
        """Shadows the server's tool."""
        return a

    agent = Agent(model="gpt-test", tools=[clash, sdk_server()])
    async with serve([]) as (server, client):
        with pytest.raises(ConfigError, match="duplicate tool name 'calc__add'"):
            await run(agent, "go", client=client)
    assert server.requests == []


def test_two_servers_of_one_name_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="two tool servers are named 'calc'"):
        Agent(model="gpt-test", tools=[sdk_server(), sdk_server()])


async def test_a_server_that_does_not_start_stops_the_run_before_any_request() -> None:
    broken = MCPServer.stdio(
        PYTHON, ["-c", "import sys; print('no', file=sys.stderr); sys.exit(3)"]
    )
    async with serve([]) as (server, client):
        with pytest.raises(MCPStartError, match="exited with code 3; the end of its stderr: no"):
            await run(Agent(model="gpt-test", tools=[broken]), "go", client=client)
    assert server.requests == []


async def test_defer_loading_marks_every_tool_of_the_server() -> None:
    turns = [[message("ok", phase="final_answer")]]
    async with serve(turns) as (server, client):
        await run(
            Agent(model="gpt-test", tools=[sdk_server(defer_loading=True)]), "go", client=client
        )
    tools = server.create_requests[0].body["tools"]
    # Every tool of the server is deferred: none is sent, the client tool search stands in.
    assert [t["type"] for t in tools] == ["tool_search"]
    assert tools[0]["execution"] == "client"
