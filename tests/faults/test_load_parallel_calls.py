"""One turn with 200 parallel function calls: all run, concurrently, and answer in call order.

The tool sleeps a random, seeded time so calls finish out of order; the next request must still
carry the 200 outputs in the order of the calls, each with its own value (the scripted server
also checks one output per call). Concurrency is real and bounded by ``max_concurrency``.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import anyio
import pytest

from sandloop.client import ResponsesClient
from sandloop.executors.function import tool
from sandloop.loop import Agent, run
from sandloop.testing import RecordedRequest, ScriptedResponsesServer, function_call, message

CALLS = 200
_delays = random.Random(8)
DELAYS = [_delays.uniform(0.0, 0.05) for _ in range(CALLS)]


class Gauge:
    """Counts calls in flight and remembers the peak."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0


@pytest.mark.parametrize("limit", [8, 64, 200])
async def test_200_parallel_calls_run_concurrently_and_answer_in_call_order(limit: int) -> None:
    gauge = Gauge()

    @tool
    async def square(n: int) -> str:
        """Square a number, slowly.

        Args:
            n: The number.
        """
        gauge.now += 1
        gauge.peak = max(gauge.peak, gauge.now)
        await anyio.sleep(DELAYS[n])
        gauge.now -= 1
        return json.dumps({"n": n, "square": n * n})

    def check(request: RecordedRequest) -> list[dict[str, Any]]:
        outputs = [i for i in request.body["input"] if i["type"] == "function_call_output"]
        assert [o["call_id"] for o in outputs] == [f"call_{n:03d}" for n in range(CALLS)]
        assert [json.loads(o["output"]) for o in outputs] == [
            {"n": n, "square": n * n} for n in range(CALLS)
        ]
        return [message(f"{CALLS} squares", phase="final_answer")]

    calls = [function_call("square", {"n": n}, call_id=f"call_{n:03d}") for n in range(CALLS)]
    agent = Agent(model="gpt-test", tools=[square], max_concurrency=limit)
    with ScriptedResponsesServer([calls, check]) as server:
        async with ResponsesClient(base_url=server.base_url) as client:
            result = await run(agent, "Square them.", client=client)
    assert result.final_output == f"{CALLS} squares"
    assert 1 < gauge.peak <= limit
    if limit <= 64:
        assert gauge.peak == limit  # the limit was reached, not just respected


async def test_200_parallel_calls_of_a_blocking_tool_answer_in_call_order() -> None:
    # Sync tools run in worker threads (anyio's pool of 40): more calls than threads must queue,
    # not deadlock or reorder.
    @tool
    def cube(n: int) -> int:
        """Cube a number, blocking.

        Args:
            n: The number.
        """
        time.sleep(DELAYS[n] / 5)
        return n**3

    def check(request: RecordedRequest) -> list[dict[str, Any]]:
        outputs = [i for i in request.body["input"] if i["type"] == "function_call_output"]
        assert [o["output"] for o in outputs] == [str(n**3) for n in range(CALLS)]
        return [message("cubes", phase="final_answer")]

    calls = [function_call("cube", {"n": n}) for n in range(CALLS)]
    agent = Agent(model="gpt-test", tools=[cube], max_concurrency=CALLS)
    with ScriptedResponsesServer([calls, check]) as server:
        async with ResponsesClient(base_url=server.base_url) as client:
            result = await run(agent, "Cube them.", client=client)
    assert result.final_output == "cubes"
