"""MCP servers that misbehave: each gives the call a failed output, and the run goes on.

Real processes: the SDK server kills itself mid-call or never answers; the plain-Python server
answers a line that is not JSON-RPC, a result that is not a tools/call result, a line past the
size cap, or exits mid-call. After each, the scripted model's next turn is still served and
the run ends with its final answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp_support import PYTHON, SDK_STDIO, STDLIB, outputs, serve

from sandloop import MCPServer
from sandloop.loop import Agent, run
from sandloop.testing import function_call, message


async def run_calls(server: MCPServer, *calls: tuple[str, str]) -> dict[str, object]:
    """Run one turn of ``(tool, call_id)`` calls and a final answer; the outputs by call id."""
    turns = [
        [function_call(name, {}, call_id=call_id) for name, call_id in calls],
        [message("done", phase="final_answer")],
    ]
    async with serve(turns) as (scripted, client):
        result = await run(Agent(model="gpt-test", tools=[server]), "go", client=client)
    assert result.status == "completed"
    assert result.final_output == "done"
    return outputs(scripted.create_requests[1])


async def test_a_server_that_crashes_mid_call_fails_the_call_and_later_calls() -> None:
    server = MCPServer.stdio(PYTHON, [SDK_STDIO], name="calc")
    turns = [
        [function_call("calc__crash", {}, call_id="c_crash")],
        [function_call("calc__add", {"a": 1, "b": 2}, call_id="c_after")],
        [message("done", phase="final_answer")],
    ]
    async with serve(turns) as (scripted, client):
        result = await run(Agent(model="gpt-test", tools=[server]), "go", client=client)
    assert result.final_output == "done"
    crash = outputs(scripted.create_requests[1])["c_crash"]
    assert "calc__crash failed" in crash
    assert "exited with code 9" in crash
    assert "crash: going down now" in crash  # the tail of its stderr
    after = outputs(scripted.create_requests[2])["c_after"]
    assert "is not running" in after
    assert "exited with code 9" in after


async def test_a_hanging_call_times_out_and_the_server_still_answers() -> None:
    server = MCPServer.stdio(PYTHON, [SDK_STDIO], name="calc", timeout=1.5)
    turns = [
        [function_call("calc__hang", {}, call_id="c_hang")],
        [function_call("calc__add", {"a": 20, "b": 22}, call_id="c_add")],
        [message("done", phase="final_answer")],
    ]
    async with serve(turns) as (scripted, client):
        result = await run(Agent(model="gpt-test", tools=[server]), "go", client=client)
    assert result.final_output == "done"
    hang = outputs(scripted.create_requests[1])["c_hang"]
    assert hang == "calc__hang timed out after 1.5 seconds and was stopped."
    assert outputs(scripted.create_requests[2]) == {"c_add": "42"}


def stdlib_server(**options: Any) -> MCPServer:
    return MCPServer.stdio(PYTHON, [STDLIB], name="raw", **options)


async def test_an_invalid_result_fails_the_call_at_once() -> None:
    got = await run_calls(stdlib_server(), ("raw__bad_result", "c_bad"), ("raw__echo", "c_ok"))
    assert "raw__bad_result failed" in str(got["c_bad"])
    assert "not valid" in str(got["c_bad"])
    assert got["c_ok"] == ""  # echo of no text: the server still answers


async def test_a_line_that_is_not_json_rpc_is_dropped_and_the_call_times_out() -> None:
    got = await run_calls(stdlib_server(timeout=1.0), ("raw__garbage", "c1"), ("raw__echo", "c2"))
    assert got["c1"] == "raw__garbage timed out after 1 seconds and was stopped."
    assert got["c2"] == ""


async def test_a_flood_of_lines_that_are_not_json_rpc_breaks_the_connection() -> None:
    got = await run_calls(stdlib_server(), ("raw__spam", "c1"))
    assert "raw__spam failed" in str(got["c1"])
    assert "it wrote 101 lines that are not JSON-RPC: 'log line'" in str(got["c1"])


async def test_a_line_past_the_size_cap_breaks_the_connection() -> None:
    server = stdlib_server(max_message_bytes=1_000_000)
    got = await run_calls(server, ("raw__huge", "c1"))
    assert "raw__huge failed" in str(got["c1"])
    assert "longer than 1000000 bytes" in str(got["c1"])


async def test_a_server_exiting_mid_call_reports_its_code_and_stderr() -> None:
    got = await run_calls(stdlib_server(), ("raw__exit", "c1"))
    assert "exited with code 7" in str(got["c1"])
    assert "exit: stopping on purpose" in str(got["c1"])


async def test_arguments_that_are_not_an_object_are_refused_without_calling() -> None:
    turns = [
        [function_call("raw__echo", "[1, 2]", call_id="c1")],
        [message("done", phase="final_answer")],
    ]
    async with serve(turns) as (scripted, client):
        await run(Agent(model="gpt-test", tools=[stdlib_server()]), "go", client=client)
    assert "must be a JSON object" in outputs(scripted.create_requests[1])["c1"]


@pytest.mark.parametrize("command", ["/nonexistent/mcp-server", PYTHON])
async def test_a_server_that_cannot_start_is_named_in_the_error(command: str) -> None:
    from sandloop.errors import MCPStartError

    args = ["-c", "import time; time.sleep(60)"] if command == PYTHON else []
    server = MCPServer.stdio(command, args, name="dead", startup_timeout=1.0)
    async with serve([]) as (scripted, client):
        with pytest.raises(MCPStartError, match="MCP server 'dead' did not start") as caught:
            await run(Agent(model="gpt-test", tools=[server]), "go", client=client)
    assert caught.value.server == "dead"
    assert scripted.requests == []


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"STDLIB_EXTRA_TOOLS": "600"}, "it lists more than 512 tools"),
        ({"STDLIB_BIG_SCHEMA": "70000"}, "the input schema of its tool 'echo' has 700"),
    ],
)
async def test_a_listing_past_the_caps_does_not_start(env: dict[str, str], words: str) -> None:
    from sandloop.errors import MCPStartError

    async with serve([]) as (scripted, client):
        with pytest.raises(MCPStartError, match=words):
            await run(Agent(model="gpt-test", tools=[stdlib_server(env=env)]), "go", client=client)
    assert scripted.requests == []
