"""Starting a task's sandbox under load: capped, with a deadline, retried once.

Hundreds of tasks starting containers at once overwhelm an engine; :class:`StartLimits` caps how
many starts run together (a semaphore shared by the batch), gives each start its own deadline
(distinct from any command's timeout), and retries a failed start once with a fresh container.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio

from sandloop.batch.tasks import Task
from sandloop.errors import SandboxError, SandloopError
from sandloop.sandboxes.docker import DockerSandbox

__all__ = ("StartError", "StartLimits", "start_sandbox")


class StartError(SandboxError):
    """A task's sandbox could not be started, even after a retry."""


@dataclass
class StartLimits:
    """How a batch starts containers.

    Attributes:
        concurrent: Container starts allowed at once across the batch.
        deadline: Seconds one start (create, copy-in, runner handshake) may take.
        attempts: Starts tried before the task is an ``error``.
    """

    concurrent: int = 4
    deadline: float = 120.0
    attempts: int = 2
    _gate: anyio.Semaphore | None = field(default=None, init=False, repr=False)

    def gate(self) -> anyio.Semaphore:
        """The batch's start semaphore (made in the running event loop on first use)."""
        if self._gate is None:
            self._gate = anyio.Semaphore(max(1, self.concurrent))
        return self._gate


async def start_sandbox(task: Task, options: dict[str, Any], limits: StartLimits) -> DockerSandbox:
    """A started copy-mode sandbox for ``task``.

    Raises:
        StartError: Every attempt failed or passed its deadline; names the last reason.
    """
    reason = "no attempt made"
    for _ in range(max(1, limits.attempts)):
        sandbox = DockerSandbox(**options)
        try:
            async with limits.gate():
                with anyio.fail_after(limits.deadline):
                    await sandbox.start()
            return sandbox
        except TimeoutError:
            await sandbox.aclose()
            reason = f"start passed its {limits.deadline:g}s deadline"
        except SandloopError as exc:
            await sandbox.aclose()
            reason = f"{type(exc).__name__}: {exc}"
    raise StartError(
        f"task {task.id!r}: sandbox start failed after {limits.attempts} attempt(s): {reason}"
    )
