"""parse_event: typed events, sequence numbers, unknown and extra events, errors."""

from __future__ import annotations

import json

import pytest

from sandloop.errors import InvalidResponseError
from sandloop.items import (
    FunctionCall,
    InvalidCall,
    Response,
    ResponseApplyPatchCallOperationDiffDeltaEvent,
    ResponseApplyPatchCallOperationDiffDoneEvent,
    ResponseCompactionCompactingEvent,
    ResponseCompletedEvent,
    ResponseErrorEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseOutputItemDoneEvent,
    ResponseShellCallCommandDeltaStreamingEvent,
    ResponseTextDeltaEvent,
    UnknownEvent,
    parse_event,
)


def test_text_delta_is_typed_and_keeps_sequence_number_and_obfuscation() -> None:
    data = {
        "type": "response.output_text.delta",
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hi",
        "sequence_number": 7,
        "obfuscation": "xyz",
    }
    event = parse_event(data)
    assert isinstance(event, ResponseTextDeltaEvent)
    assert (event.delta, event.sequence_number) == ("Hi", 7)
    assert event.to_wire() == data


def test_output_item_done_carries_a_typed_item() -> None:
    item = {
        "type": "function_call",
        "call_id": "c",
        "name": "f",
        "arguments": "{}",
        "status": "completed",
    }
    event = parse_event(
        {"type": "response.output_item.done", "output_index": 1, "item": item, "sequence_number": 3}
    )
    assert isinstance(event, ResponseOutputItemDoneEvent)
    assert isinstance(event.item, FunctionCall)
    assert event.item.call_id == "c"


def test_completed_event_carries_a_typed_response() -> None:
    event = parse_event(
        {
            "type": "response.completed",
            "sequence_number": 9,
            "response": {"id": "r", "status": "completed", "output": [], "usage": None},
        }
    )
    assert isinstance(event, ResponseCompletedEvent)
    assert isinstance(event.response, Response)
    assert event.response.status == "completed"


def test_unknown_event_is_kept_unchanged() -> None:
    data = {"type": "response.hologram.delta", "sequence_number": 4, "x": [1, 2]}
    event = parse_event(data)
    assert isinstance(event, UnknownEvent)
    assert event.type == "response.hologram.delta"
    assert json.dumps(event.to_wire()) == json.dumps(data)
    assert isinstance(parse_event({"no_type": True}), UnknownEvent)


def test_events_not_in_openapi_are_known() -> None:
    compacting = parse_event({"type": "response.compaction.compacting", "sequence_number": 1})
    assert isinstance(compacting, ResponseCompactionCompactingEvent)
    delta = parse_event(
        {
            "type": "response.apply_patch_call_operation_diff.delta",
            "item_id": "ap_1",
            "output_index": 0,
            "delta": "+x",
            "sequence_number": 2,
        }
    )
    assert isinstance(delta, ResponseApplyPatchCallOperationDiffDeltaEvent)
    assert delta.delta == "+x"
    done = parse_event(
        {
            "type": "response.apply_patch_call_operation_diff.done",
            "diff": "+x",
            "sequence_number": 3,
        }
    )
    assert isinstance(done, ResponseApplyPatchCallOperationDiffDoneEvent)


def test_shell_streaming_events_without_examples_parse() -> None:
    data = {
        "type": "response.shell_call_command.delta",
        "sequence_number": 1,
        "output_index": 0,
        "command_index": 0,
        "delta": "ls",
    }
    event = parse_event(data)
    assert isinstance(event, ResponseShellCallCommandDeltaStreamingEvent)
    assert event.to_wire() == data


def test_error_event() -> None:
    event = parse_event(
        {
            "type": "error",
            "code": "server_error",
            "message": "boom",
            "param": None,
            "sequence_number": 1,
        }
    )
    assert isinstance(event, ResponseErrorEvent)
    assert (event.code, event.message) == ("server_error", "boom")


def test_known_event_with_bad_fields_raises() -> None:
    with pytest.raises(
        InvalidResponseError, match=r"response\.function_call_arguments\.delta.*delta"
    ):
        parse_event({"type": "response.function_call_arguments.delta", "sequence_number": 1})
    with pytest.raises(InvalidResponseError, match=r"item"):
        parse_event({"type": "response.output_item.done", "item": {"type": "reasoning", "id": 1}})


def test_a_malformed_call_item_in_an_event_is_kept_as_an_invalid_call() -> None:
    # A malformed client call is answered with a failed output, not a broken stream.
    event = parse_event({"type": "response.output_item.done", "item": {"type": "shell_call"}})
    item = getattr(event, "item", None)
    assert isinstance(item, InvalidCall)
    assert item.raw == {"type": "shell_call"}
    assert item.call_id is None
    assert "call_id: Field required" in item.problem


def test_function_call_arguments_delta() -> None:
    event = parse_event(
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 0,
            "delta": '{"a"',
            "sequence_number": 5,
        }
    )
    assert isinstance(event, ResponseFunctionCallArgumentsDeltaEvent)
    assert event.delta == '{"a"'
