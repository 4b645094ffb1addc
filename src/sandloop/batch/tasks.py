"""The task file: one JSON object per line, each a :class:`Task`.

A line names its ``id``, its ``repo`` (a local directory, or a git URL/path with ``commit``),
its ``prompt``, and optionally ``image``, ``setup`` and ``test`` commands, ``timeout``,
``max_turns``, ``token_budget``, ``cost_budget`` and ``labels``. Every problem is a
:class:`TaskFileError` naming the file and line; nothing in a line is trusted before it is checked.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandloop.errors import ConfigError

__all__ = ("MAX_LINE_BYTES", "Task", "TaskFileError", "load_tasks", "parse_task")

#: Longest task line accepted (a prompt is text, not a data set).
MAX_LINE_BYTES = 1 << 20

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_FIELDS = {
    "id",
    "repo",
    "commit",
    "prompt",
    "image",
    "setup",
    "test",
    "timeout",
    "max_turns",
    "token_budget",
    "cost_budget",
    "labels",
}


class TaskFileError(ConfigError):
    """A task file, or one of its lines, is not valid; the message names the line."""


@dataclass(frozen=True)
class Task:
    """One task of a batch.

    ``id`` names the task's output directory, so it is restricted to letters, digits, ``.``,
    ``_`` and ``-`` (no path separators, not starting with a dot). ``setup`` commands run in the
    sandbox before the agent, ``test`` after it: its exit code says solved (0) or unsolved.
    ``cost_budget`` (dollars) stops the agent once its cost passes it (status ``budget``).
    """

    id: str
    repo: str
    prompt: str
    commit: str | None = None
    image: str | None = None
    setup: tuple[str, ...] = ()
    test: str | None = None
    timeout: float | None = None
    max_turns: int | None = None
    token_budget: int | None = None
    cost_budget: float | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def is_git(self) -> bool:
        """Whether the repository is cloned (a ``commit`` was given) rather than copied."""
        return self.commit is not None

    def to_dict(self) -> dict[str, Any]:
        """The task as one task-file line's object (``None`` and empty fields left out)."""
        data: dict[str, Any] = {"id": self.id, "repo": self.repo, "prompt": self.prompt}
        for name in ("commit", "image", "test", "timeout", "max_turns"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        for name in ("token_budget", "cost_budget"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.setup:
            data["setup"] = list(self.setup)
        if self.labels:
            data["labels"] = dict(self.labels)
        return data


def load_tasks(path: str | os.PathLike[str]) -> list[Task]:
    """Every task of a task file, in order; blank lines and ``#`` comment lines are skipped.

    Relative local ``repo`` paths are taken relative to the task file's directory.

    Raises:
        TaskFileError: The file cannot be read, a line is invalid, or two tasks share an id.
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise TaskFileError(f"cannot read task file {str(file)!r}: {exc.strerror}") from None
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(raw.split(b"\n"), start=1):
        where = f"{file}:{number}"
        if len(line) > MAX_LINE_BYTES:
            raise TaskFileError(f"{where}: line longer than {MAX_LINE_BYTES} bytes")
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise TaskFileError(f"{where}: not UTF-8") from None
        if not text or text.startswith("#"):
            continue
        task = parse_task(text, where=where, base=file.parent)
        if task.id in seen:
            raise TaskFileError(f"{where}: id {task.id!r} already used on line {seen[task.id]}")
        seen[task.id] = number
        tasks.append(task)
    if not tasks:
        raise TaskFileError(f"task file {str(file)!r} holds no task")
    return tasks


def parse_task(
    line: str | dict[str, Any], *, where: str = "task", base: Path | None = None
) -> Task:
    """One task from a JSON line (or an already-decoded object).

    Raises:
        TaskFileError: Named with ``where``: not JSON, not an object, an unknown field, a
            missing or mistyped field.
    """
    if isinstance(line, str):
        try:
            data = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise TaskFileError(f"{where}: not valid JSON ({exc})") from None
    else:
        data = line
    if not isinstance(data, dict):
        raise TaskFileError(f"{where}: a task is a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise TaskFileError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
    return _Checker(where, data).task(base)


class _Checker:
    def __init__(self, where: str, data: dict[str, Any]) -> None:
        self.where, self.data = where, data

    def fail(self, message: str) -> TaskFileError:
        return TaskFileError(f"{self.where}: {message}")

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.fail(f"missing required field {name!r}")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{name!r} must be a non-empty string")
        if "\x00" in value:
            raise self.fail(f"{name!r} must not contain NUL")
        return value

    def number(self, name: str, *, integer: bool) -> Any:
        value: Any = self.data.get(name)
        if value is None:
            return None
        ok = isinstance(value, int) or (not integer and isinstance(value, float))
        if isinstance(value, bool) or not ok or not value > 0:
            kind = "a positive integer" if integer else "a positive number"
            raise self.fail(f"{name!r} must be {kind}, not {value!r}")
        if not math.isfinite(value):
            raise self.fail(f"{name!r} must be finite")
        return value

    def setup(self) -> tuple[str, ...]:
        value = self.data.get("setup")
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(c, str) and c.strip() for c in value):
            raise self.fail("'setup' must be a command string or a list of command strings")
        return tuple(value)

    def labels(self) -> dict[str, str]:
        value = self.data.get("labels")
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise self.fail("'labels' must be an object of string values")
        return dict(value)

    def task(self, base: Path | None) -> Task:
        task_id = self.text("id", required=True)
        assert task_id is not None
        if not _ID.fullmatch(task_id):
            raise self.fail(
                f"id {task_id!r} must be 1-128 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        repo = self.text("repo", required=True)
        prompt = self.text("prompt", required=True)
        assert repo is not None
        assert prompt is not None
        commit = self.text("commit")
        if commit is not None and not re.fullmatch(r"[0-9A-Za-z._/-]{1,200}", commit):
            raise self.fail(f"'commit' {commit!r} is not a commit or ref name")
        if commit is not None and commit.startswith("-"):
            raise self.fail(f"'commit' {commit!r} must not start with '-'")
        if commit is None:
            repo = self._local(repo, base)
        elif repo.startswith("-"):
            raise self.fail(f"'repo' {repo!r} must not start with '-'")
        return Task(
            id=task_id,
            repo=repo,
            prompt=prompt,
            commit=commit,
            image=self.text("image"),
            setup=self.setup(),
            test=self.text("test"),
            timeout=self.number("timeout", integer=False),
            max_turns=self.number("max_turns", integer=True),
            token_budget=self.number("token_budget", integer=True),
            cost_budget=self.number("cost_budget", integer=False),
            labels=self.labels(),
        )

    def _local(self, repo: str, base: Path | None) -> str:
        path = Path(repo).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_dir():
            raise self.fail(
                f"'repo' {repo!r} is not a directory (give 'commit' to clone a git repository)"
            )
        return str(path.resolve())
