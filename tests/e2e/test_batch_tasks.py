"""One batch task end to end: a real copy-mode Docker sandbox per task, the scripted server.

Three tasks share one repository: one the scripted model fixes with apply_patch (solved), one
it leaves alone (unsolved), one whose setup fails (error, the model never asked).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop.batch import parse_task
from sandloop.batch.task_run import BATCH_LABEL, run_task
from sandloop.client import ResponsesClient
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent
from sandloop.testing import ScriptedResponsesServer, apply_patch_call, message, shell_call

BUGGY = "def add(a, b):\n    return a - b\n"
FIX = "@@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
TEST = "python3 -c 'from calc.ops import add; assert add(2, 3) == 5'"


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e.com"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "calc").mkdir(parents=True)
    (root / "calc" / "ops.py").write_text(BUGGY)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "bug")
    return root


def _run(task_line: dict[str, Any], script: list[Any], out: Path, image: str) -> dict[str, Any]:
    agent = Agent(model="m", tools=[ShellTool(), ApplyPatchTool()])

    async def go() -> dict[str, Any]:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            return await run_task(
                parse_task(task_line), agent, out, client=client, batch_id="b-test", image=image
            )

    with ScriptedResponsesServer(script) as server:
        record = anyio.run(go)
        record["_requests"] = len(server.requests)
    return record


def _left(docker_client: Any) -> list[Any]:
    found: list[Any] = docker_client.containers.list(
        all=True, filters={"label": f"{BATCH_LABEL}=b-test"}
    )
    return found


@pytest.mark.docker
def test_three_tasks_share_one_repository(
    repo: Path, tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    fixing = [
        [apply_patch_call("update_file", "calc/ops.py", FIX, call_id="c_fix")],
        [message("Fixed.", phase="final_answer")],
    ]
    solved = _run(
        {"id": "fix", "repo": str(repo), "prompt": "fix add", "test": TEST},
        fixing,
        tmp_path / "out" / "fix",
        base_image,
    )
    idle = [[shell_call("cat calc/ops.py", call_id="c1")], [message("Looks fine.")]]
    unsolved = _run(
        {"id": "idle", "repo": str(repo), "prompt": "look", "test": TEST},
        idle,
        tmp_path / "out" / "idle",
        base_image,
    )
    broken = _run(
        {"id": "broken", "repo": str(repo), "prompt": "p", "setup": ["true", "exit 3"]},
        [],
        tmp_path / "out" / "broken",
        base_image,
    )
    assert (solved["status"], solved["turns"], solved["_requests"]) == ("solved", 2, 2)
    assert (unsolved["status"], unsolved["turns"]) == ("unsolved", 2)
    assert broken["status"] == "error"
    assert "setup command 'exit 3' exited 3" in broken["reason"]
    assert broken["_requests"] == 0
    out = tmp_path / "out"
    assert "+    return a + b" in (out / "fix" / "changes.patch").read_text()
    assert (out / "idle" / "changes.patch").read_text() == ""
    assert "[exit 0]" in (out / "fix" / "test.txt").read_text()
    assert "AssertionError" in (out / "idle" / "test.txt").read_text()
    assert "[exit 3]" in (out / "broken" / "setup.txt").read_text()
    assert (out / "fix" / "journal.jsonl").stat().st_size > 0
    for name in ("fix", "idle", "broken"):
        stored = json.loads((out / name / "result.json").read_text())
        assert stored["status"] in ("solved", "unsolved", "error")
    for name in ("fix", "idle"):  # the scripted model "m" has no price: unknown, never $0
        assert json.loads((out / name / "result.json").read_text())["cost"] is None
    assert json.loads((out / "broken" / "result.json").read_text())["cost"] == 0  # never asked
    assert (repo / "calc" / "ops.py").read_text() == BUGGY  # copy mode: the host tree untouched
    assert _left(docker_client) == []


@pytest.mark.docker
def test_a_git_task_is_cloned_at_its_commit(
    repo: Path, tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    first = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    (repo / "calc" / "ops.py").write_text("broken later\n")
    _git(repo, "commit", "-qam", "later")
    record = _run(
        {
            "id": "g",
            "repo": str(repo),
            "commit": first,
            "prompt": "p",
            "test": "grep -q 'a - b' calc/ops.py",
        },
        [[message("done")]],
        tmp_path / "out" / "g",
        base_image,
    )
    assert record["status"] == "solved", record
    assert _left(docker_client) == []


@pytest.mark.docker
def test_a_start_that_keeps_failing_is_an_error_with_its_reason(
    repo: Path, tmp_path: Path, docker_client: Any
) -> None:
    record = _run(
        {"id": "noimg", "repo": str(repo), "prompt": "p", "image": "sandloop/absent:never"},
        [],
        tmp_path / "out" / "noimg",
        "unused",
    )
    assert record["status"] == "error"
    assert "sandbox start failed after 2 attempt(s)" in record["reason"]
    assert _left(docker_client) == []


@pytest.mark.docker
def test_a_crashed_runs_containers_are_removed_when_the_batch_starts(
    repo: Path, tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    from sandloop.batch.layout import BatchDir
    from sandloop.batch.runner import run_tasks

    layout = BatchDir(tmp_path / "out")
    stale = docker_client.containers.create(
        base_image, ["sleep", "600"], labels={BATCH_LABEL: layout.batch_id}
    )
    agent = Agent(model="m", tools=[ShellTool()])
    task = parse_task({"id": "t", "repo": str(repo), "prompt": "p"})

    async def go() -> list[dict[str, Any]]:
        async with ResponsesClient(base_url=server.base_url, max_retries=0) as client:
            runs = run_tasks([task], agent, layout.root, client=client, image=base_image)
            return [record async for record in runs]

    with ScriptedResponsesServer([[message("ok")]]) as server:
        records = anyio.run(go)
    assert [r["status"] for r in records] == ["solved"]
    ids = [c.id for c in docker_client.containers.list(all=True)]
    assert stale.id not in ids
