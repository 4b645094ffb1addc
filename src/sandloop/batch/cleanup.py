"""Removing a batch's containers by their batch label (its own, or a crashed earlier run's)."""

from __future__ import annotations

import anyio

from sandloop.batch.task_run import BATCH_LABEL
from sandloop.sandboxes.docker import connect

__all__ = ("remove_batch_containers",)


async def remove_batch_containers(batch_id: str) -> int:
    """Force-remove every container labelled with ``batch_id``; return how many were removed."""

    def work() -> int:
        docker = connect()
        try:
            found = docker.containers.list(all=True, filters={"label": f"{BATCH_LABEL}={batch_id}"})
            for container in found:
                try:
                    container.remove(force=True)
                except docker.errors.DockerException:  # already gone, or refused: the next one
                    continue
            return len(found)
        finally:
            docker.close()

    with anyio.CancelScope(shield=True):
        removed = await anyio.to_thread.run_sync(work)
    return removed
