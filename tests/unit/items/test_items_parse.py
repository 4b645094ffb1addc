"""parse_item / dump_item: the shape rules, forward compatibility and the request form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandloop.errors import InvalidResponseError
from sandloop.items import (
    CALL_OUTPUT_TYPES,
    ApplyPatchCall,
    ApplyPatchCallOutput,
    ClickAction,
    ComputerCall,
    CustomToolCall,
    FunctionCall,
    FunctionCallOutput,
    FunctionToolParam,
    InputText,
    InvalidCall,
    ItemReference,
    LocalShellCall,
    LocalShellCallOutput,
    Message,
    OutputText,
    ShellAction,
    ShellCall,
    ShellCallOutput,
    ShellCallOutputContent,
    ShellExitOutcome,
    ShellTimeoutOutcome,
    ToolSearchOutput,
    UnknownAction,
    UnknownContentPart,
    UnknownItem,
    UnknownToolParam,
    UpdateFileOperation,
    dump_item,
    dump_items,
    parse_item,
    parse_items,
    parse_tool,
)

SHELL_CALL = {
    "type": "shell_call",
    "id": "sh_1",
    "call_id": "call_1",
    "status": "completed",
    "action": {
        "commands": ["ls -la", "pytest -q"],
        "timeout_ms": 120000,
        "max_output_length": 4096,
    },
    "environment": {"type": "local"},
    "created_by": "resp_1",
}


# --- shape rules ----------------------------------------------------------------------------


def test_message_without_type_is_a_message_and_stays_without_type() -> None:
    data = {"role": "user", "content": "hello"}
    item = parse_item(data)
    assert isinstance(item, Message)
    assert item.role == "user"
    assert item.content == "hello"
    assert dump_item(item) == data


def test_item_reference_with_only_id() -> None:
    item = parse_item({"id": "msg_1"})
    assert isinstance(item, ItemReference)
    assert item.id == "msg_1"
    assert dump_item(item) == {"id": "msg_1"}


def test_dict_with_id_and_other_keys_but_no_type_is_not_a_reference() -> None:
    item = parse_item({"id": "x", "something": 1})
    assert isinstance(item, UnknownItem)


def test_typed_attributes_of_call_items() -> None:
    shell = parse_item(SHELL_CALL)
    assert isinstance(shell, ShellCall)
    assert shell.action.commands == ["ls -la", "pytest -q"]
    assert shell.action.timeout_ms == 120000
    fn = parse_item(
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}", "namespace": "ns"}
    )
    assert isinstance(fn, FunctionCall)
    assert (fn.call_id, fn.name, fn.arguments, fn.namespace) == ("c", "f", "{}", "ns")
    custom = parse_item({"type": "custom_tool_call", "call_id": "c", "name": "sql", "input": "x"})
    assert isinstance(custom, CustomToolCall)
    assert custom.input == "x"
    patch = parse_item(
        {
            "type": "apply_patch_call",
            "call_id": "c",
            "status": "completed",
            "operation": {"type": "update_file", "path": "a.py", "diff": "@@\n-a\n+b\n"},
        }
    )
    assert isinstance(patch, ApplyPatchCall)
    assert isinstance(patch.operation, UpdateFileOperation)
    local = parse_item(
        {
            "type": "local_shell_call",
            "id": "ls_1",
            "call_id": "c",
            "status": "completed",
            "action": {"type": "exec", "command": ["ls"], "env": {"A": "1"}},
        }
    )
    assert isinstance(local, LocalShellCall)
    assert local.action.command == ["ls"]


def test_computer_call_with_action_and_with_actions() -> None:
    single = parse_item(
        {
            "type": "computer_call",
            "id": "cu_1",
            "call_id": "c",
            "status": "completed",
            "pending_safety_checks": [{"id": "sc_1", "code": "x", "message": "m"}],
            "action": {"type": "click", "x": 1, "y": 2, "button": "left"},
        }
    )
    assert isinstance(single, ComputerCall)
    assert isinstance(single.action, ClickAction)
    assert single.actions is None
    assert single.pending_safety_checks is not None
    assert single.pending_safety_checks[0].id == "sc_1"
    batch = parse_item(
        {
            "type": "computer_call",
            "call_id": "c",
            "actions": [{"type": "type", "text": "hi"}, {"type": "teleport", "where": "moon"}],
        }
    )
    assert isinstance(batch, ComputerCall)
    assert batch.actions is not None
    assert isinstance(batch.actions[1], UnknownAction)
    assert dump_item(batch)["actions"][1] == {"type": "teleport", "where": "moon"}


def test_call_output_types_pair_every_client_call() -> None:
    assert dict(CALL_OUTPUT_TYPES) == {
        "function_call": "function_call_output",
        "custom_tool_call": "custom_tool_call_output",
        "shell_call": "shell_call_output",
        "apply_patch_call": "apply_patch_call_output",
        "local_shell_call": "local_shell_call_output",
        "computer_call": "computer_call_output",
    }
    with pytest.raises(TypeError):
        CALL_OUTPUT_TYPES["x"] = "y"  # type: ignore[index]


# --- forward compatibility ------------------------------------------------------------------


def test_unknown_item_type_is_kept_byte_for_byte() -> None:
    data = {"z": [1, {"b": None}], "type": "hologram_call", "id": "h1", "created_by": "srv"}
    item = parse_item(data)
    assert isinstance(item, UnknownItem)
    assert item.type == "hologram_call"
    assert item.raw == data
    assert json.dumps(dump_item(item)) == json.dumps(data)
    assert json.dumps(item.model_dump(mode="json", exclude_unset=True)) == json.dumps(data)


def test_unknown_fields_on_known_items_are_kept() -> None:
    data = {
        "type": "function_call",
        "call_id": "c",
        "name": "f",
        "arguments": "{}",
        "caller": {"a": 1},
    }
    item = parse_item(data)
    assert item.model_extra == {"caller": {"a": 1}}
    assert dump_item(item) == data


def test_unknown_content_part_and_tool_are_kept() -> None:
    data = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_audio", "data": "..."}, {"type": "output_text", "text": "hi"}],
    }
    item = parse_item(data)
    assert isinstance(item, Message)
    assert isinstance(item.content, list)
    assert isinstance(item.content[0], UnknownContentPart)
    assert isinstance(item.content[1], OutputText)
    assert dump_item(item) == data
    tool = parse_tool({"type": "teleporter", "range": 3})
    assert isinstance(tool, UnknownToolParam)
    assert tool.to_wire() == {"type": "teleporter", "range": 3}


def test_tool_search_output_holds_typed_tools() -> None:
    data = {
        "type": "tool_search_output",
        "call_id": "c",
        "tools": [
            {"type": "function", "name": "f", "parameters": {}, "strict": True},
            {"type": "x"},
        ],
    }
    item = parse_item(data)
    assert isinstance(item, ToolSearchOutput)
    assert isinstance(item.tools[0], FunctionToolParam)
    assert isinstance(item.tools[1], UnknownToolParam)
    assert dump_item(item) == data


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"role": "robot", "content": "hi"}, "role"),
        ({"type": "apply_patch_call_output", "call_id": "c", "status": "maybe"}, "status"),
    ],
)
def test_known_type_with_bad_fields_raises_a_clear_error(data: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidResponseError) as info:
        parse_item(data)
    message = str(info.value)
    assert where in message
    assert repr(data.get("type", "message")) in message


def test_parse_items_parses_each_item() -> None:
    items = parse_items([{"role": "user", "content": "x"}, {"id": "r"}, {"type": "new"}])
    assert [type(i).__name__ for i in items] == ["Message", "ItemReference", "UnknownItem"]


# --- request form ---------------------------------------------------------------------------


def test_created_by_is_stripped_at_every_level_but_not_from_user_json() -> None:
    data = {
        "type": "shell_call_output",
        "call_id": "c",
        "created_by": "resp_1",
        "output": [
            {
                "stdout": "a",
                "stderr": "",
                "outcome": {"type": "exit", "exit_code": 0},
                "created_by": "x",
            }
        ],
        "max_output_length": 10,
    }
    dumped = dump_item(parse_item(data))
    assert "created_by" not in json.dumps(dumped)
    assert dumped["output"][0]["stdout"] == "a"
    assert "created_by" not in dump_item(parse_item(SHELL_CALL))
    # A tool parameter named created_by is user data, not the server's annotation.
    schema = {"type": "object", "properties": {"created_by": {"type": "string"}}}
    tools = {
        "type": "tool_search_output",
        "tools": [{"type": "function", "name": "f", "parameters": schema}],
    }
    assert dump_item(parse_item(tools))["tools"][0]["parameters"] == schema
    # A plain dict is stripped too.
    assert dump_item({"type": "compaction", "encrypted_content": "e", "created_by": "x"}) == {
        "type": "compaction",
        "encrypted_content": "e",
    }


def test_explicit_null_is_kept_and_unset_is_left_out() -> None:
    content = ShellCallOutputContent(stdout="", stderr="", outcome=ShellTimeoutOutcome())
    with_null = ShellCallOutput(call_id="c", output=[content], max_output_length=None)
    without = ShellCallOutput(call_id="c", output=[content])
    assert dump_item(with_null)["max_output_length"] is None
    assert "max_output_length" not in dump_item(without)
    assert dump_item(without)["output"] == [
        {"stdout": "", "stderr": "", "outcome": {"type": "timeout"}}
    ]
    action = ShellAction(commands=["ls"], timeout_ms=None)
    assert action.to_wire() == {"commands": ["ls"], "timeout_ms": None}
    parsed = parse_item({**SHELL_CALL, "action": {"commands": ["ls"], "timeout_ms": None}})
    assert dump_item(parsed)["action"] == {"commands": ["ls"], "timeout_ms": None}


def test_items_built_in_python_send_their_type() -> None:
    assert dump_item(FunctionCallOutput(call_id="c", output="ok")) == {
        "type": "function_call_output",
        "call_id": "c",
        "output": "ok",
    }
    assert dump_item(Message(role="user", content=[InputText(text="hi")])) == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hi"}],
    }
    assert dump_item(ApplyPatchCallOutput(call_id="c", status="completed"))["status"] == "completed"
    assert dump_item(LocalShellCallOutput(id="c", output="{}")) == {
        "type": "local_shell_call_output",
        "id": "c",
        "output": "{}",
    }
    exit0 = ShellCallOutputContent(stdout="", stderr="", outcome=ShellExitOutcome(exit_code=0))
    assert dump_item(ShellCallOutput(call_id="c", output=[exit0]))["output"][0]["outcome"] == {
        "type": "exit",
        "exit_code": 0,
    }


def test_items_round_trip_through_model_dump_and_parse() -> None:
    items = [
        parse_item(SHELL_CALL),
        FunctionCallOutput(call_id="c", output=[InputText(text="t")]),
        parse_item({"role": "developer", "content": "be brief"}),
        parse_item({"type": "reasoning", "id": "rs", "summary": [], "encrypted_content": "e"}),
    ]
    for item in items:
        wire = item.model_dump(mode="json", exclude_unset=True)
        assert parse_item(wire).model_dump(mode="json", exclude_unset=True) == wire
    assert dump_items(items)[1] == {
        "type": "function_call_output",
        "call_id": "c",
        "output": [{"type": "input_text", "text": "t"}],
    }


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"type": "function_call", "name": "f", "arguments": "{}"}, "call_id"),
        ({"type": "shell_call", "call_id": "c", "action": {"commands": "ls"}}, "action.commands"),
    ],
)
def test_a_malformed_call_is_kept_as_an_invalid_call_naming_the_problem(
    data: dict[str, Any], where: str
) -> None:
    # One bad call must not make a whole response invalid: the loop answers it with a failure.
    item = parse_item(data)
    assert isinstance(item, InvalidCall)
    assert where in item.problem
    assert repr(data["type"]) in item.problem
    assert item.type == data["type"]
    assert dump_item(item) == data
    assert item.call_id == data.get("call_id")
