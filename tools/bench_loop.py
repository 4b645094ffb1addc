"""Per-turn overhead of the agent loop: sandloop vs the OpenAI Agents SDK, same server and process.

Both frameworks run the same script against ``ScriptedResponsesServer`` on 127.0.0.1: N turns
that each call a no-op async function tool, then a final message. Two state modes:

* chained: turns linked with ``previous_response_id`` (sandloop's default ``store=True``; the
  Agents SDK with ``auto_previous_response_id=True``);
* stateless: the whole history resent every turn (sandloop ``store=False``; the Agents SDK's
  default, with ``ModelSettings(store=False)``).

Per-turn time is measured from the server's arrival timestamps of consecutive requests. The
"HTTP floor" replays each framework's recorded request bodies with a bare httpx client, so
``overhead = per-turn time - floor`` is the time the framework itself spends per turn
(building the request, parsing the response, dispatching the tool, recording history).

Run: ``python tools/bench_loop.py [--turns 200] [--repeat 3]``. Prints ms/turn, ratios, and the
growth from the first to the last turns.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

import sandloop.loop as sl
from sandloop.client import ResponsesClient
from sandloop.executors.function import tool
from sandloop.testing import ScriptedResponsesServer, function_call, message

Runner = Callable[[str, int, bool], Awaitable[None]]


@tool
async def noop() -> str:
    """Do nothing."""
    return "ok"


def script(turns: int) -> list[Any]:
    return [[function_call("noop", {})] for _ in range(turns)] + [[message("done")]]


async def run_sandloop(base_url: str, turns: int, stateless: bool) -> None:
    agent = sl.Agent(model="gpt-bench", tools=[noop], max_turns=turns + 5, store=not stateless)
    async with ResponsesClient(base_url=base_url, max_retries=0) as client:
        result = await sl.run(agent, "go", client=client)
    assert result.turns == turns + 1, result.turns


async def run_agents_sdk(base_url: str, turns: int, stateless: bool) -> None:
    from agents import (
        Agent,
        ModelSettings,
        OpenAIResponsesModel,
        Runner,
        function_tool,
        set_tracing_disabled,
    )
    from openai import AsyncOpenAI

    set_tracing_disabled(True)

    @function_tool
    async def noop() -> str:
        """Do nothing."""
        return "ok"

    client = AsyncOpenAI(base_url=base_url, api_key="dummy", max_retries=0)
    settings = ModelSettings(store=False) if stateless else ModelSettings()
    agent = Agent(
        name="bench",
        model=OpenAIResponsesModel("gpt-bench", client),
        tools=[noop],
        model_settings=settings,
    )
    result = await Runner.run(
        agent, "go", max_turns=turns + 5, auto_previous_response_id=not stateless
    )
    assert result.final_output == "done", result.final_output
    await client.close()


async def http_floor(bodies: list[Any], turns: int, *, rounds: int = 3) -> list[float]:
    """Per request, the fastest of ``rounds`` posts of the recorded body with bare httpx."""
    best = [float("inf")] * len(bodies)
    for _ in range(rounds):
        with ScriptedResponsesServer(script(turns), check_protocol=False) as server:
            async with httpx.AsyncClient(base_url=server.base_url) as client:
                for i, body in enumerate(bodies):
                    start = time.perf_counter()
                    answer = await client.post("/responses", json=body)
                    answer.read()
                    best[i] = min(best[i], time.perf_counter() - start)
    return best


async def per_turn_and_floor(
    runner: Runner, turns: int, stateless: bool
) -> tuple[list[float], list[float]]:
    with ScriptedResponsesServer(script(turns)) as server:
        await runner(server.base_url, turns, stateless)
        reqs = server.create_requests
        bodies = [r.body for r in reqs]
        stamps = [r.received_at for r in reqs]
        problems = list(server.problems)
    if problems:
        raise SystemExit(f"protocol problems: {problems[:3]}")
    per_turn = [b - a for a, b in itertools.pairwise(stamps)]
    floor = await http_floor(bodies, turns)
    # Turn i spans request i to request i+1: it contains the answer to request i.
    return per_turn, floor[: len(per_turn)]


def ms(values: list[float]) -> float:
    return statistics.fmean(values) * 1000 if values else float("nan")


async def bench(turns: int, repeat: int) -> None:
    print(f"{turns} turns, best of {repeat} runs; ms per turn (overhead = turn - HTTP floor)\n")
    header = f"{'mode':10} {'framework':10} {'turn':>8} {'floor':>8} {'overhead':>9}"
    header += f" {'first20':>8} {'last20':>8}"
    print(header)
    summary: dict[tuple[str, str], float] = {}
    for stateless in (False, True):
        mode = "stateless" if stateless else "chained"
        # Both pass the server's strict protocol checks.
        for name, runner in (("sandloop", run_sandloop), ("agents", run_agents_sdk)):
            best: tuple[float, list[float], list[float]] | None = None
            for _ in range(repeat):
                per_turn, floor = await per_turn_and_floor(runner, turns, stateless)
                overhead = [t - f for t, f in zip(per_turn, floor, strict=True)]
                if best is None or ms(overhead) < best[0]:
                    best = (ms(overhead), per_turn, overhead)
            assert best is not None
            cost, per_turn, overhead = best
            summary[(mode, name)] = cost
            print(
                f"{mode:10} {name:10} {ms(per_turn):8.3f} {ms(per_turn) - cost:8.3f} "
                f"{cost:9.3f} {ms(overhead[:20]):8.3f} {ms(overhead[-20:]):8.3f}"
            )
    print()
    for mode in ("chained", "stateless"):
        ratio = summary[(mode, "agents")] / summary[(mode, "sandloop")]
        print(f"{mode}: Agents SDK overhead / sandloop overhead = {ratio:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    anyio.run(bench, args.turns, args.repeat)


if __name__ == "__main__":
    main()
