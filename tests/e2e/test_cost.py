"""Cost in dollars from the usage a real (scripted) server reported, and the cost budget."""

from __future__ import annotations

from typing import Any

import pytest

from sandloop.client import ResponsesClient
from sandloop.errors import ConfigError, CostBudgetExceeded
from sandloop.executors.function import tool
from sandloop.loop import Agent, run
from sandloop.pricing import set_price, table
from sandloop.testing import ScriptedResponsesServer, Turn, function_call, message


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    return a + b


def _usage(input: int, cached: int, written: int, output: int) -> dict[str, Any]:
    return {
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    }


@pytest.fixture(autouse=True)
def house_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table, "_default", [])
    monkeypatch.delenv("SANDLOOP_PRICES", raising=False)
    set_price("house-model", input=2.0, cached_input=0.5, cache_write=2.5, output=8.0)


def _script() -> list[Any]:
    return [
        Turn([function_call("add", {"a": 1, "b": 2})], usage=_usage(1000, 0, 800, 100)),
        Turn([message("3", phase="final_answer")], usage=_usage(1200, 800, 0, 50)),
    ]


async def test_the_cost_prices_cache_reads_and_writes_turn_by_turn() -> None:
    with ScriptedResponsesServer(_script()) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            result = await run(Agent(model="house-model", tools=[add]), "1+2", client=client)
    cost = result.cost
    first = (200 * 2.0 + 800 * 2.5 + 100 * 8.0) / 1e6  # plain, cache write, output
    second = (400 * 2.0 + 800 * 0.5 + 50 * 8.0) / 1e6  # plain, cache read, output
    assert [t.usd for t in cost.turns] == [pytest.approx(first), pytest.approx(second)]
    assert cost.total == pytest.approx(first + second)
    assert str(cost) == f"${first + second:.4f}"


async def test_an_unpriced_model_is_reported_unpriced_not_free() -> None:
    with ScriptedResponsesServer(_script()) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            result = await run(Agent(model="no-such-model", tools=[add]), "1+2", client=client)
    assert result.cost.total is None
    assert result.cost.unpriced == ("no-such-model",)


async def test_a_cost_budget_stops_the_run_with_its_partial_result() -> None:
    agent = Agent(model="house-model", tools=[add], cost_budget=0.002)  # turn 1 costs $0.0032
    with ScriptedResponsesServer(_script()[:1]) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            with pytest.raises(CostBudgetExceeded, match=r"cost \$0.0032, over its budget") as stop:
                await run(agent, "1+2", client=client)
        assert len(server.requests) == 1
    assert stop.value.result.status == "cost_budget"
    assert stop.value.result.cost.total == pytest.approx(0.0032)


async def test_a_cost_budget_on_an_unpriced_model_is_refused_before_any_request() -> None:
    agent = Agent(model="no-such-model", tools=[add], cost_budget=1.0)
    with ScriptedResponsesServer([]) as server:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            with pytest.raises(ConfigError, match="cost_budget needs a price for 'no-such-model'"):
                await run(agent, "1+2", client=client)
        assert server.requests == []
