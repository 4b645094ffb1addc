"""Random arguments against decorated tools: the function sees valid values, or nothing runs.

``FunctionTool.execute`` either runs the function with arguments that match its annotations
(each function checks its own inputs, so a leak of a wrong type fails the test) or raises
``ToolArgumentsError``. Through the dispatcher, every random call — also to unknown tools —
ends as exactly one output item, in call order.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Literal

import anyio
from fuzz_support import FUZZ, json_values
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from sandloop.dispatch import Approvals, Dispatcher, RunScope, ToolRegistry
from sandloop.dispatch.outputs import output_key
from sandloop.errors import ToolArgumentsError
from sandloop.executors.base import ToolContext
from sandloop.executors.function import FunctionTool, tool
from sandloop.items import FunctionCall, FunctionCallOutput


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int
    y: float


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    assert type(a) is int
    assert type(b) is int
    return a + b


@tool
def describe(
    name: str,
    tags: list[str],
    weights: dict[str, float],
    colour: Colour,
    mode: Literal["fast", "slow"],
    point: Point,
    note: str | None = None,
    flag: bool = False,
) -> str:
    """Describe a thing.

    Args:
        name: Its name.
        tags: Labels.
        weights: Weight per label.
        colour: A colour.
        mode: How to go.
        point: Where it is.
        note: Free text.
        flag: A switch.
    """
    assert isinstance(name, str)
    assert all(isinstance(t, str) for t in tags)
    assert all(isinstance(k, str) and isinstance(v, float) for k, v in weights.items())
    assert isinstance(colour, Colour)
    assert mode in ("fast", "slow")
    assert isinstance(point, Point)
    assert note is None or isinstance(note, str)
    assert isinstance(flag, bool)
    return f"{name}:{len(tags)}"


@tool(strict=False)
async def loose(count: int = 1, items: list[int] | None = None) -> str:
    """A non-strict tool with defaults.

    Args:
        count: How many.
        items: Some numbers.
    """
    assert type(count) is int
    assert items is None or all(type(i) is int for i in items)
    return str(count)


TOOLS: dict[str, FunctionTool[Any, Any]] = {"add": add, "describe": describe, "loose": loose}
VALID = {
    "add": {"a": 1, "b": 2},
    "describe": {
        "name": "n",
        "tags": ["t"],
        "weights": {"t": 1.5},
        "colour": "red",
        "mode": "fast",
        "point": {"x": 1, "y": 2.0},
        "note": None,
        "flag": True,
    },
    "loose": {"count": 3},
}
CTX = ToolContext(run_id="run_fuzz", call_id="call_1")


@st.composite
def arguments(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(TOOLS)))
    shape = draw(st.sampled_from(["mutated", "random_json", "random_text"]))
    if shape == "random_text":
        return name, draw(st.text(max_size=60))
    if shape == "random_json":
        return name, json.dumps(draw(json_values))
    args = json.loads(json.dumps(VALID[name]))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        key = draw(st.sampled_from(sorted(args) or ["extra"]))
        if draw(st.booleans()):
            args[key] = draw(json_values)
        else:
            args.pop(key, None)
    return name, json.dumps(args)


async def _execute(name: str, text: str) -> FunctionCallOutput | ToolArgumentsError:
    call = FunctionCall(call_id="call_1", name=name, arguments=text)
    try:
        return await TOOLS[name].execute(call, CTX)
    except ToolArgumentsError as exc:
        return exc


@FUZZ
@given(arguments())
def test_random_arguments_run_with_valid_values_or_raise_tool_arguments_error(
    case: tuple[str, str],
) -> None:
    out = anyio.run(_execute, *case)
    if isinstance(out, ToolArgumentsError):
        assert str(out)  # the model is told what was wrong
    else:
        assert isinstance(out.output, str)


def test_the_valid_arguments_run() -> None:
    # The mutations start from these; they must be accepted, or the fuzz proves nothing.
    for name, args in VALID.items():
        out = anyio.run(_execute, name, json.dumps(args))
        assert isinstance(out, FunctionCallOutput), out


async def _dispatch(calls: list[FunctionCall]) -> list[Any]:
    registry = ToolRegistry(list(TOOLS.values()))
    dispatcher = Dispatcher(registry, approvals=Approvals(None, policy="never"))
    results: list[Any] = []
    await dispatcher.run(calls, scope=RunScope("run_fuzz"), turn=1, results=results)
    return results


@FUZZ
@given(st.lists(arguments() | st.tuples(st.text(max_size=8), st.text(max_size=20)), max_size=6))
def test_random_calls_through_the_dispatcher_get_one_output_each_in_order(
    cases: list[tuple[str, str]],
) -> None:
    calls = [
        FunctionCall(call_id=f"call_{n}", name=name, arguments=text)
        for n, (name, text) in enumerate(cases)
    ]
    results = anyio.run(_dispatch, calls)
    assert [output_key(r.output) for r in results] == [c.call_id for c in calls]
    for result, (name, _) in zip(results, cases, strict=True):
        if name not in TOOLS:
            assert result.status == "unknown_tool"
        else:
            assert result.status in ("completed", "invalid_arguments")
