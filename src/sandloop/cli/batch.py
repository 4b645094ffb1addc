"""``sandloop batch TASKS.jsonl --out DIR``: one agent over many tasks, resumable.

Exit status: 0 when every task reached a final result and at least one was solved, 1 otherwise,
2 for a bad task file or flags, 130 when interrupted (running tasks stopped, their containers
removed, what finished written).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio

from sandloop.batch.layout import BatchDir, exit_code
from sandloop.batch.ray_executor import RayExecutor, require_ray
from sandloop.batch.runner import TaskSettings, run_tasks
from sandloop.batch.starts import StartLimits
from sandloop.batch.tasks import Task, load_tasks
from sandloop.cli import argtypes
from sandloop.client import ClientSettings, ResponsesClient
from sandloop.errors import ConfigError
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.shell import ShellTool
from sandloop.loop.agent import Agent

__all__ = ("register",)

INTERRUPTED = 130


def register(parser: argparse.ArgumentParser) -> None:
    """Fill the parser of ``sandloop batch``: its flags and ``func``."""
    parser.add_argument("tasks", type=Path, metavar="TASKS.jsonl")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument("--workers", type=argtypes.positive, default=2, metavar="N")
    parser.add_argument(
        "--starts",
        type=argtypes.positive,
        default=4,
        metavar="N",
        help="container starts allowed at once (default 4)",
    )
    parser.add_argument("--start-deadline", type=float, default=120.0, metavar="SECONDS")
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--ray-address", metavar="ADDR")
    parser.add_argument("--agent", type=Path, metavar="FILE", help="an Agent.to_dict() JSON")
    parser.add_argument("--model", default="gpt-5")
    parser.add_argument("--base-url", metavar="URL")
    parser.add_argument("--image", help="default image for tasks without one")
    parser.add_argument("--retry-failed", action="store_true", help="re-run failed/error tasks")
    parser.add_argument("--redo", action="store_true", help="ignore earlier results")
    parser.add_argument("--json", action="store_true", help="print JSON events, one per line")
    parser.set_defaults(func=_batch)


def _agent(args: argparse.Namespace) -> Agent:
    if args.agent is None:
        return Agent(model=args.model, tools=[ShellTool(), ApplyPatchTool()])
    try:
        data = json.loads(args.agent.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--agent {str(args.agent)!r}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--agent {str(args.agent)!r}: not a JSON object")
    return Agent.from_dict(data)


def _batch(args: argparse.Namespace) -> int:
    remote = None
    if args.executor == "ray":
        require_ray()
        remote = RayExecutor(address=args.ray_address, workers=args.workers)
    tasks = load_tasks(args.tasks)
    agent = _agent(args)
    progress = _Progress(len(tasks), json_events=args.json)
    interrupted = anyio.run(_drive, args, tasks, agent, progress, remote)
    summary = BatchDir(args.out).summarize([t.id for t in tasks])
    progress.table(BatchDir(args.out), tasks, summary)
    if interrupted:
        print("sandloop: batch interrupted; run the same command again to resume", file=sys.stderr)
        return INTERRUPTED
    return exit_code(summary)


async def _drive(
    args: argparse.Namespace, tasks: list[Task], agent: Agent, progress: Any, remote: Any
) -> bool:
    interrupted = False
    async with ResponsesClient(base_url=args.base_url) as client, anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    interrupted = True
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch)
        records = run_tasks(
            tasks,
            agent,
            args.out,
            workers=args.workers,
            client=client,
            image=args.image,
            retry_failed=args.retry_failed,
            redo=args.redo,
            starts=StartLimits(concurrent=args.starts, deadline=args.start_deadline),
            on_event=progress.event,
            remote=remote,
            per_task={
                t.id: TaskSettings(client=ClientSettings(base_url=args.base_url)) for t in tasks
            }
            if remote is not None
            else None,
        )
        async with aclosing(records):
            async for _record in records:
                pass
        tg.cancel_scope.cancel()
    return interrupted


class _Progress:
    """Counters and one line per finished task on stderr, or JSON events on stdout."""

    def __init__(self, total: int, *, json_events: bool) -> None:
        self.total, self.json_events = total, json_events
        self.done = self.failed = self.running = self.tokens = 0
        self.cost = 0.0
        self.unpriced = False  # a finished task's cost is unknown: the sum is a lower bound
        self.began = time.monotonic()

    def event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "started":
            self.running += 1
        elif kind in ("finished", "skipped"):
            self.done += 1
            if kind == "finished":
                self.running -= 1
                self.tokens += int(event.get("tokens") or 0)
                if event.get("cost") is None:
                    self.unpriced = self.unpriced or bool(event.get("turns"))
                else:
                    self.cost += float(event["cost"])
            if event.get("status") in ("failed", "error", "timeout", "budget"):
                self.failed += 1
        if self.json_events:
            print(json.dumps(event, sort_keys=True), flush=True)
            return
        if kind == "finished":
            print(
                f"{event['status']:>8}  {event['id']}  turns={event['turns']} "
                f"tokens={event['tokens']} cost={_dollars(event.get('cost'))} "
                f"{event.get('wall_time', 0):.1f}s  {event.get('reason') or ''}",
                file=sys.stderr,
            )
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        remaining = self.total - self.done
        spent = time.monotonic() - self.began
        eta = f"{spent / self.done * remaining:.0f}s" if self.done else "?"
        return (
            f"[done {self.done}/{self.total}  running {self.running}  failed {self.failed}  "
            f"remaining {remaining}  tokens {self.tokens}  cost {self.cost_text()}  eta {eta}]"
        )

    def cost_text(self) -> str:
        """Dollars so far; ``+`` marks a sum that leaves out unpriced tasks."""
        return f"${self.cost:.4f}{'+' if self.unpriced else ''}"

    def table(self, layout: BatchDir, tasks: list[Task], summary: dict[str, Any]) -> None:
        if self.json_events:
            print(json.dumps({"event": "summary", **summary}, sort_keys=True), flush=True)
            return
        print(f"{'task':<24} {'status':<9} {'turns':>5} {'tokens':>8} {'cost':>10} {'time':>7}")
        for task in tasks:
            record = layout.final(task.id) or {"status": "-", "turns": 0, "tokens": 0}
            print(
                f"{task.id:<24} {record['status']:<9} {record.get('turns', 0):>5} "
                f"{record.get('tokens', 0):>8} {_dollars(record.get('cost')):>10} "
                f"{float(record.get('wall_time') or 0):>6.1f}s"
            )
        statuses = ", ".join(f"{n} {s}" for s, n in summary["statuses"].items() if n)
        print(
            f"{summary['finished']}/{summary['tasks']} finished: {statuses or 'none'}; "
            f"cost {_dollars(summary['cost'])}"
        )


def _dollars(value: Any) -> str:
    """``$0.0123``, or ``unpriced`` for a cost that is not known."""
    return "unpriced" if value is None else f"${float(value):.4f}"
