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


def _batch(
    tasks: Path, out: Path, url: str, image: str, *extra: str, prices: Path | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    if prices is not None:
        env["SANDLOOP_PRICES"] = str(prices)
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


def _started(journal: Path, call_id: str) -> bool:
    """Whether the journal shows the call ``call_id`` started."""
    if not journal.exists():
        return False
    for line in journal.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("kind") == "call_started" and record.get("call_id") == call_id:
            return True
    return False


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
    prices = tmp_path / "prices.json"  # the scripted model "m", priced for this batch
    prices.write_text(json.dumps({"models": {"m": {"input": 1.0, "output": 4.0}}}))
    with ScriptedResponsesServer([*_fixing(), *_idle()]) as server:
        done = _batch(tasks, out, server.base_url, base_image, prices=prices)
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
    costs = {r["id"]: r["cost"] for r in lines}
    assert costs["broken"] == 0  # its setup failed: the model was never asked
    assert costs["fix"] > 0
    assert summary["cost"] == pytest.approx(sum(costs.values()))
    assert f"cost ${summary['cost']:.4f}" in stdout
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

    # A half-written result.json is not trusted: that task is an interrupted attempt, resumed
    # from its journal (which shows the run completed, so the model is not asked again, but the
    # test runs again); --retry-failed re-runs the error task from the start (its setup still
    # fails, so the model is never asked).
    (out / "tasks" / "fix" / "result.json").write_text('{"status": "sol')
    with ScriptedResponsesServer([]) as server:
        third = _batch(tasks, out, server.base_url, base_image, "--json", "--retry-failed")
        stdout, stderr = third.communicate(timeout=300)
        assert server.requests == []
    events = [json.loads(x) for x in stdout.splitlines()]
    ran = {e["id"]: e for e in events if e["event"] == "finished"}
    assert set(ran) == {"fix", "broken"}
    assert ran["fix"]["status"] == "solved"
    assert (ran["fix"]["resumed"], ran["fix"]["attempt"]) == (True, 2)
    assert (ran["broken"]["resumed"], ran["broken"]["attempt"]) == (
        False,
        1,
    )  # reset: from the start
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


def test_a_killed_batch_resumes_the_interrupted_task_from_its_journal(
    repo: Path, tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    # The model fixes the bug, then starts a long command; the batch process is killed (-9,
    # no clean-up at all) while it runs. The next run removes the dead attempt's container,
    # re-runs the setup on a fresh copy, re-applies the journaled fix and goes on with the
    # conversation: the cut-short call is answered "effect unknown", the model answers, the
    # test passes on the re-applied fix.
    setup = "echo setup-ran >> /tmp/setup.log; touch generated-by-setup.txt"
    tasks = _tasks(
        tmp_path, repo, {"id": "long", "prompt": "fix add", "test": TEST, "setup": setup}
    )
    out = tmp_path / "out"
    script: list[Any] = [
        Turn([apply_patch_call("update_file", "calc/ops.py", FIX)], new_conversation=True),
        [shell_call("sleep 300", call_id="c_sleep")],
        [message("Fixed.", phase="final_answer")],
    ]
    journal = out / "tasks" / "long" / "journal.jsonl"
    with ScriptedResponsesServer(script) as server:
        first = _batch(tasks, out, server.base_url, base_image)
        for _ in range(1200):  # until the long command runs in the task's container
            if _started(journal, "c_sleep"):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        first.kill()
        first.communicate(timeout=60)
        assert len(server.requests) == 2
        assert not (out / "tasks" / "long" / "result.json").exists()
        assert len(_left(docker_client, out)) == 1  # killed -9: nothing could clean up

        second = _batch(tasks, out, server.base_url, base_image, "--json")
        stdout, stderr = second.communicate(timeout=300)
        assert len(server.requests) == 3
        resumed_input = json.dumps(server.requests[2].body["input"])
    assert second.returncode == 0, stderr
    events = [json.loads(x) for x in stdout.splitlines()]
    finished = [e for e in events if e["event"] == "finished"]
    assert [(e["id"], e["status"], e["resumed"], e["attempt"]) for e in finished] == [
        ("long", "solved", True, 2)
    ]
    assert "effect is unknown" in resumed_input  # the cut-short sleep, answered honestly
    patch = (out / "tasks" / "long" / "changes.patch").read_text()
    assert "+    return a + b" in patch
    assert "generated-by-setup" not in patch  # the patch is the agent's edits on the setup
    attempts = (out / "tasks" / "long" / "attempts.jsonl").read_text().splitlines()
    assert len(attempts) == 2
    assert _left(docker_client, out) == []
