"""``sandloop batch`` as a subprocess: real copy-mode Docker sandboxes, the scripted server.

One worker, so the tasks ask the server in task-file order and one script serves the batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandloop.batch.task_run import BATCH_LABEL
from sandloop.testing import (
    ScriptedResponsesServer,
    ScriptedServerError,
    Turn,
    apply_patch_call,
    message,
    shell_call,
)

pytestmark = pytest.mark.docker

BUGGY = "def add(a, b):\n    return a - b\n"
FIX = "@@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
TEST = "python3 -c 'from calc.ops import add; assert add(2, 3) == 5'"
MAIN = "import sys; from sandloop.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "calc").mkdir(parents=True)
    (root / "calc" / "ops.py").write_text(BUGGY)
    return root


def _tasks(tmp_path: Path, repo: Path, *lines: dict[str, Any]) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps({"repo": str(repo), **line}) + "\n" for line in lines))
    return path


def _batch(tasks: Path, out: Path, url: str, image: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    command = [sys.executable, "-c", MAIN, "batch", str(tasks), "--out", str(out)]
    command += ["--base-url", url, "--model", "m", "--image", image, "--workers", "1", *extra]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _left(docker_client: Any, out: Path) -> list[Any]:
    batch_id = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    found: list[Any] = docker_client.containers.list(
        all=True, filters={"label": f"{BATCH_LABEL}={batch_id}"}
    )
    return found


def _fixing(first: bool = True) -> list[Any]:
    return [
        Turn([apply_patch_call("update_file", "calc/ops.py", FIX)], new_conversation=first),
        [message("Fixed.", phase="final_answer")],
    ]


def _idle() -> list[Any]:
    return [Turn([message("Nothing to do.")], new_conversation=True)]


def test_a_batch_runs_then_resumes_skipping_finished_tasks(
    repo: Path, tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    tasks = _tasks(
        tmp_path,
        repo,
        {"id": "fix", "prompt": "fix add", "test": TEST},
        {"id": "idle", "prompt": "look", "test": TEST},
        {"id": "broken", "prompt": "p", "setup": "exit 4"},
    )
    out = tmp_path / "out"
    with ScriptedResponsesServer([*_fixing(), *_idle()]) as server:
        done = _batch(tasks, out, server.base_url, base_image)
        stdout, stderr = done.communicate(timeout=300)
        assert len(server.requests) == 3
    assert done.returncode == 0, stderr  # every task final, one solved
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert {r["id"]: r["status"] for r in lines} == {
        "fix": "solved",
        "idle": "unsolved",
        "broken": "error",
    }
    summary = json.loads((out / "summary.json").read_text())
    assert summary["statuses"]["solved"] == 1
    assert summary["unfinished"] == 0
    assert "fix" in stdout
    assert "solved" in stdout
    assert "+    return a + b" in (out / "tasks" / "fix" / "changes.patch").read_text()
    assert _left(docker_client, out) == []

    # The same command again: every task is final, the model is never asked.
    with ScriptedResponsesServer([]) as server:
        again = _batch(tasks, out, server.base_url, base_image, "--json")
        stdout, stderr = again.communicate(timeout=300)
        assert server.requests == []
    assert again.returncode == 0, stderr
    events = [json.loads(x) for x in stdout.splitlines()]
    assert [e["event"] for e in events] == ["skipped", "skipped", "skipped", "summary"]

    # A half-written result.json is not trusted: that task runs again; --retry-failed adds
    # the error task (its setup still fails, so the model is asked only for "fix").
    (out / "tasks" / "fix" / "result.json").write_text('{"status": "sol')
    with ScriptedResponsesServer(_fixing()) as server:
        third = _batch(tasks, out, server.base_url, base_image, "--json", "--retry-failed")
        stdout, stderr = third.communicate(timeout=300)
        assert len(server.requests) == 2
    events = [json.loads(x) for x in stdout.splitlines()]
    ran = {e["id"] for e in events if e["event"] == "finished"}
    assert ran == {"fix", "broken"}
    assert third.returncode == 0, stderr


def test_all_unsolved_exits_1_and_an_interrupt_exits_130_leaving_no_container(
    repo: Path, tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    tasks = _tasks(tmp_path, repo, {"id": "idle", "prompt": "look", "test": TEST})
    with ScriptedResponsesServer(_idle()) as server:
        done = _batch(tasks, tmp_path / "o1", server.base_url, base_image)
        _, stderr = done.communicate(timeout=300)
    assert done.returncode == 1, stderr  # final, but nothing solved

    slow = _tasks(tmp_path, repo, {"id": "slow", "prompt": "wait"}, {"id": "next", "prompt": "p"})
    out = tmp_path / "o2"
    script = [Turn([shell_call("sleep 120", call_id="c_sleep")], new_conversation=True)]
    try:
        with ScriptedResponsesServer([*script, [message("done")]]) as server:
            proc = _batch(slow, out, server.base_url, base_image, "--json")
            for _ in range(600):  # until the sleep runs in the task's container
                if server.requests and _left(docker_client, out):
                    break
                time.sleep(0.1)
            time.sleep(1.0)
            proc.send_signal(signal.SIGINT)
            _stdout, stderr = proc.communicate(timeout=120)
    except ScriptedServerError:
        pass  # the interrupted run never asked for its last turn
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert _left(docker_client, out) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["unfinished"] == 2
