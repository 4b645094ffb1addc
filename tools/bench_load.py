"""Load benchmark: many agent runs at once, each in its own pooled Docker sandbox.

``--runs`` agent runs (default 32) start together in this one process. Each plays ``--turns``
model calls (default 10) against its own ScriptedResponsesServer on 127.0.0.1: shell commands
and apply_patch edits, then a final answer; every turn checks what the model would see. The
sandboxes come from one SandboxPool. At the end each run's files are checked, and no
container of this benchmark may be left.

Prints wall time, runs per minute, model turns per second, per-turn latency (median and p95 of
the time between one model request and the next), and the peak memory (max RSS) of this
process. Exits non-zero when a run failed or a container was left.

    python tools/bench_load.py [--runs 32] [--turns 10] [--pool 8] [--image IMG]
"""

from __future__ import annotations

import argparse
import itertools
import resource
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio

from sandloop.client import ResponsesClient
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent, run
from sandloop.sandboxes.docker import DEFAULT_IMAGE, DockerSandbox, connect
from sandloop.sandboxes.pool import SandboxPool
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    apply_patch_call,
    message,
    shell_call,
)

AGENT = Agent(model="gpt-bench", tools=[ShellTool(), ApplyPatchTool()])


@dataclass
class RunReport:
    """What one run did."""

    index: int
    ok: bool = False
    error: str = ""
    turn_gaps: list[float] = field(default_factory=list)


def script(index: int, turns: int) -> list[Any]:
    """``turns`` model calls: alternate shell commands and patches, then the final answer.

    Each turn after the first checks the previous call's output, as a model would read it.
    """
    steps: list[Any] = [[shell_call(["pwd", "echo start > log.txt"], call_id="c1")]]
    for t in range(2, turns):
        steps.append(_step(index, t))
    steps.append(_answer(index, turns))
    return steps


def _step(index: int, t: int) -> Any:
    def play(request: RecordedRequest) -> list[dict[str, Any]]:
        _check_previous(request, t - 1)
        if t % 2 == 0:
            diff = "".join(f"+run {index} turn {t} line {n}\n" for n in range(20))
            return [apply_patch_call("create_file", f"f{t}.txt", diff, call_id=f"c{t}")]
        return [shell_call([f"wc -l f{t - 1}.txt", "echo t >> log.txt"], call_id=f"c{t}")]

    return play


def _answer(index: int, turns: int) -> Any:
    def play(request: RecordedRequest) -> list[dict[str, Any]]:
        _check_previous(request, turns - 1)
        return [message(f"run {index} done", phase="final_answer")]

    return play


def _check_previous(request: RecordedRequest, t: int) -> None:
    (output,) = [i for i in request.body["input"] if i.get("call_id") == f"c{t}"]
    if output["type"] == "apply_patch_call_output":
        assert output["status"] == "completed", output
    else:
        assert all(c["outcome"] == {"type": "exit", "exit_code": 0} for c in output["output"])
        if t > 1:
            assert output["output"][0]["stdout"].startswith("20 "), output


async def one_run(
    index: int, turns: int, pool: SandboxPool[DockerSandbox], report: RunReport
) -> None:
    """Run agent ``index`` in a sandbox from ``pool`` and check what it left."""
    with ScriptedResponsesServer(script(index, turns)) as server:
        async with (
            await pool.acquire() as sandbox,
            ResponsesClient(base_url=server.base_url, max_retries=0) as client,
        ):
            result = await run(AGENT, f"Run {index}", sandbox=sandbox, client=client)
            assert result.final_output == f"run {index} done", result.final_output
            assert result.turns == turns
            for t in range(2, turns, 2):
                data = await sandbox.read_file(f"f{t}.txt")
                assert data.decode().splitlines()[-1] == f"run {index} turn {t} line 19"
            log = (await sandbox.read_file("log.txt")).decode().split()
            assert log == ["start"] + ["t"] * len(range(3, turns, 2)), log
        times = [r.received_at for r in server.create_requests]
        report.turn_gaps = [b - a for a, b in itertools.pairwise(times)]
    report.ok = True


async def main(args: argparse.Namespace) -> int:
    label = {"org.sandloop.bench": f"load-{uuid.uuid4().hex[:8]}"}
    reports = [RunReport(i) for i in range(args.runs)]

    def factory() -> DockerSandbox:
        return DockerSandbox(args.image, labels=label)

    async def guarded(report: RunReport) -> None:
        try:
            await one_run(report.index, args.turns, pool, report)
        except Exception as exc:  # a benchmark reports every failure, then exits non-zero
            report.error = f"{type(exc).__name__}: {exc}"

    start = time.perf_counter()
    async with (
        SandboxPool(factory, size=args.pool, max_starting=args.pool) as pool,
        anyio.create_task_group() as tg,
    ):
        for report in reports:
            tg.start_soon(guarded, report)
    wall = time.perf_counter() - start
    left = _containers_left(label)
    _print(args, reports, wall, left)
    return 0 if all(r.ok for r in reports) and not left else 1


def _containers_left(label: dict[str, str]) -> list[str]:
    client = connect()
    try:
        ((key, value),) = label.items()
        found = client.containers.list(all=True, filters={"label": f"{key}={value}"})
        ids = [c.short_id for c in found]
        for container in found:  # do not leave them behind, but report them
            container.remove(force=True)
        return ids
    finally:
        client.close()


def _print(
    args: argparse.Namespace, reports: list[RunReport], wall: float, left: list[str]
) -> None:
    ok = sum(r.ok for r in reports)
    gaps = sorted(g for r in reports for g in r.turn_gaps)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"runs: {args.runs} at once, {args.turns} turns each, pool of {args.pool} sandboxes")
    print(f"finished correctly: {ok}/{args.runs}")
    for report in reports:
        if not report.ok:
            print(f"  run {report.index} FAILED: {report.error}")
    print(f"wall time: {wall:.2f} s")
    print(f"runs per minute: {args.runs / wall * 60:.1f}")
    print(f"model turns per second: {args.runs * args.turns / wall:.1f}")
    if gaps:
        p95 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.95))]
        median = statistics.median(gaps)
        print(
            "turn latency (one model request to the next): "
            f"median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
        )
    print(f"peak memory (max RSS) of this process: {peak_mb:.0f} MiB")
    print(f"containers left: {len(left)}" + (f" (removed: {', '.join(left)})" if left else ""))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=32, help="agent runs at once")
    parser.add_argument("--turns", type=int, default=10, help="model calls per run (>= 3)")
    parser.add_argument("--pool", type=int, default=8, help="sandboxes kept ready")
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="sandbox image")
    args = parser.parse_args(argv)
    if args.turns < 3 or args.runs < 1 or args.pool < 1:
        parser.error("need --turns >= 3, --runs >= 1, --pool >= 1")
    return args


if __name__ == "__main__":
    sys.exit(anyio.run(main, parse_args(sys.argv[1:])))
