"""A batch's output directory: what is already final, and where each task writes.

``DIR/tasks/<id>/`` per task (``result.json`` last and atomic), ``DIR/results.jsonl`` one line
per finished task, ``DIR/summary.json`` the totals, rewritten atomically after every task.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandloop.batch.files import read_result, write_json_atomic
from sandloop.batch.task_run import FINAL_STATUSES

__all__ = ("RETRYABLE", "BatchDir")

#: Statuses ``--retry-failed`` runs again.
RETRYABLE = ("failed", "error")


@dataclass
class BatchDir:
    """The output directory ``root`` of one batch."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser().resolve()

    @property
    def batch_id(self) -> str:
        """A stable id for this directory: every container of its batch carries it as a label."""
        return hashlib.sha256(str(self.root).encode()).hexdigest()[:16]

    def task_dir(self, task_id: str) -> Path:
        """Where the task ``task_id`` writes its outputs."""
        return self.root / "tasks" / task_id

    def final(self, task_id: str) -> dict[str, Any] | None:
        """The task's complete final result, or ``None`` (missing, half-written, not final)."""
        record = read_result(self.task_dir(task_id) / "result.json")
        if record is None or record.get("status") not in FINAL_STATUSES:
            return None
        return record

    def wanted(self, task_id: str, *, retry_failed: bool, redo: bool) -> bool:
        """Whether the task runs now (else its earlier final result stands)."""
        if redo:
            return True
        record = self.final(task_id)
        if record is None:
            return True
        return retry_failed and record["status"] in RETRYABLE

    def reset(self, task_id: str) -> None:
        """Forget the task's earlier attempts (``--redo``, ``--retry-failed``): its directory goes,
        so the next attempt starts over instead of resuming."""
        shutil.rmtree(self.task_dir(task_id), ignore_errors=True)

    def keep(self, record: dict[str, Any]) -> None:
        """Store a finished task's record as the driver received it: its ``result.json`` (the
        same file a task on this machine or a shared directory wrote; the driver's own copy
        when the task ran on a node that writes elsewhere) and its line in ``results.jsonl``."""
        write_json_atomic(self.task_dir(str(record["id"])) / "result.json", record)
        self.record(record)

    def record(self, record: dict[str, Any]) -> None:
        """Append a finished task's line to ``results.jsonl``."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "results.jsonl").open("a", encoding="utf-8") as file:
            file.write(json.dumps(record, sort_keys=True) + "\n")

    def summarize(self, task_ids: list[str]) -> dict[str, Any]:
        """Totals over the final results of ``task_ids``; written to ``summary.json``."""
        records = [self.final(t) for t in task_ids]
        done = [r for r in records if r is not None]
        counts = Counter(r["status"] for r in done)
        costs: list[Any] = [r.get("cost") for r in done]
        summary = {
            "tasks": len(task_ids),
            "finished": len(done),
            "unfinished": len(task_ids) - len(done),
            "statuses": {s: counts.get(s, 0) for s in FINAL_STATUSES},
            "turns": sum(int(r.get("turns") or 0) for r in done),
            "tokens": sum(int(r.get("tokens") or 0) for r in done),
            "cost": None if any(c is None for c in costs) else float(sum(costs)),
            "wall_time": round(sum(float(r.get("wall_time") or 0) for r in done), 3),
        }
        write_json_atomic(self.root / "summary.json", summary)
        return summary


def exit_code(summary: dict[str, Any]) -> int:
    """0 only when every task reached a final result and at least one was solved; else 1."""
    return 0 if summary["unfinished"] == 0 and summary["statuses"]["solved"] > 0 else 1
