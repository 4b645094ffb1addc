"""Removing a batch's containers by label: all of a batch's (its own at the end, a crashed earlier
run's at the start) or one task's (a dead attempt's, before the task runs again)."""

from __future__ import annotations

import anyio

from sandloop.sandboxes.docker import connect, remove_labelled

__all__ = ("BATCH_LABEL", "TASK_LABEL", "remove_batch_containers")

#: Label every container of a batch carries, valued with the batch id.
BATCH_LABEL = "sandloop.batch"
#: Label every container of a batch task carries, valued with the task id.
TASK_LABEL = "sandloop.task"


async def remove_batch_containers(batch_id: str, task_id: str | None = None) -> int:
    """Force-remove every container labelled with ``batch_id`` (and ``task_id``, when given) on
    this machine's engine; return how many were found."""
    labels = [f"{BATCH_LABEL}={batch_id}"]
    if task_id is not None:
        labels.append(f"{TASK_LABEL}={task_id}")

    def work() -> int:
        client = connect()
        try:
            return remove_labelled(client, labels)
        finally:
            client.close()

    with anyio.CancelScope(shield=True):
        removed = await anyio.to_thread.run_sync(work)
    return removed
