"""Reading a batch's output directory: one row per task, and each task's run.

Part of ``view``, at its start (like :mod:`.run_source` for one run). A ``sandloop batch`` output
directory holds ``tasks/<id>/`` per task (``result.json`` once it finished, ``journal.jsonl``
from its first model call on), ``results.jsonl`` and ``summary.json``. A task with a journal and
no result is still running; the summary's task count tells how many have not started.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandloop.view.records import BatchView, RunView, TaskRow
from sandloop.view.run_source import load_run

__all__ = ("is_batch", "load_batch", "task_run")

#: Statuses of a finished task (as :mod:`sandloop.batch.task_run` writes them).
_FINAL = ("solved", "unsolved", "failed", "error", "timeout", "budget")


def is_batch(path: Path) -> bool:
    """Whether ``path`` is a batch output directory."""
    return path.is_dir() and ((path / "tasks").is_dir() or (path / "summary.json").is_file())


def load_batch(path: Path) -> BatchView:
    """Every task of the batch in ``path``, in task-id order."""
    view = BatchView(path)
    tasks = path / "tasks"
    folders = (
        sorted(p for p in tasks.iterdir() if p.is_dir() and not p.is_symlink())
        if (tasks.is_dir())
        else []
    )
    for folder in folders:
        view.rows.append(_row(folder))
    summary = _json(path / "summary.json") or {}
    total = summary.get("tasks")
    view.live = any(r.status in ("running", "started") for r in view.rows) or (
        isinstance(total, int) and total > sum(r.status in _FINAL for r in view.rows)
    )
    if isinstance(total, int) and total > len(view.rows):
        view.rows.extend(
            TaskRow(f"(not started {n})", "pending") for n in range(total - len(view.rows))
        )
    return view


def _row(folder: Path) -> TaskRow:
    record = _json(folder / "result.json")
    row = TaskRow(folder.name, "running" if (folder / "journal.jsonl").is_file() else "started")
    if record is None or not isinstance(record.get("status"), str):
        return row
    row.status = str(record["status"])
    row.solved = row.status == "solved"
    row.turns = _int(record.get("turns"))
    row.tokens = _int(record.get("tokens"))
    cost = record.get("cost")
    row.cost = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None
    wall = record.get("wall_time")
    row.wall_time = float(wall) if isinstance(wall, int | float) else None
    reason = record.get("reason")
    row.reason = reason if isinstance(reason, str) else None
    return row


def task_run(folder: Path, row: TaskRow) -> RunView:
    """The run of one task, with the batch's verdict on it (status, reason, time, cost)."""
    if (folder / "journal.jsonl").is_file():
        view = load_run(folder)
    else:  # it stopped before its first model call (a failed setup, for one)
        view = RunView(folder, "task", run_id=row.task_id, live=row.status == "started")
        for name in ("setup.txt", "test.txt"):
            file = folder / name
            if file.is_file() and not file.is_symlink():
                view.extra.append((name, file.read_text("utf-8", "replace")))
    if row.status in _FINAL:
        view.live = False
        view.status = row.status
        view.error = row.reason if not row.solved else view.error
        view.wall_time = row.wall_time
    view.run_id = f"{row.task_id} ({view.run_id})" if view.run_id else row.task_id
    return view


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
