"""Response, Usage, CompactedResponse and the request bodies."""

from __future__ import annotations

from typing import Any

import pytest

from sandloop.errors import InvalidResponseError
from sandloop.items import (
    Compaction,
    CompactParams,
    FunctionCall,
    FunctionCallOutput,
    FunctionToolParam,
    InputTokensDetails,
    Message,
    OutputTokensDetails,
    Response,
    ResponseCreateParams,
    Usage,
    parse_compacted_response,
    parse_item,
    parse_response,
)


def _usage(i: int, o: int, *, cached: int | None = None, reasoning: int | None = None) -> Usage:
    return Usage(
        input_tokens=i,
        output_tokens=o,
        total_tokens=i + o,
        input_tokens_details=None if cached is None else InputTokensDetails(cached_tokens=cached),
        output_tokens_details=None
        if reasoning is None
        else OutputTokensDetails(reasoning_tokens=reasoning),
    )


def test_usage_sums_tokens_and_details() -> None:
    total = _usage(10, 5, cached=4, reasoning=1) + _usage(20, 7, cached=6, reasoning=2)
    assert (total.input_tokens, total.output_tokens, total.total_tokens) == (30, 12, 42)
    assert total.input_tokens_details == InputTokensDetails(cached_tokens=10)
    assert total.output_tokens_details == OutputTokensDetails(reasoning_tokens=3)


def test_usage_sum_keeps_details_present_on_one_side_and_extra_counters() -> None:
    a = Usage.model_validate(
        {
            "input_tokens": 1,
            "output_tokens": 1,
            "total_tokens": 2,
            "input_tokens_details": {
                "cached_tokens": 1,
                "cache_write_tokens": 5,
                "future_tokens": 3,  # a counter this sandloop does not know yet
            },
        }
    )
    b = _usage(2, 2)
    total = a + b
    assert total.input_tokens_details is not None
    assert total.input_tokens_details.cached_tokens == 1
    twice = total + a
    assert twice.input_tokens_details is not None
    assert twice.input_tokens_details.cache_write_tokens == 10
    assert twice.input_tokens_details.model_extra == {"future_tokens": 6}
    assert twice.total_tokens == 8


def test_usage_zero_is_the_identity_of_sum() -> None:
    u = _usage(3, 4, cached=1, reasoning=2)
    assert (Usage.zero() + u).model_dump() == u.model_dump()
    assert sum([u, u], Usage.zero()).total_tokens == 14
    assert Usage.zero().to_wire() == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


def _message(role: str, *texts: str, phase: str | None = None) -> dict[str, Any]:
    content = [{"type": "output_text", "text": t, "annotations": []} for t in texts]
    item: dict[str, Any] = {"type": "message", "role": role, "content": content}
    if phase:
        item["phase"] = phase
    return item


def test_output_text_joins_assistant_output_text_parts_only() -> None:
    response = parse_response(
        {
            "id": "resp_1",
            "object": "response",
            "status": "completed",
            "output": [
                {
                    "type": "reasoning",
                    "id": "rs",
                    "summary": [{"type": "summary_text", "text": "no"}],
                },
                _message("assistant", "Hello, ", "world", phase="commentary"),
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "refusal", "refusal": "x"}],
                },
                _message("assistant", "!"),
            ],
        }
    )
    assert response.output_text == "Hello, world!"
    assert isinstance(response.output[2], FunctionCall)
    assert parse_response({"output": []}).output_text == ""


def test_parse_response_error_names_the_bad_item() -> None:
    with pytest.raises(InvalidResponseError, match=r"output\.0"):
        parse_response({"output": [{"type": "reasoning", "summary": "not a list"}]})


def test_failed_and_incomplete_details_are_typed() -> None:
    failed = parse_response(
        {"status": "failed", "error": {"code": "server_error", "message": "boom"}, "output": []}
    )
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == ("server_error", "boom")
    cut = parse_response(
        {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    )
    assert cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"


def test_compacted_response_output_is_typed() -> None:
    body = {
        "id": "resp_c",
        "object": "response.compaction",
        "created_at": 1,
        "output": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]},
            {"type": "compaction", "id": "cmp_1", "encrypted_content": "opaque=="},
        ],
        "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    }
    compacted = parse_compacted_response(body)
    assert isinstance(compacted.output[1], Compaction)
    assert compacted.output[1].encrypted_content == "opaque=="
    assert compacted.to_wire() == body
    with pytest.raises(InvalidResponseError):
        parse_compacted_response({"output": [{"type": "compaction"}]})


def test_create_params_to_request_sends_only_what_was_set() -> None:
    replayed = parse_item(
        {
            "type": "message",
            "id": "m",
            "role": "assistant",
            "status": "completed",
            "phase": "final_answer",
            "content": [{"type": "output_text", "text": "hi", "annotations": []}],
            "created_by": "x",
        }
    )
    params = ResponseCreateParams(
        model="gpt-5.1",
        input=[replayed, FunctionCallOutput(call_id="c", output="42"), {"type": "future", "k": 1}],
        tools=[FunctionToolParam(name="f", parameters={"type": "object"}), {"type": "shell"}],
        store=False,
        include=["reasoning.encrypted_content"],
    )
    body = params.to_request()
    assert set(body) == {"model", "input", "tools", "store", "include"}
    assert body["input"][0]["phase"] == "final_answer"
    assert "created_by" not in body["input"][0]
    assert body["input"][1] == {"type": "function_call_output", "call_id": "c", "output": "42"}
    assert body["input"][2] == {"type": "future", "k": 1}
    assert body["tools"] == [
        {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True},
        {"type": "shell"},
    ]
    assert ResponseCreateParams(model="m", input="hi").to_request() == {"model": "m", "input": "hi"}


def test_create_params_keep_unknown_options() -> None:
    params = ResponseCreateParams.model_validate({"model": "m", "future_option": {"a": 1}})
    assert params.to_request() == {"model": "m", "future_option": {"a": 1}}


def test_compact_params() -> None:
    params = CompactParams(model="m", input=[Message(role="user", content="x")])
    assert params.to_request() == {
        "model": "m",
        "input": [{"type": "message", "role": "user", "content": "x"}],
    }


def test_response_instructions_may_be_items() -> None:
    response = Response.model_validate({"instructions": [{"role": "developer", "content": "x"}]})
    assert isinstance(response.instructions, list)
    assert isinstance(response.instructions[0], Message)
