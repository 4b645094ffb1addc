"""A custom tool with a grammar: the model writes raw text that must match a Lark grammar.

``sandloop.CustomTool`` sends a ``{"type": "custom", "format": {"type": "grammar", ...}}``
tool; the API constrains the model's ``input`` to the grammar, and our function receives the
text as is. Here: a calculator whose input is an arithmetic expression, evaluated without
``eval`` by walking Python's AST of the (grammar-checked) text.

Run it:

    python examples/custom_tool_grammar.py            # no OPENAI_API_KEY: a scripted model
    OPENAI_API_KEY=sk-... python examples/custom_tool_grammar.py
    python examples/custom_tool_grammar.py --base-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import ast
import operator
import os
import sys
from collections.abc import Callable

import anyio

import sandloop
from sandloop.testing import RecordedRequest, ScriptedResponsesServer, custom_tool_call, message

GRAMMAR = r"""
start: expr
?expr: term (("+" | "-") term)*
?term: factor (("*" | "/") factor)*
?factor: NUMBER | "-" factor | "(" expr ")"
NUMBER: /\d+(\.\d+)?/
%ignore " "
"""

_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _value(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_value(node.left), _value(node.right))
    raise ValueError("only numbers, + - * / and parentheses are allowed")


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression exactly as written (numbers, + - * /, parentheses)."""
    try:
        result = _value(ast.parse(expression, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError) as exc:
        return f"error: {exc}"
    return f"{result:g}"


calc = sandloop.CustomTool(calculate, name="calc", grammar=GRAMMAR, syntax="lark")

agent = sandloop.Agent(
    model="gpt-5.1",
    instructions="Use the calc tool for every computation; never do arithmetic in your head.",
    tools=[calc],
)

TASK = "A crate holds 17 bottles and a pallet 25 crates. How many bottles are on 3 pallets?"


def scripted_model() -> ScriptedResponsesServer:
    """What a model would do here, played by the scripted server (each turn checks its input)."""

    def answer(request: RecordedRequest) -> list[dict[str, object]]:
        (output,) = request.body["input"]
        assert output["type"] == "custom_tool_call_output", output
        assert output["output"] == "1275", output
        return [message("3 pallets hold 1275 bottles (17 × 25 × 3).", phase="final_answer")]

    return ScriptedResponsesServer([[custom_tool_call("calc", "17 * 25 * 3")], answer])


async def main(base_url: str | None) -> None:
    print(f"tool definition: {calc.definition()['format']['type']} ({calc.syntax})")
    async with sandloop.ResponsesClient(base_url=base_url) as client:
        result = await sandloop.run(agent, TASK, client=client)
    print(f"answer: {result.final_output}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="a Responses API to use instead of the scripted model")
    args = parser.parse_args()
    if args.base_url or os.environ.get("OPENAI_API_KEY"):
        anyio.run(main, args.base_url)
    else:
        print("No OPENAI_API_KEY: a ScriptedResponsesServer plays the model.", file=sys.stderr)
        with scripted_model() as server:
            anyio.run(main, server.base_url)
