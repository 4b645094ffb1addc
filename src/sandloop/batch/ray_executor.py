"""Running batch tasks on a Ray cluster: each task travels as JSON to a Ray task that runs it on
its node's own Docker engine and sends the record back.

Ray is optional (``pip install 'sandloop[ray]'``). NOT YET TESTED on a cluster: a local
two-node ``ray.cluster_utils.Cluster`` test hung connecting to the GCS (it advertised
192.0.2.2, not 127.0.0.1). A Ray worker that dies mid-task is retried once by Ray
(``max_retries=1``); after that the task is an ``error``. The output directory must
be reachable from every node at the same path for the per-task files to land there; the
records always come back to the driver, which writes ``results.jsonl`` and ``summary.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandloop.errors import ConfigError

__all__ = ("RayExecutor", "require_ray")

INSTALL_HINT = "the ray executor needs Ray: pip install 'sandloop[ray]'"


def require_ray() -> Any:
    """The ``ray`` module, or a ``ConfigError`` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray


@dataclass
class RayExecutor:
    """Runs each task as a Ray task.

    Attributes:
        address: ``None`` starts a local Ray; ``"auto"`` joins the running cluster;
            ``"ray://host:10001"`` connects a Ray client.
        workers: Tasks in flight at once.
        resources_per_task: Ray resources each task asks for (default ``{"num_cpus": 1}``).
    """

    address: str | None = None
    workers: int = 2
    resources_per_task: dict[str, Any] = field(default_factory=lambda: {"num_cpus": 1})
    starts: Any = None

    def connect(self) -> Any:
        """Initialise Ray (once) and return the module."""
        ray = require_ray()
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        return ray

    async def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one task description on the cluster; its record, or an ``error`` record."""
        ray = self.connect()
        remote = ray.remote(max_retries=1, retry_exceptions=False)(_run_job)
        ref = remote.options(**self.resources_per_task).remote(job)
        try:
            record: dict[str, Any] = await ref
        except Exception as exc:
            return {
                "id": job["task"]["id"],
                "status": "error",
                "reason": f"ray: {type(exc).__name__}: {str(exc)[:500]}",
                "turns": 0,
                "tokens": 0,
                "cost": None,
            }
        return record


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    """On a Ray worker: rebuild the task and run it against this node's Docker engine."""
    import anyio

    from sandloop.batch.starts import StartLimits
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
            )

    return anyio.run(go)
