"""Running batch tasks on a Ray cluster: each task travels as JSON to a Ray task that runs it on
its node's own Docker engine and sends the record back.

Ray is optional (``pip install 'sandloop[ray]'``). A Ray worker that dies mid-task (its process
killed, its node lost) is retried once by Ray (``max_retries=1``), on whichever node has room;
when the output directory is shared (the same path on every node), the retry finds the dead
attempt's journal and resumes from it, otherwise it starts over. A second death makes the task
an ``error``. Containers are removed by label on every live node, at the start and the end of
the batch, and a retry first removes the dead attempt's container on its node. The records
always come back to the driver, which writes ``results.jsonl``, ``summary.json`` and its own
copy of each task's ``result.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from sandloop.batch.starts import StartLimits
from sandloop.errors import ConfigError

__all__ = ("RayExecutor", "require_ray")

INSTALL_HINT = "the ray executor needs Ray: pip install 'sandloop[ray]'"
#: Seconds the per-node container clean-up may take before the batch goes on without it.
CLEANUP_DEADLINE = 60.0


def require_ray() -> Any:
    """The ``ray`` module, or a ``ConfigError`` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray


@dataclass
class RayExecutor:
    """Runs each task as a Ray task, on the node Ray picks, against that node's Docker engine.

    Attributes:
        address: ``None`` starts a local Ray for this process; ``"auto"`` joins the cluster
            this machine belongs to; ``"host:port"`` a cluster's GCS; ``"ray://host:10001"``
            connects through the Ray client.
        workers: Tasks in flight at once.
        resources_per_task: Ray resources each task asks for (default ``{"num_cpus": 1}``).
        starts: Container start limits each task applies on its node.
        init_options: More keyword arguments for ``ray.init`` (e.g. ``runtime_env``).
    """

    address: str | None = None
    workers: int = 2
    resources_per_task: dict[str, Any] = field(default_factory=lambda: {"num_cpus": 1})
    starts: StartLimits | None = None
    init_options: dict[str, Any] = field(default_factory=dict)

    def connect(self) -> Any:
        """Initialise Ray in this process (once) and return the module."""
        ray = require_ray()
        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": False, **self.init_options}
            ray.init(address=self.address, **options)
        return ray

    async def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one task description on the cluster; its record, or an ``error`` record.

        Cancelled (Ctrl-C of the driver), the Ray task is cancelled with its worker killed, so
        nothing goes on running; its container is then removed by label.
        """
        ray = self.connect()
        ref = _remote_task(ray).options(**self.resources_per_task).remote(job)
        try:
            record: dict[str, Any] = await ref
        except Exception as exc:  # the worker died twice, or the task could not be shipped
            record = _error_record(job, f"ray: {type(exc).__name__}: {str(exc)[:500]}")
        except BaseException:  # cancelled: stop the worker too
            ray.cancel(ref, force=True)
            raise
        return record

    async def remove_containers(self, batch_id: str) -> int:
        """Remove the batch's containers on every live node (a Ray task pinned to each);
        return how many were found. A node that does not answer in time is skipped."""
        ray = self.connect()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        cleaner = _remote_cleaner(ray)
        refs = [
            cleaner.options(
                num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
            ).remote(batch_id)
            for node in ray.nodes()
            if node.get("Alive")
        ]

        def wait() -> int:
            done, _pending = ray.wait(refs, num_returns=len(refs), timeout=CLEANUP_DEADLINE)
            found = 0
            for ref in done:
                try:
                    found += int(ray.get(ref))
                except Exception:  # that node's engine is unreachable: its next batch cleans up
                    continue
            return found

        with anyio.CancelScope(shield=True):
            found = await anyio.to_thread.run_sync(wait)
        return found


def _error_record(job: dict[str, Any], reason: str) -> dict[str, Any]:
    task = job["task"]
    return {
        "id": task["id"],
        "status": "error",
        "reason": reason,
        "turns": 0,
        "tokens": 0,
        "cost": None,
        "cost_budget": task.get("cost_budget"),
        "labels": dict(task.get("labels") or {}),
        "wall_time": 0.0,
    }


_remotes: dict[str, Any] = {}


def _remote_task(ray: Any) -> Any:
    if "task" not in _remotes:
        _remotes["task"] = ray.remote(max_retries=1, retry_exceptions=False)(_run_job)
    return _remotes["task"]


def _remote_cleaner(ray: Any) -> Any:
    if "cleaner" not in _remotes:
        _remotes["cleaner"] = ray.remote(max_retries=0)(_remove_on_node)
    return _remotes["cleaner"]


def _remove_on_node(batch_id: str) -> int:
    """On one node: remove the batch's containers from its engine."""
    from sandloop.batch.cleanup import remove_batch_containers

    return anyio.run(remove_batch_containers, batch_id)


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    """On a Ray worker: rebuild the task and run it against this node's Docker engine."""
    import ray

    from sandloop.batch.task_run import run_task
    from sandloop.batch.tasks import parse_task
    from sandloop.client import ClientSettings
    from sandloop.loop.agent import Agent

    task = parse_task(job["task"], where=f"task {job['task'].get('id')!r}")
    agent = Agent.from_dict(job["agent"])
    settings = ClientSettings.from_dict(job["client"])

    async def go() -> dict[str, Any]:
        async with settings.make_client() as client:
            return await run_task(
                task,
                agent,
                Path(job["out"]),
                client=client,
                batch_id=job["batch_id"],
                image=job.get("image"),
                sandbox_options=job.get("sandbox_options"),
                starts=StartLimits(**job.get("starts", {})),
                node=ray.get_runtime_context().get_node_id(),
            )

    return anyio.run(go)
