"""Removing a batch's containers by their batch label (its own, or a crashed earlier run's)."""

from __future__ import annotations

import anyio

from sandloop.batch.task_run import BATCH_LABEL
from sandloop.sandboxes.docker import connect, remove_labelled

__all__ = ("remove_batch_containers",)


async def remove_batch_containers(batch_id: str) -> int:
    """Force-remove every container labelled with ``batch_id``; return how many were removed."""

    def work() -> int:
        client = connect()
        try:
            return remove_labelled(client, f"{BATCH_LABEL}={batch_id}")
        finally:
            client.close()

    with anyio.CancelScope(shield=True):
        removed = await anyio.to_thread.run_sync(work)
    return removed
