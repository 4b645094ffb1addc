"""Random and mutated JSON for every item type: parsing and the whole loop stay typed.

Two levels. ``parse_item`` / ``parse_response`` / ``parse_event`` either return a model or raise
``InvalidResponseError`` (never a pydantic or Python error), and what parses dumps and re-parses.
Then whole agent runs whose first response carries mutated call items: the run ends with a
result or a ``SandloopError``, and when it continues, every call got exactly one output.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Sequence
from typing import Any

import anyio
import httpx
from fuzz_support import FUZZ, json_values  # tests/fuzz: test dirs are not packages
from hypothesis import given
from hypothesis import strategies as st

from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.dispatch.outputs import output_key
from sandloop.errors import InvalidResponseError, SandloopError
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.custom import CustomTool
from sandloop.executors.function import tool
from sandloop.executors.local_shell import LocalShellTool
from sandloop.executors.shell import ShellTool
from sandloop.items import InvalidCall, dump_item, parse_event, parse_item, parse_response
from sandloop.items.items import _ITEM_CLASSES
from sandloop.loop import Agent, run
from sandloop.sandboxes.base import DEFAULT_MAX_OUTPUT, ExecResult, FileEntry, Sandbox
from sandloop.testing import (
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
from sandloop.testing._events import encode_event

ITEM_TYPES = sorted(_ITEM_CLASSES)

#: One valid example of each item family the loop acts on, to mutate.
SEEDS: list[dict[str, Any]] = [
    function_call("add", {"a": 1, "b": 2}, call_id="c_fn"),
    custom_tool_call("echo", "free text", call_id="c_custom"),
    shell_call(["echo hi", "ls"], timeout_ms=1000, call_id="c_shell"),
    apply_patch_call("create_file", "new.txt", "+hello\n", call_id="c_patch"),
    apply_patch_call("update_file", "a.txt", "@@\n-a\n+b\n", call_id="c_patch2"),
    apply_patch_call("delete_file", "a.txt", call_id="c_patch3"),
    local_shell_call(["echo", "hi"], call_id="c_local"),
    computer_call({"type": "click", "x": 1, "y": 2, "button": "left"}, call_id="c_cu"),
    mcp_approval_request("lookup", {"q": 1}, server_label="srv"),
    message("hello", phase="final_answer"),
    reasoning("thinking", encrypted_content="opaque"),
    {"type": "function_call_output", "call_id": "c_fn", "output": "3"},
    {"type": "shell_call_output", "call_id": "c_shell", "output": []},
    {"type": "apply_patch_call_output", "call_id": "c_patch", "status": "completed"},
    {"type": "local_shell_call_output", "id": "c_local", "output": "{}"},
    {"type": "web_search_call", "id": "ws_1", "status": "completed"},
    {"role": "user", "content": "hi"},
    {"id": "item_ref_1"},
]


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[dict[str, Any]] = SEEDS) -> dict[str, Any]:
    """A seed item with a few random edits: drop, replace or add fields, at any depth."""
    item: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(list(seeds))))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        target = _pick_dict(draw, item)
        action = draw(st.sampled_from(["drop", "replace", "add", "retype"]))
        keys = sorted(target)
        if action == "drop" and keys:
            del target[draw(st.sampled_from(keys))]
        elif action == "replace" and keys:
            target[draw(st.sampled_from(keys))] = draw(json_values)
        elif action == "retype":
            target["type"] = draw(st.sampled_from([*ITEM_TYPES, "", "nope", 5]))
        else:
            target[draw(st.text(max_size=8))] = draw(json_values)
    return item


def _pick_dict(draw: st.DrawFn, item: dict[str, Any]) -> dict[str, Any]:
    nested = [v for v in item.values() if isinstance(v, dict)]
    return draw(st.sampled_from([item, *nested]))


random_items = st.builds(
    lambda kind, fields: {**fields, "type": kind},
    st.sampled_from(ITEM_TYPES),
    st.dictionaries(st.text(max_size=12), json_values, max_size=6),
)


def _check_round_trip(raw: dict[str, Any]) -> None:
    try:
        item = parse_item(raw)
    except InvalidResponseError:
        return
    wire = dump_item(item)
    json.dumps(wire)  # what we would send is JSON (NaN/Infinity aside, as Python's json allows)
    again = parse_item(wire)
    assert dump_item(again) == wire or wire != wire  # NaN != NaN: equal otherwise


@FUZZ
@given(random_items)
def test_random_fields_for_every_item_type_parse_or_raise_invalid_response(
    raw: dict[str, Any],
) -> None:
    _check_round_trip(raw)


@FUZZ
@given(mutated())
def test_mutated_items_parse_or_raise_invalid_response(raw: dict[str, Any]) -> None:
    _check_round_trip(raw)


@FUZZ
@given(st.lists(mutated() | random_items, max_size=4), json_values)
def test_mutated_responses_and_events_parse_or_raise_invalid_response(
    output: list[dict[str, Any]], junk: Any
) -> None:
    body = {"id": "resp_1", "object": "response", "status": "completed", "output": output}
    for candidate in (body, {**body, "usage": junk}, {**body, "status": junk}):
        with contextlib.suppress(InvalidResponseError):
            parse_response(candidate)
    events: list[dict[str, Any]] = [
        {"type": "response.output_item.done", "output_index": 0, "item": output[:1] or junk},
        {"type": "response.completed", "response": body},
        {"type": "response.output_text.delta", "delta": junk, "item_id": "m", "output_index": 0},
    ]
    for event in events:
        with contextlib.suppress(InvalidResponseError):
            parse_event(event)


# --- whole runs over fuzzed call items ---------------------------------------------------------


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    return a + b


class RecordingSandbox(Sandbox):
    """Records commands instead of running them, so random commands never touch the host."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {"a.txt": b"a\n"}

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def exec(self, command: Any, **options: Any) -> ExecResult:
        cap = int(options.get("max_output", DEFAULT_MAX_OUTPUT))
        return ExecResult(exit_code=0, stdout=repr(command).encode()[:cap], stderr=b"")

    async def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        from sandloop.errors import SandboxFileError

        if path not in self.files:
            raise SandboxFileError(f"{path}: not found", path=path, reason="not_found")
        return self.files[path]

    async def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        self.files[path] = data

    async def delete_file(self, path: str) -> None:
        self.files.pop(path, None)

    async def stat(self, path: str) -> FileEntry | None:
        data = self.files.get(path)
        return None if data is None else FileEntry(path, "file", len(data), 0o644)

    async def list_dir(self, path: str = ".") -> list[FileEntry]:
        return [FileEntry(p, "file", len(d), 0o644) for p, d in sorted(self.files.items())]


def _echo(text: str) -> str:
    return text


AGENT = Agent(
    model="gpt-fuzz",
    tools=[
        add,
        CustomTool(_echo, name="echo", description="Echo the input."),
        ShellTool(),
        LocalShellTool(),
        ApplyPatchTool(),
    ],
    approval_policy="never",
)


JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream"}


def _response(rid: str, output: list[Any]) -> dict[str, Any]:
    return {"id": rid, "object": "response", "status": "completed", "output": output}


def _sse(answer: dict[str, Any]) -> bytes:
    start = {**answer, "status": "in_progress", "output": []}
    events: list[dict[str, Any]] = [{"type": "response.created", "response": start}]
    for index, item in enumerate(answer["output"]):
        events.append({"type": "response.output_item.added", "output_index": index, "item": item})
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": answer})
    return b"".join(encode_event(e) for e in events)


async def _run_over(
    output: list[dict[str, Any]], stream: bool = False
) -> tuple[list[dict[str, Any]], Any]:
    requests: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        answer = _response("resp_1", output) if len(requests) == 1 else _response("resp_2", [])
        if len(requests) > 1:
            answer["output"] = [message("done")]
        if stream:  # the same response as SSE events (items added and done, then completed)
            return httpx.Response(200, content=_sse(answer), headers=SSE)
        # json.dumps, not httpx's json=: a fuzzed body may hold NaN/Infinity tokens.
        return httpx.Response(200, content=json.dumps(answer).encode(), headers=JSON)

    client = ResponsesClient(
        base_url="https://api.example.test/v1",
        api_key="sk-test",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_retries=0),
    )
    async with client:
        try:
            result: Any = await run(
                AGENT, "go", client=client, sandbox=RecordingSandbox(), stream=stream
            )
        except SandloopError as exc:
            result = exc
    return requests, result


@FUZZ
@given(st.lists(mutated(SEEDS[:9]), min_size=1, max_size=4), st.booleans())
def test_runs_over_mutated_calls_end_typed_and_answer_every_call(
    output: list[dict[str, Any]], stream: bool
) -> None:
    # Unique call ids, as the API guarantees; the mutations may still remove or break them.
    for n, item in enumerate(output):
        if isinstance(item.get("call_id"), str):
            item["call_id"] = f"{item['call_id']}_{n}"
    requests, result = anyio.run(_run_over, output, stream)
    if isinstance(result, SandloopError):
        return
    calls = [i for i in parse_response(_response("r", output)).output if _is_call(i)]
    # No call to answer: the first response was the final one.
    assert len(requests) == (2 if calls else 1)
    if not calls:
        return
    assert result.final_output == "done"
    answered = [key for raw in requests[1]["input"] if (key := output_key(parse_item(raw)))]
    assert sorted(answered) == sorted(_call_key(c) for c in calls)


def _is_call(item: Any) -> bool:
    if isinstance(item, InvalidCall) and item.call_id is None:
        return False  # a malformed call without a call_id cannot be answered: it is only kept
    env = getattr(item, "environment", None)
    if (
        item.type == "shell_call"
        and isinstance(env, dict)
        and env.get("type") not in (None, "local")
    ):
        return False  # ran in a hosted container: not ours to answer
    return item.type in (
        "function_call",
        "custom_tool_call",
        "shell_call",
        "apply_patch_call",
        "local_shell_call",
        "computer_call",
        "mcp_approval_request",
    )


def _call_key(item: Any) -> str:
    return str(item.id if item.type == "mcp_approval_request" else item.call_id)
