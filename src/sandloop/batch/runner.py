"""Running a task file's tasks N at a time in this process, yielding each record as it finishes."""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from sandloop.batch.cleanup import remove_batch_containers
from sandloop.batch.layout import BatchDir
from sandloop.batch.starts import StartLimits
from sandloop.batch.task_run import run_task
from sandloop.batch.tasks import Task
from sandloop.client import ClientSettings
from sandloop.loop.agent import Agent

__all__ = ("TaskSettings", "run_tasks")


@dataclass(frozen=True)
class TaskSettings:
    """What one task of a batch runs with instead of the batch's defaults."""

    agent: Agent | None = None
    sandbox_options: dict[str, Any] | None = None
    client: ClientSettings | None = None


#: Receives batch events: ``{"event": "skipped" | "started" | "finished", "id": ..., ...}``.
OnBatchEvent = Callable[[dict[str, Any]], None] | None


async def run_tasks(
    tasks: Sequence[Task],
    agent: Agent,
    out: str | Path,
    *,
    workers: int = 2,
    client: Any = None,
    image: str | None = None,
    retry_failed: bool = False,
    redo: bool = False,
    starts: StartLimits | None = None,
    sandbox_options: dict[str, Any] | None = None,
    on_event: OnBatchEvent = None,
    per_task: Mapping[str, TaskSettings] | None = None,
    remote: Any = None,
) -> AsyncGenerator[dict[str, Any]]:
    """Run every task not already final under ``out``, ``workers`` at a time.

    Yields each finished task's record as it finishes (skipped tasks are not yielded; see
    ``BatchDir.summarize``). The batch's containers (labelled with its id) left by a crashed
    earlier run are removed first, and its own are removed at the end, also when cancelled.
    ``remote`` (a :class:`~sandloop.batch.ray_executor.RayExecutor`) runs each task there.
    ``per_task`` overrides the agent, sandbox options or client of single tasks (by id).
    """
    layout = BatchDir(Path(out))
    starts = starts or StartLimits()
    emit = on_event or (lambda _event: None)
    todo = []
    for task in tasks:
        earlier = layout.final(task.id)
        if not layout.wanted(task.id, retry_failed=retry_failed, redo=redo):
            assert earlier is not None
            emit({"event": "skipped", "id": task.id, "status": earlier["status"]})
            continue
        if redo or earlier is not None:  # run again from the start, not resumed
            layout.reset(task.id)
        todo.append(task)
    await _remove_containers(layout.batch_id, remote)
    send, receive = anyio.create_memory_object_stream[dict[str, Any]](math.inf)
    limiter = anyio.CapacityLimiter(max(1, workers))

    async def one(task: Task) -> None:
        async with limiter:
            emit({"event": "started", "id": task.id})
            own = (per_task or {}).get(task.id, TaskSettings())
            if remote is not None:
                record = await remote.run(
                    {
                        "task": task.to_dict(),
                        "agent": (own.agent or agent).to_dict(),
                        "client": (own.client or ClientSettings()).to_dict(),
                        "out": str(layout.task_dir(task.id)),
                        "batch_id": layout.batch_id,
                        "image": image,
                        "sandbox_options": own.sandbox_options or sandbox_options,
                        "starts": {"concurrent": starts.concurrent, "deadline": starts.deadline},
                    }
                )
                layout.keep(record)
                emit({"event": "finished", **record})
                await send.send(record)
                return
            async with AsyncExitStack() as stack:
                task_client = client
                if own.client is not None:
                    task_client = await stack.enter_async_context(own.client.make_client())
                record = await run_task(
                    task,
                    own.agent or agent,
                    layout.task_dir(task.id),
                    client=task_client,
                    batch_id=layout.batch_id,
                    image=image,
                    sandbox_options=own.sandbox_options or sandbox_options,
                    starts=starts,
                )
            layout.record(record)
            emit({"event": "finished", **record})
            await send.send(record)

    try:
        async with anyio.create_task_group() as group:

            async def all_tasks() -> None:
                async with send, anyio.create_task_group() as inner:
                    for task in todo:
                        inner.start_soon(one, task)

            group.start_soon(all_tasks)
            async with receive:
                async for record in receive:
                    yield record
    finally:
        layout.summarize([t.id for t in tasks])
        await _remove_containers(layout.batch_id, remote)


async def _remove_containers(batch_id: str, remote: Any) -> None:
    """The batch's containers, on this machine's engine and on every live node of a cluster."""
    with anyio.CancelScope(shield=True):
        await remove_batch_containers(batch_id)
        if remote is not None:
            await remote.remove_containers(batch_id)
