"""Batches of :class:`~sandloop.RunSpec`: ``run_batch`` and the executors that run them.

A spec becomes a batch task: its sandbox must be a :class:`DockerSandbox` with a workspace (run
in copy mode, so specs can share a repository), its input text is the prompt, its
``labels["id"]`` names the task (else ``task-<n>``), and ``metadata["setup"]`` /
``metadata["test"]`` are the task's setup commands and test.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandloop.batch.ray_executor import RayExecutor
from sandloop.batch.runner import TaskSettings, run_tasks
from sandloop.batch.starts import StartLimits
from sandloop.batch.tasks import Task, parse_task
from sandloop.errors import ConfigError
from sandloop.loop.spec import RunSpec
from sandloop.sandboxes.docker import DockerSandbox

__all__ = ("LocalExecutor", "run_batch", "task_of_spec")


@dataclass(frozen=True)
class LocalExecutor:
    """Runs a batch's tasks in this process, ``workers`` at a time, on this machine's Docker."""

    workers: int = 2
    starts: StartLimits | None = None


def task_of_spec(spec: RunSpec, index: int) -> tuple[Task, TaskSettings]:
    """The batch task ``spec`` describes, and its own settings.

    Raises:
        ConfigError: the spec has no Docker sandbox with a workspace, or its input is not text.
    """
    sandbox = spec.sandbox
    if not isinstance(sandbox, DockerSandbox) or sandbox.workspace is None:
        raise ConfigError(f"spec {index}: a batch spec needs a DockerSandbox with a workspace")
    if not isinstance(spec.input, str):
        raise ConfigError(f"spec {index}: a batch spec's input is the task's prompt text")
    options = {k: v for k, v in sandbox.to_dict().items() if k not in ("kind", "workspace")}
    options.pop("mount", None)
    labels = {**options.pop("labels", {}), **spec.labels}
    line: dict[str, Any] = {
        "id": labels.pop("id", f"task-{index}"),
        "repo": str(sandbox.workspace),
        "prompt": spec.input,
        "labels": labels,
    }
    for key in ("setup", "test"):
        if key in spec.metadata:
            line[key] = spec.metadata[key]
    task = parse_task(line, where=f"spec {index}")
    settings = TaskSettings(agent=spec.agent, sandbox_options=options, client=spec.client)
    return task, settings


async def run_batch(
    specs: Sequence[RunSpec],
    *,
    out: str | Path,
    executor: LocalExecutor | RayExecutor | None = None,
    retry_failed: bool = False,
    redo: bool = False,
) -> AsyncGenerator[dict[str, Any]]:
    """Run ``specs`` as a batch under ``out`` (the ``sandloop batch`` layout), yielding each
    task's record as it finishes; tasks already final under ``out`` are skipped.

    Raises:
        ConfigError: a spec cannot be a batch task, or two specs share an id.
    """
    executor = executor or LocalExecutor()
    tasks: list[Task] = []
    own: dict[str, TaskSettings] = {}
    for index, spec in enumerate(specs):
        task, settings = task_of_spec(spec, index)
        if task.id in own:
            raise ConfigError(f"spec {index}: task id {task.id!r} is used twice")
        tasks.append(task)
        own[task.id] = settings
    if not tasks:
        return
    first = own[tasks[0].id]
    assert first.agent is not None
    runs = run_tasks(
        tasks,
        first.agent,
        out,
        workers=executor.workers,
        retry_failed=retry_failed,
        redo=redo,
        starts=executor.starts,
        per_task=own,
        remote=executor if isinstance(executor, RayExecutor) else None,
    )
    async for record in runs:
        yield record
