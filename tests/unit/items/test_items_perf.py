"""Performance sanity: large responses parse through the prebuilt adapters (no timing asserts).

Timings belong to benchmarks; this checks the shape of the work: a 1,000-item Response parses
and serialises back completely, and the item union's validator is built once, not per call.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from sandloop.items import FunctionCall, Message, Response, ShellCall, parse_item


def _big_response(n: int) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            output.append(
                {
                    "type": "function_call",
                    "id": f"fc_{i}",
                    "call_id": f"c{i}",
                    "name": "f",
                    "arguments": "{}",
                }
            )
        elif kind == 1:
            output.append(
                {
                    "type": "shell_call",
                    "call_id": f"s{i}",
                    "action": {"commands": ["ls"], "timeout_ms": 1000},
                    "created_by": "x",
                }
            )
        else:
            output.append(
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": str(i), "annotations": []}],
                }
            )
    return {"id": "r", "object": "response", "status": "completed", "output": output}


def test_thousand_item_response_parses_and_round_trips() -> None:
    body = _big_response(1000)
    response = Response.model_validate(body)
    assert len(response.output) == 1000
    assert isinstance(response.output[0], FunctionCall)
    assert isinstance(response.output[1], ShellCall)
    assert isinstance(response.output[2], Message)
    assert response.to_wire() == body


def test_parsing_builds_no_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    # Building a TypeAdapter compiles a validator (milliseconds for the item union): parsing
    # must reuse the prebuilt ones, so none may be constructed while items are parsed.
    built: list[object] = []
    original = TypeAdapter.__init__

    def counting_init(self: TypeAdapter[Any], *args: Any, **kwargs: Any) -> None:
        built.append(args[0] if args else kwargs.get("type"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(TypeAdapter, "__init__", counting_init)
    body = _big_response(300)
    for wire in body["output"]:
        parse_item(wire)
    parse_item({"role": "user", "content": "x"})
    Response.model_validate(body)
    assert built == []
