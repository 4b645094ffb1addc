"""Batches on a real two-node Ray cluster: real copy-mode Docker sandboxes, the scripted server.

Each task has its own scripted server on 127.0.0.1 (tasks run at once on both nodes, so one
script could not serve them in order). The output directory is shared (one machine), so a retry
after a killed worker resumes from the dead attempt's journal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop.batch import RayExecutor, run_batch
from sandloop.batch.cleanup import BATCH_LABEL
from sandloop.batch.layout import BatchDir
from sandloop.client import ClientSettings, RetryPolicy
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent, RunSpec
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.testing import ScriptedResponsesServer, Turn, apply_patch_call, message, shell_call

pytestmark = [pytest.mark.docker, pytest.mark.ray]

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


def _fixing() -> list[Any]:
    return [
        [shell_call("cat calc/ops.py")],
        [apply_patch_call("update_file", "calc/ops.py", FIX)],
        [message("Fixed.", phase="final_answer")],
    ]


def _long() -> list[Any]:
    """Fix, then a long command (killed under it), then the answer after the resume."""
    return [
        [apply_patch_call("update_file", "calc/ops.py", FIX)],
        [shell_call("sleep 300", call_id="c_sleep")],
        [message("Fixed.", phase="final_answer")],
    ]


def _spec(task_id: str, repo: Path, image: str, url: str) -> RunSpec:
    return RunSpec(
        Agent(model="m", tools=[ShellTool(), ApplyPatchTool()]),
        "fix add",
        sandbox=DockerSandbox(image, workspace=repo, mount="copy"),
        client=ClientSettings(base_url=url, retry=RetryPolicy(max_retries=0)),
        labels={"id": task_id},
        metadata={"test": TEST},
    )


def _batch(specs: list[RunSpec], out: Path, address: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        runs = run_batch(specs, executor=RayExecutor(address=address, workers=2), out=out)
        return [record async for record in runs]

    return anyio.run(go)


def _left(docker_client: Any, out: Path) -> list[Any]:
    label = f"{BATCH_LABEL}={BatchDir(out).batch_id}"
    found: list[Any] = docker_client.containers.list(all=True, filters={"label": label})
    return found


def _attempts(out: Path, task_id: str) -> list[dict[str, Any]]:
    path = out / "tasks" / task_id / "attempts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _journal_shows_started(out: Path, task_id: str, call_id: str) -> bool:
    path = out / "tasks" / task_id / "journal.jsonl"
    if not path.exists():
        return False
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("kind") == "call_started" and record.get("call_id") == call_id:
            return True
    return False


def _kill_when_running(out: Path, task_id: str, attempt: int, call_id: str = "c_sleep") -> int:
    """SIGKILL the Ray worker running ``attempt`` of the task once the call ``call_id`` runs."""
    for _ in range(1200):
        attempts = _attempts(out, task_id)
        if len(attempts) >= attempt and _journal_shows_started(out, task_id, call_id):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"attempt {attempt} of {task_id} never reached its long command")
    time.sleep(0.5)
    pid = int(attempts[attempt - 1]["pid"])
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_batch_spreads_over_both_nodes(
    ray_cluster: Any, repo: Path, tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    out = tmp_path / "out"
    with ExitStack() as stack:
        urls = [stack.enter_context(ScriptedResponsesServer(_fixing())).base_url for _ in range(4)]
        records = _batch(
            [_spec(f"t{i}", repo, base_image, url) for i, url in enumerate(urls)],
            out,
            ray_cluster.address,
        )
    assert sorted((r["id"], r["status"]) for r in records) == [
        (f"t{i}", "solved") for i in range(4)
    ]
    nodes = {a["node"] for i in range(4) for a in _attempts(out, f"t{i}")}
    assert len(nodes) == 2  # one CPU per node, two tasks at once: both nodes ran tasks
    for i in range(4):
        assert "+    return a + b" in (out / "tasks" / f"t{i}" / "changes.patch").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["statuses"]["solved"] == 4
    assert _left(docker_client, out) == []


def test_a_killed_worker_is_retried_and_resumes_from_the_journal(
    ray_cluster: Any, repo: Path, tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    out = tmp_path / "out"
    with ScriptedResponsesServer(_long()) as server:
        spec = _spec("long", repo, base_image, server.base_url)

        async def go() -> list[dict[str, Any]]:
            runs = run_batch([spec], executor=RayExecutor(address=ray_cluster.address), out=out)
            async with anyio.create_task_group() as group:

                async def kill() -> None:
                    await anyio.to_thread.run_sync(_kill_when_running, out, "long", 1)

                group.start_soon(kill)
                records = [record async for record in runs]
            return records

        records = anyio.run(go)
        assert len(server.requests) == 3  # fix, long command, then the resumed answer
    [record] = records
    assert (record["status"], record["resumed"], record["attempt"]) == ("solved", True, 2)
    assert len(_attempts(out, "long")) == 2
    assert _left(docker_client, out) == []  # the dead attempt's container too


def test_a_worker_killed_twice_makes_the_task_an_error(
    ray_cluster: Any, repo: Path, tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    out = tmp_path / "out"
    script = [*_long()[:2], Turn([shell_call("sleep 300", call_id="c_sleep2")])]
    with ScriptedResponsesServer(script, check_protocol=False) as server:
        spec = _spec("doomed", repo, base_image, server.base_url)

        async def go() -> list[dict[str, Any]]:
            runs = run_batch([spec], executor=RayExecutor(address=ray_cluster.address), out=out)
            async with anyio.create_task_group() as group:

                async def kill_both() -> None:
                    await anyio.to_thread.run_sync(_kill_when_running, out, "doomed", 1)
                    await anyio.to_thread.run_sync(_kill_when_running, out, "doomed", 2, "c_sleep2")

                group.start_soon(kill_both)
                records = [record async for record in runs]
            return records

        records = anyio.run(go)
    [record] = records
    assert record["status"] == "error"
    assert "WorkerCrashedError" in record["reason"]
    kept = json.loads((out / "tasks" / "doomed" / "result.json").read_text())
    assert kept["status"] == "error"  # the driver's copy of the record
    assert len(_attempts(out, "doomed")) == 2
    assert _left(docker_client, out) == []


def test_ctrl_c_of_the_driver_stops_the_cluster_tasks_and_removes_their_containers(
    ray_cluster: Any, repo: Path, tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        json.dumps({"id": "long", "repo": str(repo), "prompt": "fix add", "test": TEST}) + "\n"
    )
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")}
    with ScriptedResponsesServer(_long()[:2]) as server:  # interrupted before its answer
        command = [sys.executable, "-c", MAIN, "batch", str(tasks), "--out", str(out)]
        command += ["--executor", "ray", "--ray-address", ray_cluster.address, "--json"]
        command += ["--base-url", server.base_url, "--model", "m", "--image", base_image]
        driver = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            for _ in range(1200):
                if _journal_shows_started(out, "long", "c_sleep"):
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            worker = int(_attempts(out, "long")[0]["pid"])
            driver.send_signal(signal.SIGINT)
            _stdout, stderr = driver.communicate(timeout=90)
        finally:
            if driver.poll() is None:
                driver.kill()
    assert driver.returncode == 130, stderr
    assert _left(docker_client, out) == []
    for _ in range(100):  # the cancelled task's worker is killed, not left running
        if not _alive(worker):
            break
        time.sleep(0.1)
    assert not _alive(worker)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["unfinished"] == 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}/stat").exists() and ") Z " not in Path(f"/proc/{pid}/stat").read_text()
    )
