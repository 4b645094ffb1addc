"""ScriptedResponsesServer over a real socket: its protocol checks, script handling and SSE."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import anyio
import httpx
import pytest

from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.errors import BadRequestError
from sandloop.items import FunctionCall, ResponseCreateParams
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    ScriptedServerError,
    Turn,
    TurnLike,
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


def client_for(server: ScriptedResponsesServer) -> ResponsesClient:
    return ResponsesClient(base_url=server.base_url, retry=RetryPolicy(max_retries=0))


def out(call_id: str, kind: str = "function_call_output", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "call_id": call_id, "output": "ok", **extra}


async def expect_rejected(
    turns: list[Any], requests: list[dict[str, Any]], problem: str
) -> ScriptedServerError:
    """Send ``requests`` in order (chained on the previous id); the last one must be rejected."""
    server = ScriptedResponsesServer(turns)

    async def run() -> None:
        async with server, client_for(server) as client:
            prev: str | None = None
            for body in requests[:-1]:
                prev = (await client.create(dict(body, previous_response_id=prev))).id
            last = dict(requests[-1])
            last.setdefault("previous_response_id", prev)
            with pytest.raises(BadRequestError, match=re.escape(problem)) as rejected:
                await client.create(last)
            assert rejected.value.code == "scripted_protocol_error"

    with pytest.raises(ScriptedServerError) as info:
        await run()
    assert any(problem in p for p in info.value.problems), info.value.problems
    return info.value


async def test_missing_output_is_detected() -> None:
    turns = [[function_call("f", call_id="c1"), shell_call("ls", call_id="c2")], [message("x")]]
    await expect_rejected(
        turns,
        [{"input": "go"}, {"input": [out("c1")]}],
        "shell_call 'c2' has no shell_call_output",
    )


async def test_wrong_call_id_is_detected() -> None:
    turns = [[function_call("f", call_id="c1")], [message("x")]]
    error = await expect_rejected(
        turns, [{"input": "go"}, {"input": [out("c9")]}], "call_id 'c9' answers no pending call"
    )
    assert any("'f' 'c1' has no function_call_output" in p for p in error.problems)
    assert any("1 scripted turn(s) never requested" in p for p in error.problems)


async def test_wrong_output_type_is_detected() -> None:
    turns = [[custom_tool_call("patch", "x", call_id="c1")], [message("x")]]
    await expect_rejected(
        turns,
        [{"input": "go"}, {"input": [out("c1")]}],
        "expected custom_tool_call_output, got function_call_output",
    )


async def test_duplicate_output_is_detected() -> None:
    turns = [[function_call("f", call_id="c1")], [message("x")]]
    await expect_rejected(
        turns, [{"input": "go"}, {"input": [out("c1"), out("c1")]}], "answered more than once"
    )


async def test_unknown_previous_response_id_is_detected() -> None:
    await expect_rejected(
        [[message("x")]],
        [{"input": "go", "previous_response_id": "resp_nope"}],
        "previous_response_id 'resp_nope' is unknown",
    )


async def test_chaining_onto_an_unstored_response_is_detected() -> None:
    await expect_rejected(
        [[message("a")], [message("b")]],
        [{"input": "go", "store": False}, {"input": "more"}],
        "is unknown",
    )


async def test_extra_request_is_detected() -> None:
    await expect_rejected(
        [[message("only one")]],
        [{"input": "a"}, {"input": "b"}],
        "unexpected extra request: all 1 scripted turn(s) were already played",
    )


async def test_resending_chained_items_is_detected() -> None:
    call = function_call("f", call_id="c1", id="fc_1")
    await expect_rejected(
        [[call], [message("x")]],
        [{"input": "go"}, {"input": [call, out("c1")]}],
        "already in the conversation of previous_response_id",
    )


def test_unconsumed_turns_are_reported_on_exit() -> None:
    server = ScriptedResponsesServer([[message("a")], [message("b")]])
    with pytest.raises(ScriptedServerError, match=r"2 scripted turn\(s\) never requested"), server:
        pass


def test_a_failure_inside_the_block_wins_and_gets_a_note() -> None:
    with pytest.raises(KeyError) as info, ScriptedResponsesServer([[message("never")]]):
        raise KeyError("the real failure")
    assert "never requested" in "".join(getattr(info.value, "__notes__", []))


async def test_every_client_call_type_needs_its_output() -> None:
    calls = [
        function_call("f", call_id="c1"),
        custom_tool_call("g", "raw", call_id="c2"),
        shell_call(["ls"], call_id="c3"),
        apply_patch_call("delete_file", "a.txt", call_id="c4"),
        local_shell_call(["ls"], call_id="c5"),
        computer_call({"type": "screenshot"}, call_id="c6"),
        mcp_approval_request("tool", {}, server_label="srv", id="mcpr_1"),
    ]
    hosted = dict(shell_call("ls", call_id="c7"), environment={"type": "container_reference"})
    outputs = [
        out("c1"),
        out("c2", "custom_tool_call_output"),
        {"type": "shell_call_output", "call_id": "c3", "output": []},
        {"type": "apply_patch_call_output", "call_id": "c4", "status": "completed"},
        {"type": "local_shell_call_output", "id": "c5", "output": "{}"},
        {"type": "computer_call_output", "call_id": "c6",
         "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,AA=="}},
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": True},
    ]  # fmt: skip
    turns = [[*calls, hosted], [message("done")]]
    async with ScriptedResponsesServer(turns) as server, client_for(server) as client:
        first = await client.create({"input": "go"})
        second = await client.create({"input": outputs, "previous_response_id": first.id})
    assert second.output_text == "done"


async def test_local_shell_output_must_use_id_not_call_id() -> None:
    await expect_rejected(
        [[local_shell_call(["ls"], call_id="c5")], [message("x")]],
        [
            {"input": "go"},
            {"input": [{"type": "local_shell_call_output", "call_id": "c5", "output": "{}"}]},
        ],
        "local_shell_call 'c5' has no local_shell_call_output",
    )


def stateless_turn_one() -> list[dict[str, Any]]:
    return [
        dict(reasoning("plan", encrypted_content="gAAAA-opaque"), created_by="model"),
        dict(function_call("f", {"x": 1}, call_id="c1"), created_by="model"),
    ]


def replay(first_output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stripped = [{k: v for k, v in item.items() if k != "created_by"} for item in first_output]
    return [{"role": "user", "content": "go"}, *stripped, out("c1")]


async def test_stateless_full_replay_is_accepted() -> None:
    output = stateless_turn_one()
    async with (
        ScriptedResponsesServer([output, [message("x")]]) as server,
        client_for(server) as client,
    ):
        await client.create({"input": "go", "store": False})
        second = await client.create({"input": replay(output), "store": False})
    assert second.output_text == "x"


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda items: [items[0], items[2], items[1], items[3]], "replay the history in order"),
        (lambda items: [items[0], items[2], items[3]], "replay the history in order"),
        (lambda items: [items[0], dict(items[1], encrypted_content="changed"), *items[2:]],
         "input item 1 is"),
        (lambda items: [items[0], dict(items[1], created_by="model"), *items[2:]],
         "input item 1 carries created_by"),
        (lambda items: items[:2], "must replay the whole history"),
    ],
)  # fmt: skip
async def test_stateless_replay_mistakes_are_detected(mutate: Any, problem: str) -> None:
    output = stateless_turn_one()
    await expect_rejected(
        [output, [message("x")]],
        [{"input": "go", "store": False},
         {"input": mutate(replay(output)), "store": False, "previous_response_id": None}],
        problem,
    )  # fmt: skip


async def test_callable_turn_sees_the_request_and_can_return_a_turn() -> None:
    seen: list[RecordedRequest] = []

    def turn(request: RecordedRequest) -> Turn:
        seen.append(request)
        return Turn([message(f"you said {request.body['input']}")], status="incomplete")

    async with ScriptedResponsesServer([turn]) as server, client_for(server) as client:
        response = await client.create({"model": "m", "input": "hello"})
    assert response.status == "incomplete"
    assert response.output_text == "you said hello"
    assert seen[0].path == "/responses"
    assert seen[0].headers["content-type"] == "application/json"


async def test_failing_turn_callable_fails_the_request_and_is_reported() -> None:
    def turn(request: RecordedRequest) -> list[Any]:
        raise ValueError("bug in my test")

    server = ScriptedResponsesServer([turn])

    async def run() -> None:
        async with server, client_for(server) as client:
            with pytest.raises(BadRequestError, match="bug in my test"):
                await client.create({"input": "x"})

    with pytest.raises(ScriptedServerError, match="bug in my test"):
        await run()


async def test_item_models_and_new_conversations() -> None:
    call = FunctionCall(call_id="c1", name="f", arguments="{}")
    turns: list[TurnLike] = [[call], Turn([message("fresh")], new_conversation=True)]
    async with ScriptedResponsesServer(turns) as server, client_for(server) as client:
        first = await client.create(ResponseCreateParams(input="a"))
        assert first.output == [call]
        second = await client.create(ResponseCreateParams(input="unrelated"))
    assert second.output_text == "fresh"


def test_sync_use_records_requests_with_headers() -> None:
    with ScriptedResponsesServer() as server:
        server.turn(message("hi"), usage={"input_tokens": 5, "output_tokens": 2,
                                          "total_tokens": 7})  # fmt: skip
        with httpx.Client(base_url=server.base_url) as http:
            reply = http.post("/responses", json={"input": "x"},
                              headers={"authorization": "Bearer sk-x"})  # fmt: skip
    assert reply.json()["usage"]["total_tokens"] == 7
    assert reply.headers["x-request-id"].startswith("req_scripted_")
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer sk-x"
    assert request.body == {"input": "x"}


def test_sse_event_sequence_follows_the_api() -> None:
    items = [message("hello world"), function_call("f", {"a": 1}, call_id="c1")]
    with ScriptedResponsesServer([items]) as server, httpx.Client() as http:
        reply = http.post(server.base_url + "/responses", json={"input": "x", "stream": True})
    assert reply.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in reply.text.split("\n\n") if f]
    events = [json.loads(f.split("data: ", 1)[1]) for f in frames]
    names = [f.split("\n", 1)[0].removeprefix("event: ") for f in frames]
    assert names == [e["type"] for e in events]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [n.removeprefix("response.") for n in names]
    assert kinds[:4] == ["created", "in_progress", "output_item.added", "content_part.added"]
    assert kinds[-1] == "completed"
    for expected in ("output_text.delta", "output_text.done", "content_part.done",
                     "function_call_arguments.delta", "function_call_arguments.done",
                     "output_item.done"):  # fmt: skip
        assert expected in kinds
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert added[0]["item"]["content"] == []
    assert added[1]["item"]["arguments"] == ""
    assert added[1]["item"]["status"] == "in_progress"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "hello world"
    assert events[-1]["response"]["output"] == items


def test_unknown_paths_are_rejected() -> None:
    server = ScriptedResponsesServer()
    statuses: list[int] = []
    with (
        pytest.raises(ScriptedServerError, match="unexpected request GET /models"),
        server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        statuses.append(http.get("/models").status_code)
    assert statuses == [404]


async def test_a_cancelled_background_response_leaves_nothing_to_answer() -> None:
    turns: list[TurnLike] = [
        Turn([function_call("f", call_id="c1")], background_polls=50),
        [message("next")],
    ]
    async with ScriptedResponsesServer(turns) as server, client_for(server) as client:
        queued = await client.create({"input": "go", "store": False, "background": True},
                                     wait=False)  # fmt: skip
        await client.cancel(queued.id or "")
        # Stateless follow-up: the cancelled response contributed no output to replay.
        follow = await client.create({"input": [{"role": "user", "content": "go"}]})
    assert follow.output_text == "next"


async def test_closing_leaves_no_threads_behind() -> None:
    def server_threads() -> list[str]:
        names = [t.name for t in threading.enumerate()]
        return [n for n in names if "process_request" in n or n.startswith("scripted-responses")]

    server = ScriptedResponsesServer([[message(str(i))] for i in range(3)], check_protocol=False)
    async with server, client_for(server) as client:
        for i in range(3):
            await client.create({"input": str(i)})
        assert server_threads()
        # The client still holds a pooled keep-alive connection: closing must not hang on it.
        await anyio.to_thread.run_sync(server.close)
        assert server_threads() == []
