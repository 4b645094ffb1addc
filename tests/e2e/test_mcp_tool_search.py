"""An MCP server's tools deferred (``defer_loading=True``) and found through client-side tool
search: not sent up front, loaded by a ``tool_search_call``, then called on the server.

Client tool search is another branch's work (i15search); until both are merged this module
skips, saying so. Checked with a trial merge of the two branches: both modes pass."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp_support import PYTHON, SDK_STDIO, outputs, serve

import sandloop.testing
from sandloop import Agent, MCPServer
from sandloop.loop import run
from sandloop.testing import RecordedRequest, function_call, message

if not hasattr(sandloop.testing, "tool_search_call"):
    pytest.skip("client tool search (branch i15search) is not merged", allow_module_level=True)
tool_search_call = sandloop.testing.tool_search_call


@pytest.mark.parametrize("store", [True, False], ids=["chained", "stateless"])
async def test_deferred_mcp_tools_are_found_loaded_and_called(store: bool) -> None:
    server = MCPServer.stdio(PYTHON, [SDK_STDIO], name="calc", defer_loading=True)

    def call_it(request: RecordedRequest) -> list[dict[str, Any]]:
        (loaded,) = [i for i in request.body["input"] if i["type"] == "tool_search_output"]
        assert "calc__add" in [t["name"] for t in loaded["tools"]]
        return [function_call("calc__add", {"a": 40, "b": 2}, call_id="c1")]

    turns = [[tool_search_call("add two integers", call_id="ts1")], call_it, [message("done")]]
    async with serve(turns) as (scripted, client):
        result = await run(
            Agent(model="gpt-test", tools=[server], store=store), "go", client=client
        )
    assert result.final_output == "done"
    first = scripted.create_requests[0].body["tools"]
    assert [t["type"] for t in first] == ["tool_search"]  # every MCP tool deferred
    assert "calc__add" not in json.dumps(first)
    assert outputs(scripted.create_requests[2]) == {"c1": "42"}
