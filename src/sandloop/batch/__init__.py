"""Batch runs: one agent over many tasks (repositories), each in its own copy-mode sandbox.

``tasks`` holds the task-file model and its validation; ``repos`` turns a task's repository
(a local directory, or a git URL/path plus a commit) into a directory to copy from.
"""

from __future__ import annotations

from sandloop.batch.ray_executor import RayExecutor
from sandloop.batch.repos import prepare_repo
from sandloop.batch.specs import LocalExecutor, run_batch
from sandloop.batch.tasks import Task, TaskFileError, load_tasks, parse_task

__all__ = (
    "LocalExecutor",
    "RayExecutor",
    "Task",
    "TaskFileError",
    "load_tasks",
    "parse_task",
    "prepare_repo",
    "run_batch",
)
