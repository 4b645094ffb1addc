"""The task file: every bad line is a TaskFileError naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandloop.batch import Task, TaskFileError, load_tasks, parse_task
from sandloop.batch.files import read_result, write_json_atomic


def _file(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_a_valid_file_loads_with_relative_repos_resolved(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    path = _file(
        tmp_path,
        "# a comment",
        {"id": "a", "repo": "r", "prompt": "fix it", "setup": "pip install x", "test": "pytest"},
        "",
        {
            "id": "b-2",
            "repo": "https://example.invalid/x.git",
            "commit": "abc123",
            "prompt": "p",
            "max_turns": 5,
            "timeout": 1.5,
            "token_budget": 100,
            "cost_budget": 0.5,
            "labels": {"k": "v"},
        },
    )
    a, b = load_tasks(path)
    assert a == Task(
        id="a",
        repo=str((tmp_path / "r").resolve()),
        prompt="fix it",
        setup=("pip install x",),
        test="pytest",
    )
    assert not a.is_git
    assert b.is_git
    assert (b.commit, b.max_turns, b.timeout, b.token_budget, b.cost_budget) == (
        "abc123",
        5,
        1.5,
        100,
        0.5,
    )
    assert parse_task(b.to_dict()) == b


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "a task is a JSON object"),
        ({"id": "a", "prompt": "p"}, "missing required field 'repo'"),
        ({"repo": ".", "prompt": "p"}, "missing required field 'id'"),
        ({"id": "a", "repo": ".", "prompt": ""}, "'prompt' must be a non-empty string"),
        ({"id": "../up", "repo": ".", "prompt": "p"}, "id '../up' must be"),
        ({"id": ".hidden", "repo": ".", "prompt": "p"}, "id '.hidden' must be"),
        ({"id": "a", "repo": ".", "prompt": "p", "extra": 1}, "unknown field(s) 'extra'"),
        ({"id": "a", "repo": "nope", "prompt": "p"}, "'repo' 'nope' is not a directory"),
        ({"id": "a", "repo": ".", "prompt": "p", "max_turns": 0}, "positive integer"),
        ({"id": "a", "repo": ".", "prompt": "p", "max_turns": True}, "positive integer"),
        ({"id": "a", "repo": ".", "prompt": "p", "timeout": "9"}, "positive number"),
        ({"id": "a", "repo": ".", "prompt": "p", "setup": [1]}, "'setup' must be"),
        ({"id": "a", "repo": ".", "prompt": "p", "labels": {"k": 1}}, "'labels' must be"),
        ({"id": "a", "repo": "x", "commit": "--upload-pack=sh", "prompt": "p"}, "'commit'"),
        ({"id": "a", "repo": "--upload-pack=sh", "commit": "c", "prompt": "p"}, "'repo'"),
    ],
)
def test_a_bad_line_names_its_line(tmp_path: Path, line: object, message: str) -> None:
    path = _file(tmp_path, {"id": "ok", "repo": ".", "prompt": "p"}, line)
    with pytest.raises(TaskFileError) as caught:
        load_tasks(path)
    assert f"{path}:2: " in str(caught.value)
    assert message in str(caught.value)


def test_duplicate_ids_and_empty_files_are_refused(tmp_path: Path) -> None:
    task = {"id": "a", "repo": ".", "prompt": "p"}
    with pytest.raises(TaskFileError, match=r":2: id 'a' already used on line 1"):
        load_tasks(_file(tmp_path, task, task))
    with pytest.raises(TaskFileError, match="holds no task"):
        load_tasks(_file(tmp_path, "# nothing"))
    with pytest.raises(TaskFileError, match="cannot read"):
        load_tasks(tmp_path / "missing.jsonl")


def test_a_half_written_result_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "t" / "result.json"
    path.parent.mkdir()
    path.write_text('{"status": "solv')
    assert read_result(path) is None
    write_json_atomic(path, {"id": "t", "status": "solved"})
    assert read_result(path) == {"id": "t", "status": "solved"}
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]  # no temp file left
