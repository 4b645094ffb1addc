"""Each client call family says, in one place, how it is routed, named, described and answered.

The dispatcher, the transcript, the registry and the CLI display read these behaviours from the
call items (``ClientCallBase`` and the ``CallItem`` union); these tests pin them per family, for
valid calls and for the same calls kept as ``InvalidCall``.
"""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from sandloop.cli.display import describe_call
from sandloop.dispatch.outputs import failure_note, failure_output, output_key
from sandloop.dispatch.registry import NAMED_CALL_TYPES
from sandloop.items import (
    BLANK_PNG,
    CALL_OUTPUT_TYPES,
    CLIENT_CALL_CLASSES,
    CallItem,
    ClientCall,
    InvalidCall,
    ToolSearchCall,
    is_call_item,
    parse_item,
)
from sandloop.loop.transcript import client_calls

#: One valid wire call of every family, with what it should say about itself:
#: (wire dict, label, arguments_text(), arguments_text(exact=True), tool_key).
CALLS: dict[str, tuple[dict[str, Any], str, str, str, object]] = {
    "function_call": (
        {"type": "function_call", "call_id": "c1", "name": "add", "arguments": '{"a": 1}'},
        "add",
        '{"a": 1}',
        '{"a": 1}',
        (None, "add"),
    ),
    "custom_tool_call": (
        {
            "type": "custom_tool_call",
            "call_id": "c2",
            "name": "sql",
            "namespace": "db",
            "input": "x",
        },
        "db.sql",
        "x",
        "x",
        ("db", "sql"),
    ),
    "shell_call": (
        {
            "type": "shell_call",
            "call_id": "c3",
            "action": {"commands": ["ls", "pwd"], "max_output_length": 77},
        },
        "shell",
        "ls\npwd",
        "ls\npwd",
        "shell_call",
    ),
    "apply_patch_call": (
        {
            "type": "apply_patch_call",
            "call_id": "c4",
            "operation": {"type": "delete_file", "path": "a.txt"},
        },
        "apply_patch",
        "delete_file a.txt",
        "delete_file a.txt",
        "apply_patch_call",
    ),
    "local_shell_call": (
        {
            "type": "local_shell_call",
            "call_id": "c5",
            "action": {"type": "exec", "command": ["echo", "a b"]},
        },
        "local_shell",
        "echo a b",
        "echo 'a b'",
        "local_shell_call",
    ),
    "computer_call": (
        {
            "type": "computer_call",
            "call_id": "c6",
            "actions": [{"type": "click", "x": 1, "y": 2}, {"type": "type", "text": "hi"}],
        },
        "computer",
        "click, type",
        "click, type",
        "computer_call",
    ),
}


def _call(wire: dict[str, Any]) -> CallItem:
    item = parse_item(wire)
    assert is_call_item(item)
    return item


def test_the_union_the_table_and_the_output_types_agree() -> None:
    classes = set(get_args(ClientCall))
    assert set(CLIENT_CALL_CLASSES.values()) == classes
    assert set(CLIENT_CALL_CLASSES) == set(CALLS) == set(CALL_OUTPUT_TYPES)
    assert {"function_call", "custom_tool_call"} == NAMED_CALL_TYPES


@pytest.mark.parametrize("kind", sorted(CALLS))
def test_a_call_describes_itself(kind: str) -> None:
    wire, label, text, exact, key = CALLS[kind]
    call = parse_item(wire)
    assert isinstance(call, CLIENT_CALL_CLASSES[kind])
    assert is_call_item(call)
    assert call.label == label
    assert call.arguments_text() == text
    assert call.arguments_text(exact=True) == exact
    assert call.tool_key == key
    assert call.runs_locally
    assert describe_call(call) == "; ".join(text.splitlines())
    # The shared base declares no fields: each family serialises in its own field order.
    assert list(call.to_wire())[:2] == ["type", "call_id"]


@pytest.mark.parametrize("kind", sorted(CALLS))
@pytest.mark.parametrize("invalid", [False, True], ids=["valid", "invalid"])
def test_a_failed_call_is_answered_by_its_family_output(kind: str, invalid: bool) -> None:
    wire = dict(CALLS[kind][0])
    if invalid:
        wire["id"] = {"not": "a string"}  # every family types ``id`` as a string
    call = _call(wire)
    assert isinstance(call, InvalidCall) is invalid
    output = failure_output(call, "it broke")
    assert output.type == CALL_OUTPUT_TYPES[kind]
    assert output_key(output) == wire["call_id"]
    dumped = json.dumps(output.to_wire())
    note = failure_note(call, "it broke")
    if kind == "computer_call":
        # The screenshot cannot hold words: a blank one, and the words in a note after it.
        assert BLANK_PNG in dumped
        assert "it broke" not in dumped
        assert note is not None
        assert note.content == "computer call c6 failed: it broke"
    else:
        assert "it broke" in dumped
        assert note is None


def test_a_failed_shell_call_echoes_its_cap_and_says_when_it_timed_out() -> None:
    for invalid in (False, True):
        wire: dict[str, Any] = dict(CALLS["shell_call"][0])
        if invalid:
            wire["id"] = 3
        call = _call(wire)
        output = failure_output(call, "slow", timed_out=True).to_wire()
        assert output["max_output_length"] == 77
        assert output["output"][0]["outcome"] == {"type": "timeout"}
        assert failure_output(call, "x").to_wire()["output"][0]["outcome"]["exit_code"] == 1


def test_a_failed_local_shell_call_reads_like_its_executor_output() -> None:
    call = _call(CALLS["local_shell_call"][0])
    output = failure_output(call, "nope", timed_out=True).to_wire()
    assert output["id"] == "c5"
    assert json.loads(output["output"]) == {
        "stdout": "",
        "stderr": "nope",
        "exit_code": None,
        "timed_out": True,
    }


def test_an_invalid_call_keeps_its_tool_name_as_label() -> None:
    raw = {"type": "function_call", "call_id": "f", "name": "add", "namespace": "m"}
    call = parse_item(raw)  # ``arguments`` is missing
    assert isinstance(call, InvalidCall)
    assert call.label == "m.add"
    assert json.loads(call.arguments_text()) == raw
    shell = parse_item({"type": "shell_call", "call_id": "s"})
    assert isinstance(shell, InvalidCall)
    assert shell.label == "shell"


def test_which_calls_the_client_answers() -> None:
    hosted = {"type": "container_reference", "container_id": "c"}
    items = [
        parse_item({**CALLS["shell_call"][0], "call_id": "hosted", "environment": hosted}),
        parse_item({"type": "shell_call", "call_id": "bad-hosted", "environment": hosted}),
        parse_item({"type": "shell_call", "call_id": "bad-local", "environment": {}}),
        parse_item({"type": "shell_call"}),  # no call_id: cannot be answered
        parse_item({"type": "tool_search_call", "call_id": "ts1", "execution": "server"}),
        parse_item({"type": "tool_search_call", "call_id": "ts2", "execution": "client"}),
        parse_item({"type": "web_search_call", "id": "ws"}),
        *(parse_item(wire) for wire, *_ in CALLS.values()),
    ]
    calls, _ = client_calls(items)
    assert [str(c.call_id) for c in calls] == [
        "bad-local",
        "ts2",
        *(wire["call_id"] for wire, *_ in CALLS.values()),
    ]


def test_a_client_tool_search_is_answered_with_no_tools() -> None:
    call = parse_item({"type": "tool_search_call", "call_id": "ts", "execution": "client"})
    assert isinstance(call, ToolSearchCall)
    assert call.label == "tool_search"
    output = failure_output(call, "no").to_wire()
    assert output == {
        "type": "tool_search_output",
        "call_id": "ts",
        "tools": [],
        "execution": "client",
        "status": "completed",
    }
    # Its output lists tools only: the failure's words go in a developer note after it.
    note = failure_note(call, "no")
    assert note is not None
    assert note.role == "developer"
    assert "no" in str(note.content)
    # Without a call_id it cannot be answered: it is not the client's to run.
    bare = parse_item({"type": "tool_search_call", "execution": "client", "arguments": {}})
    assert isinstance(bare, ToolSearchCall)
    assert not bare.runs_locally
