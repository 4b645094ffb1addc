"""Performance sanity: large responses parse through the prebuilt adapters (no timing asserts).

Timings belong to benchmarks; this checks the shape of the work: a 1,000-item Response parses
and serialises back completely, and the item union's validator is built once, not per call.
"""

from __future__ import annotations

from typing import Any

from sandloop.items import FunctionCall, Message, Response, ShellCall, parse_item
from sandloop.items import items as items_module


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


def test_item_adapter_is_built_once() -> None:
    adapter = items_module._ITEM_ADAPTER
    parse_item({"role": "user", "content": "x"})
    assert items_module._ITEM_ADAPTER is adapter
