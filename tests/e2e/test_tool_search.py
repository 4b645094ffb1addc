"""Client-side tool search, end to end: the model searches, sandloop loads, the model calls.

Real sockets against ScriptedResponsesServer with its protocol checks on: every call answered
once by an output of the right type, stateless requests replaying the whole history verbatim,
each ``tool_search_output`` well formed and loading a tool once, and every function or custom
call the script serves naming a tool the request offers or a search loaded.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
import tool_search_support as support

from sandloop.client import ResponsesClient
from sandloop.dispatch.tool_ranking import ToolIndex
from sandloop.errors import ApiError
from sandloop.items import FunctionCallOutput, Message, ToolSearchOutput
from sandloop.loop import RunEvent, RunSpec, ToolCallFinished, run
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    ScriptedServerError,
    Turn,
    custom_tool_call,
    function_call,
    message,
    tool_search_call,
)

MODES = pytest.mark.parametrize("store", [True, False], ids=["chained", "stateless"])


@asynccontextmanager
async def serve(
    turns: list[Any], **options: Any
) -> AsyncIterator[tuple[ScriptedResponsesServer, ResponsesClient]]:
    async with (
        ScriptedResponsesServer(turns, **options) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        yield server, client


def searched(request: RecordedRequest) -> list[dict[str, Any]]:
    """The ``tool_search_output`` items a request sends."""
    return [i for i in request.body["input"] if i.get("type") == "tool_search_output"]


def names(tools: list[dict[str, Any]]) -> list[str]:
    """The tool names in a ``tools`` list, ``namespace.name`` inside namespaces."""
    out = []
    for tool in tools:
        if tool["type"] == "namespace":
            out += [f"{tool['name']}.{t['name']}" for t in tool["tools"]]
        else:
            out.append(tool.get("name") or tool["type"])
    return out


def outputs(result_items: list[Any], kind: type[Any]) -> list[Any]:
    return [i for i in result_items if isinstance(i, kind)]


@MODES
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
async def test_search_load_then_call_a_deferred_function(store: bool, streamed: bool) -> None:
    def call_it(request: RecordedRequest) -> list[dict[str, Any]]:
        (out,) = searched(request)
        assert names(out["tools"]) == ["get_weather"]
        assert out["tools"][0]["defer_loading"] is True
        return [function_call("get_weather", {"city": "Paris"}, call_id="c1")]

    turns = [[tool_search_call("weather in a city", call_id="ts1")], call_it, [message("done")]]
    async with serve(turns) as (server, client):
        result = await run(support.agent(store=store), "go", client=client, stream=streamed)
        requests = server.create_requests
    assert result.final_output == "done"
    first = requests[0].body
    assert names(first["tools"]) == ["add", "tool_search"]
    assert first["tools"][1]["execution"] == "client"
    assert "get_weather" not in json.dumps(first["tools"])  # deferred: not sent up front
    assert all(r.body["tools"] == first["tools"] for r in requests)  # one tools list: cacheable
    (loaded,) = outputs(result.items, ToolSearchOutput)
    assert loaded.call_id == "ts1"
    assert loaded.execution == "client"
    assert [o.output for o in outputs(result.items, FunctionCallOutput)] == ["sunny in Paris"]
    last = requests[-1].body
    if store:  # chained: the server keeps the output that loaded the tool
        assert last["previous_response_id"]
        assert searched(requests[-1]) == []
    else:  # stateless: it is replayed, so the tool stays loaded
        assert "previous_response_id" not in last
        assert len(searched(requests[-1])) == 1


@MODES
async def test_namespaced_and_custom_tools_are_loaded_and_called(store: bool) -> None:
    def check_crm(request: RecordedRequest) -> list[dict[str, Any]]:
        (out,) = searched(request)[-1:]
        assert out["tools"][0]["type"] == "namespace"
        assert out["tools"][0]["description"] == "Customer records."
        assert names(out["tools"]) == ["crm.lookup_customer"]
        return [tool_search_call("sql query orders database", limit=1, call_id="ts2")]

    def call_both(request: RecordedRequest) -> list[dict[str, Any]]:
        (out,) = searched(request)[-1:]
        assert names(out["tools"]) == ["run_sql"]
        return [
            function_call("lookup_customer", {"email": "a@b.c"}, namespace="crm", call_id="c1"),
            custom_tool_call("run_sql", "SELECT 1", call_id="c2"),
        ]

    turns = [
        [tool_search_call("customer email", call_id="ts1")],
        check_crm,
        call_both,
        [message("done")],
    ]
    async with serve(turns) as (_, client):
        result = await run(support.agent(store=store), "go", client=client)
    texts = [getattr(i, "output", None) for i in result.items if getattr(i, "call_id", "")[:1]]
    assert "customer <a@b.c>: Ada" in texts
    assert "1 row for 'SELECT 1'" in texts


@MODES
async def test_a_search_with_no_match_loads_nothing_and_a_loaded_tool_is_not_sent_twice(
    store: bool,
) -> None:
    def nothing(request: RecordedRequest) -> list[dict[str, Any]]:
        assert searched(request)[-1]["tools"] == []
        return [tool_search_call("weather", call_id="ts2")]

    def again(request: RecordedRequest) -> list[dict[str, Any]]:
        assert names(searched(request)[-1]["tools"]) == ["get_weather"]
        return [tool_search_call("get_weather", call_id="ts3")]

    def already(request: RecordedRequest) -> list[dict[str, Any]]:
        assert searched(request)[-1]["tools"] == []  # loaded already: still callable
        return [function_call("get_weather", {"city": "Oslo"}, call_id="c1")]

    turns = [
        [tool_search_call("quantum teleportation", call_id="ts1")],
        nothing,
        again,
        already,
        [message("done")],
    ]
    async with serve(turns) as (_, client):
        result = await run(support.agent(store=store), "go", client=client)
    assert [o.output for o in outputs(result.items, FunctionCallOutput)] == ["sunny in Oslo"]


HOSTILE = [
    ("x" * 100_000, "over the 1000 allowed"),  # a huge query
    (12345, "must be an object"),
    ({"query": ["weather"]}, "string 'query'"),
    ({"query": "weather", "limit": 3, "sudo": True}, "no argument(s) sudo"),
    ("{not json", "not valid JSON"),
    (None, "must be an object"),
]


@MODES
async def test_hostile_search_arguments_get_an_empty_output_not_a_dead_run(store: bool) -> None:
    calls = [
        tool_search_call(arguments={"query": q} if isinstance(q, str) and len(q) > 99 else q,
                         call_id=f"bad{i}")
        for i, (q, _) in enumerate(HOSTILE)
    ]  # fmt: skip
    # A malformed item (a known field of the wrong type) is kept and answered, not fatal.
    calls.append({**tool_search_call("weather", call_id="malformed"), "status": {"x": 1}})
    calls.append(tool_search_call("weather", call_id="good"))

    def after(request: RecordedRequest) -> list[dict[str, Any]]:
        answers = {o["call_id"]: o for o in searched(request)}
        assert all(answers[f"bad{i}"]["tools"] == [] for i in range(len(HOSTILE)))
        assert answers["malformed"]["tools"] == []
        assert names(answers["good"]["tools"]) == ["get_weather"]
        return [function_call("get_weather", {"city": "Rome"}, call_id="c1")]

    events: list[RunEvent] = []
    async with serve([calls, after, [message("done")]]) as (_, client):
        result = await run(support.agent(store=store), "go", client=client, on_event=events.append)
    assert result.status == "completed"
    finished = {e.call_id: e for e in events if isinstance(e, ToolCallFinished)}
    for i, (_, words) in enumerate(HOSTILE):
        assert finished[f"bad{i}"].status == "invalid_arguments"
        assert words in str(finished[f"bad{i}"].error)
    assert finished["good"].status == "completed"
    assert finished["malformed"].status == "invalid_arguments"
    assert "status: Input should be a valid string" in str(finished["malformed"].error)
    notes = [m for m in outputs(result.items, Message) if m.role == "developer"]
    assert len(notes) == len(HOSTILE) + 1  # the model reads what was wrong
    assert all(
        str(n.content).startswith(("tool_search call bad", "tool_search call malformed"))
        for n in notes
    )


async def test_a_call_to_a_deferred_tool_before_it_was_loaded_is_not_run() -> None:
    ran: list[str] = []
    turns = [
        [function_call("get_weather", {"city": "Lima"}, call_id="c1")],
        [tool_search_call("weather", call_id="ts1")],
        [function_call("get_weather", {"city": "Lima"}, call_id="c2")],
        [message("done")],
    ]
    # The server would refuse the first turn itself (the tool is not offered): off, to see the
    # client's side of it.
    async with serve(turns, check_protocol=False) as (_, client):
        events: list[RunEvent] = []
        result = await run(support.agent(store=False), "go", client=client, on_event=events.append)
    ran = [e.call_id for e in events if isinstance(e, ToolCallFinished) and e.status == "completed"]
    assert ran == ["ts1", "c2"]
    first, second = outputs(result.items, FunctionCallOutput)
    assert "not loaded: find it with tool_search first" in str(first.output)
    assert second.output == "sunny in Lima"


async def problems_of(turns: list[Any], send: Callable[[ResponsesClient], Awaitable[Any]]) -> str:
    """Run ``send`` against a server playing ``turns``; the last request it sends must be
    refused. Returns the problems the server reported."""

    async def go() -> None:
        async with serve(turns) as (_, client):
            with pytest.raises(ApiError, match="scripted server"):
                await send(client)

    with pytest.raises(ScriptedServerError) as info:
        await go()
    return str(info.value)


async def test_the_server_check_fails_when_the_client_loads_the_wrong_tools(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A broken search (it finds nothing) leaves the model's next call unloaded: refused."""
    monkeypatch.setattr(ToolIndex, "search", lambda self, query, **kw: [])
    turns = [
        [tool_search_call("weather", call_id="ts1")],
        [function_call("get_weather", {"city": "Paris"}, call_id="c1")],
    ]
    agent = support.agent(store=False)
    problems = await problems_of(turns, lambda client: run(agent, "go", client=client))
    assert "'get_weather' (function_call 'c1'), which this request neither offers" in problems
    assert "callable only after a search loaded it" in problems


TOOLS = [
    {"type": "function", "name": "add", "parameters": {}, "strict": True},
    {"type": "tool_search", "execution": "client"},
]
LOADED = {"type": "function", "name": "get_weather", "parameters": {}, "defer_loading": True}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"type": "function_call_output", "call_id": "ts1", "output": "x"}, "expected tool_search"),
        ({"type": "tool_search_output", "call_id": "ts1", "tools": "x"}, "needs a 'tools' list"),
        ({"type": "tool_search_output", "call_id": "ts1", "tools": [{"name": "f"}]}, "with a type"),
        (
            {"type": "tool_search_output", "call_id": "ts1", "tools": [TOOLS[0]]},
            "'add', which is already offered",
        ),
        (
            {"type": "tool_search_output", "call_id": "ts1", "tools": [LOADED, LOADED]},
            "load each deferred tool once",
        ),
        (
            {"type": "tool_search_output", "call_id": "ts1", "execution": "server", "tools": []},
            "execution must be 'client'",
        ),
    ],
)
async def test_the_server_refuses_a_wrong_tool_search_output(
    answer: dict[str, Any], problem: str
) -> None:
    search = tool_search_call("weather", call_id="ts1")
    body = {"model": "m", "tools": TOOLS, "store": False}

    async def send(client: ResponsesClient) -> None:
        await client.create({**body, "input": "go"})
        replay = [{"type": "message", "role": "user", "content": "go"}, search, answer]
        await client.create({**body, "input": replay})

    assert problem in await problems_of([[search], [message("done")]], send)


async def test_the_server_refuses_a_call_to_a_tool_sent_deferred_and_never_loaded() -> None:
    tools = [*TOOLS, LOADED]  # in tools, but deferred: hidden until a search loads it
    turns = [[message("x")], [function_call("get_weather", {"city": "Paris"})]]

    async def send(client: ResponsesClient) -> None:
        first = await client.create({"model": "m", "input": "go"})  # no tool search: unchecked
        await client.create(
            {"model": "m", "tools": tools, "input": "on", "previous_response_id": first.id}
        )

    assert "callable only after" in await problems_of(turns, send)


async def test_a_run_spec_carries_deferral_and_a_history_carries_what_was_loaded() -> None:
    turns = [[tool_search_call("weather", call_id="ts1")], [message("searched")]]
    async with serve(turns) as (_, client):
        first = await run(support.agent(store=False), "go", client=client)
    history = [*first.history, Message(role="user", content="and now the weather in Bern")]
    spec = RunSpec.from_dict(json.loads(json.dumps(RunSpec(support.agent(store=False),
                                                           history).to_dict())))  # fmt: skip
    assert [t.name for t in spec.agent.registry.deferred()] == [
        "get_weather",
        "lookup_customer",
        "run_sql",
        "slow_lookup",
    ]
    # Loaded by the history's tool_search_output: callable at once, without a new search.
    turns = [[function_call("get_weather", {"city": "Bern"}, call_id="c1")], [message("ok")]]
    async with serve(turns) as (server, client):
        result = await run(spec.agent, spec.input, client=client)
        assert "get_weather" not in json.dumps(server.create_requests[0].body["tools"])
    assert [o.output for o in outputs(result.items, FunctionCallOutput)] == ["sunny in Bern"]


BIG = {"input_tokens": 9000, "output_tokens": 100, "total_tokens": 9100}


@MODES
async def test_tools_stay_loaded_after_client_side_compaction(store: bool) -> None:
    """The compaction summarises the output that loaded the tool: it stays callable (the spec
    says nothing on this; sandloop and the scripted server both keep it loaded)."""
    turns = [
        Turn([tool_search_call("weather", call_id="ts1")], usage=BIG),
        Turn([function_call("add", {"a": 1, "b": 2}, call_id="c1")], usage=BIG),
        [function_call("get_weather", {"city": "Kyiv"}, call_id="c2")],
        [message("done")],
    ]
    agent = replace(support.agent(store=store), compact_threshold=5000)
    async with serve(turns) as (server, client):
        result = await run(agent, "go", client=client)
        third = server.create_requests[2].body["input"]
    assert [i["type"] for i in third] == ["message", "compaction", "function_call",
                                          "function_call_output"]  # fmt: skip
    assert [o.output for o in outputs(result.items, FunctionCallOutput)] == ["3", "sunny in Kyiv"]


async def test_a_run_chained_onto_an_earlier_one_can_call_what_that_one_loaded() -> None:
    turns = [
        [tool_search_call("weather", call_id="ts1")],
        [message("loaded")],
        [function_call("get_weather", {"city": "Quito"}, call_id="c1")],
        [message("sunny")],
    ]
    async with serve(turns) as (server, client):
        first = await run(support.agent(store=True), "go", client=client)
        # Only the server holds the output that loaded it: this run trusts the conversation.
        second = await run(
            support.agent(store=True),
            "and in Quito?",
            client=client,
            previous_response_id=first.last_response_id,
        )
        assert searched(server.create_requests[2]) == []
    assert [o.output for o in outputs(second.items, FunctionCallOutput)] == ["sunny in Quito"]
