"""Running one task: its repository copied into its own sandbox, setup, the agent, the test.

Outputs land in the task's directory: ``attempts.jsonl`` (one line per attempt: where and when
it ran), ``journal.jsonl``, ``changes.patch``, ``setup.txt``, ``test.txt`` and, last and
atomically, ``result.json``. A task directory with a journal but no ``result.json`` is an
interrupted attempt (its process was killed, its node lost): the next attempt starts a fresh
copy, runs the setup again, re-applies the journaled changes and resumes the conversation from
the journal instead of starting over. The patch and the journaled changes are the agent's
edits on top of the setup (the baseline is taken after the setup).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from sandloop.batch.cleanup import BATCH_LABEL, TASK_LABEL, remove_batch_containers
from sandloop.batch.files import write_atomic, write_json_atomic
from sandloop.batch.repos import prepare_repo
from sandloop.batch.starts import StartLimits, start_sandbox
from sandloop.batch.tasks import Task
from sandloop.errors import (
    ConfigError,
    CostBudgetExceeded,
    MaxTurnsExceeded,
    RunError,
    RunTimeoutError,
    SandloopError,
    TokenBudgetExceeded,
)
from sandloop.loop.agent import Agent
from sandloop.loop.api import run
from sandloop.loop.journal import read_journal
from sandloop.loop.result import RunResult
from sandloop.loop.resume import resume
from sandloop.loop.workspace import reapply_changes
from sandloop.sandboxes.base import ExecResult
from sandloop.sandboxes.docker import DockerSandbox

__all__ = ("BATCH_LABEL", "FINAL_STATUSES", "run_task")

#: Statuses of a task that reached its end.
FINAL_STATUSES = ("solved", "unsolved", "failed", "error", "timeout", "budget")
#: Seconds each setup and test command may run when the task gives no timeout.
COMMAND_TIMEOUT = 600.0


async def run_task(
    task: Task,
    agent: Agent,
    out: Path,
    *,
    client: Any = None,
    batch_id: str = "batch",
    image: str | None = None,
    sandbox_options: Mapping[str, Any] | None = None,
    starts: StartLimits | None = None,
    node: str | None = None,
) -> dict[str, Any]:
    """Run ``task`` with ``agent`` and write its outputs under ``out``; return its record.

    The record (also ``out/result.json``) holds ``id``, ``status`` (one of
    :data:`FINAL_STATUSES`), ``reason``, ``turns``, ``tokens``, ``cost`` (dollars; ``None``:
    a model call's model is unpriced), ``cost_budget``, ``wall_time`` (of this attempt),
    ``attempt`` (1 for the first), ``resumed`` (this attempt went on from an interrupted one's
    journal) and ``labels``. A setup command that fails makes the task an ``error``; the
    test's exit code decides solved or unsolved; with no test, a completed run is ``solved``.
    ``node`` names where the attempt runs (a Ray node id) in ``attempts.jsonl``.
    """
    await anyio.Path(out).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    record: dict[str, Any] = {
        "id": task.id,
        "status": "error",
        "reason": None,
        "turns": 0,
        "tokens": 0,
        "cost": 0.0,  # no model call yet
        "cost_budget": task.cost_budget,
        "labels": dict(task.labels),
        "attempt": _note_attempt(out, node),
        "resumed": False,
    }
    agent = _task_agent(agent, task)
    labels = {**task.labels, BATCH_LABEL: batch_id, TASK_LABEL: task.id}
    per_command = task.timeout or COMMAND_TIMEOUT
    journal = out / "journal.jsonl"
    earlier = _interrupted(journal, record)
    try:
        await remove_batch_containers(batch_id, task.id)  # a dead attempt's container
        with prepare_repo(task) as repo:
            options: dict[str, Any] = {
                **({"image": task.image or image} if task.image or image else {}),
                **dict(sandbox_options or {}),
                "workspace": repo,
                "mount": "copy",
                "labels": labels,
            }
            sandbox = await start_sandbox(task, options, starts or StartLimits())
            async with sandbox:
                if not await _setup(task, sandbox, out, per_command, record):
                    return _finish(out, record, started)
                await sandbox.set_baseline()
                try:
                    if earlier is not None:
                        await reapply_changes(sandbox, earlier)
                        record["resumed"] = True
                        result = await resume(journal, agent=agent, sandbox=sandbox, client=client)
                    else:
                        result = await run(
                            agent, task.prompt, sandbox=sandbox, client=client, journal=journal
                        )
                    _count(record, result)
                    outcome = None
                except RunError as exc:
                    outcome = exc
                    partial = getattr(exc, "result", None)
                    if partial is not None:
                        _count(record, partial)
                write_atomic(out / "changes.patch", await sandbox.diff_bytes())
                if outcome is not None:
                    record.update(status=_stop_status(outcome), reason=str(outcome))
                    return _finish(out, record, started)
                await _test(task, sandbox, out, per_command, record)
    except SandloopError as exc:
        record.update(status="error", reason=f"{type(exc).__name__}: {exc}")
    return _finish(out, record, started)


def _count(record: dict[str, Any], result: RunResult) -> None:
    record.update(turns=result.turns, tokens=result.usage.total_tokens, cost=result.cost.total)


def _note_attempt(out: Path, node: str | None) -> int:
    """Append this attempt (its number, host, node, process, start time) to ``attempts.jsonl``."""
    path = out / "attempts.jsonl"
    try:
        number = 1 + sum(1 for line in path.read_bytes().splitlines() if line.strip())
    except FileNotFoundError:
        number = 1
    line = {
        "attempt": number,
        "host": socket.gethostname(),
        "node": node,
        "pid": os.getpid(),
        "at": time.time(),
    }
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(line, sort_keys=True) + "\n")
    return number


def _interrupted(journal: Path, record: dict[str, Any]) -> list[dict[str, Any]] | None:
    """An interrupted attempt's journal records, or ``None`` (none, or unreadable: set aside as
    ``journal.unreadable.jsonl`` and noted in the record, and the task starts over)."""
    if not journal.exists():
        return None
    try:
        return read_journal(journal)
    except ConfigError as exc:
        journal.replace(journal.with_name("journal.unreadable.jsonl"))
        record["note"] = f"the interrupted attempt's journal was unreadable ({exc}); started over"
        return None


def _task_agent(agent: Agent, task: Task) -> Agent:
    changes: dict[str, Any] = {}
    if task.max_turns is not None:
        changes["max_turns"] = task.max_turns
    if task.timeout is not None:
        changes["timeout"] = task.timeout
    if task.token_budget is not None:
        changes["token_budget"] = task.token_budget
    if task.cost_budget is not None:
        changes["cost_budget"] = task.cost_budget
    return dataclasses.replace(agent, **changes) if changes else agent


def _stop_status(exc: RunError) -> str:
    if isinstance(exc, RunTimeoutError):
        return "timeout"
    if isinstance(exc, (TokenBudgetExceeded, CostBudgetExceeded, MaxTurnsExceeded)):
        return "budget"
    return "failed"


async def _setup(
    task: Task, sandbox: DockerSandbox, out: Path, timeout: float, record: dict[str, Any]
) -> bool:
    log: list[str] = []
    for command in task.setup:
        done = await sandbox.exec(["sh", "-c", command], timeout=timeout)
        log.append(_format(command, done))
        if done.exit_code != 0 or done.timed_out:
            write_atomic(out / "setup.txt", "".join(log).encode())
            why = "timed out" if done.timed_out else f"exited {done.exit_code}"
            record.update(status="error", reason=f"setup command {command!r} {why}")
            return False
    if log:
        write_atomic(out / "setup.txt", "".join(log).encode())
    return True


async def _test(
    task: Task, sandbox: DockerSandbox, out: Path, timeout: float, record: dict[str, Any]
) -> None:
    if task.test is None:
        record.update(status="solved", reason="run completed (no test)")
        return
    done = await sandbox.exec(["sh", "-c", task.test], timeout=timeout)
    write_atomic(out / "test.txt", _format(task.test, done).encode())
    solved = done.exit_code == 0 and not done.timed_out
    why = "timed out" if done.timed_out else f"exited {done.exit_code}"
    record.update(status="solved" if solved else "unsolved", reason=f"test {why}")


def _format(command: str, done: ExecResult) -> str:
    return (
        f"$ {command}\n[exit {done.exit_code}{' timed out' if done.timed_out else ''}]\n"
        f"--- stdout ---\n{done.stdout.decode('utf-8', 'replace')}"
        f"--- stderr ---\n{done.stderr.decode('utf-8', 'replace')}\n"
    )


def _finish(out: Path, record: dict[str, Any], started: float) -> dict[str, Any]:
    record["wall_time"] = round(time.monotonic() - started, 3)
    write_json_atomic(out / "result.json", record)
    return record
