"""``@sandloop.tool`` / FunctionTool and CustomTool: definitions, execution, return values."""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from pydantic import BaseModel

from sandloop.errors import ConfigError, ToolArgumentsError
from sandloop.executors.base import Tool, ToolContext
from sandloop.executors.custom import CustomTool
from sandloop.executors.function import FunctionTool, ToolImage, to_tool_output, tool
from sandloop.items import (
    CustomToolCall,
    CustomToolCallOutput,
    FunctionCall,
    FunctionCallOutput,
    InputImage,
    InputText,
)

CTX = ToolContext(run_id="run_1", call_id="call_1")


def call(name: str, args: dict[str, Any] | str) -> FunctionCall:
    text = args if isinstance(args, str) else json.dumps(args)
    return FunctionCall(call_id="call_1", name=name, arguments=text)


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    return a + b


@tool(name="greet", description="Say hello.", strict=False, sequential=True, timeout=2.5)
async def hello(who: str = "world") -> str:
    return f"hello {who}"


def test_bare_decorator_definition() -> None:
    assert isinstance(add, FunctionTool)
    assert isinstance(add, Tool)
    assert add(2, 3) == 5  # still callable as the function
    d = add.definition()
    assert d == {
        "type": "function",
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"type": "integer", "description": "First addend."},
                "b": {"type": "integer", "description": "Second addend."},
            },
            "required": ["a", "b"],
            "additionalProperties": False,
        },
        "strict": True,
    }
    assert add.definition() is d  # built once
    assert add.import_path.endswith("test_function_tool:add")
    assert (add.call_type, add.sequential, add.needs_approval, add.timeout) == (
        "function_call",
        False,
        False,
        None,
    )


def test_decorator_with_options() -> None:
    d = hello.definition()
    assert d["name"] == "greet"
    assert d["description"] == "Say hello."
    assert d["strict"] is False
    assert d["parameters"]["properties"]["who"]["default"] == "world"
    assert hello.sequential is True
    assert hello.timeout == 2.5


async def test_execute_sync_runs_in_a_worker_thread() -> None:
    seen: list[int] = []

    @tool
    def where() -> str:
        """Report the thread."""
        seen.append(threading.get_ident())
        return "ok"

    out = await where.execute(call("where", {}), CTX)
    assert out == FunctionCallOutput(call_id="call_1", output="ok")
    assert seen
    assert seen[0] != threading.get_ident()


async def test_execute_async_runs_on_the_loop() -> None:
    out = await hello.execute(call("greet", {"who": "Ada"}), CTX)
    assert out.output == "hello Ada"
    assert out.call_id == "call_1"
    assert out.to_wire() == {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": "hello Ada",
    }


async def test_context_is_injected() -> None:
    @tool
    async def who_am_i(prefix: str, ctx: ToolContext) -> str:
        """Say the run id."""
        return f"{prefix}{ctx.run_id}/{ctx.call_id}"

    assert list(who_am_i.definition()["parameters"]["properties"]) == ["prefix"]
    out = await who_am_i.execute(call("who_am_i", {"prefix": ">"}), CTX)
    assert out.output == ">run_1/call_1"


async def test_invalid_arguments_raise_tool_arguments_error() -> None:
    with pytest.raises(ToolArgumentsError, match="b: Field required"):
        await add.execute(call("add", {"a": 1}), CTX)
    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        await add.execute(call("add", '{"a": 1,'), CTX)


class Point(BaseModel):
    x: int
    y: int


PNG = b"\x89PNG\r\n\x1a\nfake"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        (3, "3"),
        (1.5, "1.5"),
        (None, "null"),
        ({"a": [1, 2]}, '{"a":[1,2]}'),
        ([1, "x"], '[1,"x"]'),
        (Point(x=1, y=2), '{"x":1,"y":2}'),
        (
            ToolImage(PNG),
            [InputImage(image_url="data:image/png;base64,iVBORw0KGgpmYWtl", detail="auto")],
        ),
        (
            ["see:", ToolImage(url="https://x/y.png", detail="low")],
            [InputText(text="see:"), InputImage(image_url="https://x/y.png", detail="low")],
        ),
    ],
)
def test_return_values(value: Any, expected: Any) -> None:
    assert to_tool_output(value) == expected


async def test_image_output_goes_on_the_wire_as_content_parts() -> None:
    @tool
    def shot() -> ToolImage:
        """Take a screenshot."""
        return ToolImage(PNG)

    out = await shot.execute(call("shot", {}), CTX)
    assert out.to_wire()["output"] == [
        {
            "type": "input_image",
            "image_url": "data:image/png;base64,iVBORw0KGgpmYWtl",
            "detail": "auto",
        }
    ]


async def test_tool_exception_propagates_to_the_dispatcher() -> None:
    @tool
    def boom() -> None:
        """Fail."""
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        await boom.execute(call("boom", {}), CTX)


def test_custom_tool_definition_and_grammar() -> None:
    def run_sql(query: str) -> str:
        """Run one SQL query."""
        return query

    free = CustomTool(run_sql)
    assert free.definition() == {
        "type": "custom",
        "name": "run_sql",
        "description": "Run one SQL query.",
        "format": {"type": "text"},
    }
    lark = CustomTool(run_sql, name="sql", grammar='start: "SELECT " /[a-z]+/')
    assert lark.definition()["format"] == {
        "type": "grammar",
        "syntax": "lark",
        "definition": 'start: "SELECT " /[a-z]+/',
    }
    regex = CustomTool(run_sql, grammar=r"\d+", syntax="regex", description="Digits.")
    assert regex.definition()["format"]["syntax"] == "regex"
    assert regex.definition()["description"] == "Digits."
    with pytest.raises(ConfigError, match="lark"):
        CustomTool(run_sql, syntax="ebnf")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="empty"):
        CustomTool(run_sql, grammar="  ")


async def test_custom_tool_execute_with_context_sync_and_async() -> None:
    def echo(text: str, ctx: ToolContext) -> str:
        return f"{ctx.run_id}:{text}"

    async def shout(text: str) -> dict[str, str]:
        await anyio.lowlevel.checkpoint()
        return {"said": text.upper()}

    c = CustomToolCall(call_id="call_1", name="echo", input="raw { text")
    out = await CustomTool(echo).execute(c, CTX)
    assert out == CustomToolCallOutput(call_id="call_1", output="run_1:raw { text")
    out = await CustomTool(shout).execute(c, CTX)
    assert out.output == '{"said":"RAW { TEXT"}'
    assert isinstance(CustomTool(shout), Tool)


async def _fetch(text: str) -> str:
    await anyio.lowlevel.checkpoint()
    return f"fetched {text}"


def _delegating(text: str) -> Any:
    """A sync-looking function that hands back a coroutine."""
    return _fetch(text)


async def test_an_awaitable_returned_by_a_sync_tool_is_awaited() -> None:
    # The model must get the result, not "<coroutine object ...>" (and no "never awaited").
    c = CustomToolCall(call_id="call_1", name="_delegating", input="page")
    out = await CustomTool(_delegating).execute(c, CTX)
    assert out.output == "fetched page"
    f = FunctionCall(call_id="call_2", name="_delegating", arguments='{"text": "doc"}')
    out2 = await tool(_delegating).execute(f, CTX)
    assert out2.output == "fetched doc"
