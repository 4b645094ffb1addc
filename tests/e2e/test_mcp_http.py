"""An MCP server over Streamable HTTP as tools of a run: the SDK's server in its own process on
127.0.0.1 (a free port), the scripted model issuing the calls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp_support import http_server, outputs, serve, stop_http_server, tool_names

from sandloop import MCPServer
from sandloop.errors import ConfigError, MCPStartError
from sandloop.loop import Agent, run
from sandloop.testing import RecordedRequest, function_call, message


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with http_server() as endpoint:
        yield endpoint


async def test_tools_of_an_http_server_are_called_with_its_headers(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDLOOP_TEST_TOKEN", "tok-123")
    server = MCPServer.http(
        url, headers={"Authorization": "Bearer ${SANDLOOP_TEST_TOKEN}"}, name="remote"
    )
    turns = [
        [
            function_call("remote__add", {"a": 2, "b": 3}, call_id="c_add"),
            function_call("remote__whoami", {}, call_id="c_who"),
        ],
        [message("done", phase="final_answer")],
    ]
    async with serve(turns) as (scripted, client):
        result = await run(Agent(model="gpt-test", tools=[server]), "go", client=client)
    assert result.final_output == "done"
    assert set(tool_names(scripted.create_requests[0])) == {"remote__add", "remote__whoami"}
    assert outputs(scripted.create_requests[1]) == {"c_add": "5", "c_who": "Bearer tok-123"}


async def test_a_missing_variable_is_a_config_error_before_any_request(url: str) -> None:
    server = MCPServer.http(url, headers={"Authorization": "Bearer ${SANDLOOP_UNSET_VAR_X}"})
    async with serve([]) as (scripted, client):
        with pytest.raises(ConfigError, match=r"refers to \$\{SANDLOOP_UNSET_VAR_X\}"):
            await run(Agent(model="gpt-test", tools=[server]), "go", client=client)
    assert scripted.requests == []


async def test_an_http_server_that_is_not_there_does_not_start(url: str) -> None:
    dead = url.rsplit(":", 1)[0] + ":9/mcp"  # the discard port: nothing listens
    server = MCPServer.http(dead, name="gone", startup_timeout=5)
    async with serve([]) as (scripted, client):
        with pytest.raises(MCPStartError, match="MCP server 'gone' did not start"):
            await run(Agent(model="gpt-test", tools=[server]), "go", client=client)
    assert scripted.requests == []


async def test_an_http_server_and_a_stdio_server_in_one_run(url: str) -> None:
    from mcp_support import PYTHON, SDK_STDIO

    servers = [
        MCPServer.http(url, name="remote"),
        MCPServer.stdio(PYTHON, [SDK_STDIO], name="calc"),
    ]
    turns = [
        [
            function_call("remote__add", {"a": 1, "b": 1}, call_id="c1"),
            function_call("calc__add", {"a": 2, "b": 2}, call_id="c2"),
        ],
        [message("done", phase="final_answer")],
    ]
    async with serve(turns) as (scripted, client):
        await run(Agent(model="gpt-test", tools=servers), "go", client=client)
    assert outputs(scripted.create_requests[1]) == {"c1": "2", "c2": "4"}


async def test_an_http_server_that_goes_away_fails_the_call_and_the_run_goes_on() -> None:
    with http_server() as endpoint:
        server = MCPServer.http(endpoint, name="remote", timeout=10)

        def kill_then_call(request: RecordedRequest) -> list[dict[str, object]]:
            stop_http_server(endpoint)
            return [function_call("remote__add", {"a": 1, "b": 2}, call_id="c_gone")]

        turns = [
            [function_call("remote__add", {"a": 1, "b": 1}, call_id="c_ok")],
            kill_then_call,
            [message("done", phase="final_answer")],
        ]
        async with serve(turns) as (scripted, client):
            result = await run(Agent(model="gpt-test", tools=[server]), "go", client=client)
    assert result.final_output == "done"
    assert outputs(scripted.create_requests[1]) == {"c_ok": "2"}
    gone = outputs(scripted.create_requests[2])["c_gone"]
    assert gone == (
        "remote__add failed: the MCP server 'remote' could not be reached: Connection closed"
    )
