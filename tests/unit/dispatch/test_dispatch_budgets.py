"""Per-response budgets of the dispatcher: calls per response, tool output, invalid calls."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sandloop.dispatch import Approvals, CallOutcome, Dispatcher, RunScope, ToolRegistry
from sandloop.dispatch.dispatcher import DEFAULT_MAX_CALLS
from sandloop.executors import DEFAULT_MAX_TOOL_OUTPUT, OutputBudget
from sandloop.executors.function import tool
from sandloop.items import CallItem, FunctionCall, InvalidCall, parse_item

SCOPE = RunScope(run_id="run_t")


@tool
def blob(size: int) -> str:
    """Return ``size`` characters.

    Args:
        size: How many.
    """
    return "x" * size


def _call(i: int, size: int) -> FunctionCall:
    return FunctionCall(call_id=f"c{i}", name="blob", arguments=json.dumps({"size": size}))


async def _dispatch(
    calls: Sequence[CallItem],
    *,
    max_output: int = DEFAULT_MAX_TOOL_OUTPUT,
    max_calls: int = DEFAULT_MAX_CALLS,
) -> list[CallOutcome]:
    d = Dispatcher(
        ToolRegistry([blob]),
        approvals=Approvals(None),
        max_concurrency=1,
        max_output=max_output,
        max_calls=max_calls,
    )
    results: list[CallOutcome] = []
    await d.run(calls, scope=SCOPE, turn=1, results=results)
    return results


async def test_calls_past_max_calls_are_answered_without_running() -> None:
    results = await _dispatch([_call(i, 1) for i in range(5)], max_calls=3)
    assert [r.status for r in results] == ["completed"] * 3 + ["failed"] * 2
    assert "too many calls in one response" in results[4].output.output


async def test_a_function_output_past_the_budget_becomes_a_failed_output() -> None:
    results = await _dispatch([_call(0, 60), _call(1, 60)], max_output=100)
    assert results[0].output.output == "x" * 60
    assert results[1].status == "failed"
    assert "returned 60 characters" in results[1].output.output
    assert "40 of 100" in results[1].output.output


async def test_an_invalid_call_is_answered_with_its_problem_and_never_routed() -> None:
    item = parse_item({"type": "function_call", "call_id": "c9", "name": "blob"})
    assert isinstance(item, InvalidCall)
    [result] = await _dispatch([item])
    assert result.status == "invalid_arguments"
    assert result.output.type == "function_call_output"
    assert result.output.call_id == "c9"
    assert "arguments: Field required" in result.output.output


def test_the_output_budget_grants_what_remains_and_takes_refunds() -> None:
    budget = OutputBudget(100)
    assert budget.claim(70) == 70
    assert budget.claim(70) == 30
    assert budget.claim(1) == 0
    budget.refund(50)
    assert budget.remaining == 50
    budget.refund(10_000)
    assert budget.held == 0
