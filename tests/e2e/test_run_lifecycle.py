"""The run owns what it opens: the sync form end to end, client reuse, events that always close.

Real sockets against ScriptedResponsesServer (its protocol checks on), real sandboxes: a
hardened Docker container for the repository fixes, LocalSandbox where isolation is not the
point.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest

import sandloop
from sandloop.client import ResponsesClient
from sandloop.errors import ApiStatusError, ConfigError, SandboxError
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.function import tool
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent, RunEnded, RunEvent, ToolCallFinished, ToolCallStarted
from sandloop.sandboxes import LocalSandbox
from sandloop.testing import (
    ScriptedResponsesServer,
    Turn,
    apply_patch_call,
    bad_request,
    message,
    shell_call,
)

BUGGY = "def add(a, b):\n    return a - b\n"
FIX = "@@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
FIXED = "def add(a, b):\n    return a + b\n"


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e.com"}
    done = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return done.stdout.decode()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "calc").mkdir(parents=True)
    (root / "calc" / "ops.py").write_text(BUGGY)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "bug")
    return root


def _fixing_script() -> list[Any]:
    return [
        [shell_call("cat calc/ops.py", call_id="c_cat")],
        [apply_patch_call("update_file", "calc/ops.py", FIX, call_id="c_fix")],
        [shell_call("python3 -c 'from calc.ops import add; print(add(2, 3))'", call_id="c_t")],
        [message("Fixed add.", phase="final_answer")],
    ]


def _coding_agent() -> Agent:
    return Agent(model="m", tools=[ShellTool(), ApplyPatchTool()])


def _containers(docker_client: Any, sandbox: Any) -> list[Any]:
    found: list[Any] = docker_client.containers.list(
        all=True, filters={"id": sandbox.container_id or "x"}
    )
    return found


@pytest.mark.docker
def test_run_sync_fixes_a_repository_in_bind_mode(
    repo: Path, base_image: str, docker_client: Any
) -> None:
    sandbox = sandloop.DockerSandbox(base_image, workspace=repo)
    with ScriptedResponsesServer(_fixing_script()) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        result = sandloop.run_sync(_coding_agent(), "fix add", sandbox=sandbox, client=client)
    assert result.status == "completed"
    assert result.final_output == "Fixed add."
    assert (repo / "calc" / "ops.py").read_text() == FIXED
    assert result.changes is None  # bind mode: the edits are already in the repository
    assert not sandbox.started  # the run started it, and removed it
    outputs = [i for i in result.items if getattr(i, "type", "") == "shell_call_output"]
    assert outputs[-1].output[0].stdout == "5\n"


@pytest.mark.docker
def test_run_sync_in_copy_mode_keeps_the_changes_on_the_result(
    repo: Path, base_image: str, docker_client: Any, tmp_path: Path
) -> None:
    sandbox = sandloop.DockerSandbox(base_image, workspace=repo, mount="copy")
    with ScriptedResponsesServer(_fixing_script()) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        result = sandloop.run_sync(_coding_agent(), "fix add", sandbox=sandbox, client=client)
    assert (repo / "calc" / "ops.py").read_text() == BUGGY  # the host tree is untouched
    assert not sandbox.started
    assert result.changes is not None
    assert result.changes.paths == ("calc/ops.py",)
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(repo), str(clone))
    patch = tmp_path / "changes.patch"
    patch.write_text(result.changes.diff)
    _git(clone, "apply", "--check", str(patch))
    _git(clone, "apply", str(patch))
    assert (clone / "calc" / "ops.py").read_text() == FIXED
    # The result travels as JSON with its changes.
    again = sandloop.RunResult.from_dict(result.to_dict())
    assert again.changes == result.changes


def test_one_client_serves_two_run_sync_calls(tmp_path: Path) -> None:
    agent = Agent(model="m")
    with ScriptedResponsesServer(
        [[message("one")], Turn([message("two")], new_conversation=True)]
    ) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        first = sandloop.run_sync(agent, "1", client=client)
        second = sandloop.run_sync(agent, "2", client=client)
    assert (first.final_output, second.final_output) == ("one", "two")


async def test_run_sync_inside_a_running_loop_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"await sandloop\.run"):
        sandloop.run_sync(Agent(model="m"), "hi")


def test_tools_that_need_a_sandbox_without_one_fail_before_any_request() -> None:
    with ScriptedResponsesServer([]) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        with pytest.raises(ConfigError, match=r"shell, apply_patch.*sandbox"):
            sandloop.run_sync(_coding_agent(), "fix", client=client)
        assert server.create_requests == []


def test_a_sandbox_started_in_another_event_loop_is_a_sandbox_error(tmp_path: Path) -> None:
    sandbox = LocalSandbox(tmp_path)
    # Started in another thread's event loop, which lives on (and closes it) after the run.
    with anyio.from_thread.start_blocking_portal() as portal:
        portal.call(sandbox.start)
        try:
            with ScriptedResponsesServer([[shell_call("echo hi", call_id="c1")]]) as server:
                client = ResponsesClient(base_url=server.base_url, max_retries=0)
                agent = Agent(model="m", tools=[ShellTool()])
                with pytest.raises(SandboxError, match="another event loop") as caught:
                    sandloop.run_sync(agent, "go", sandbox=sandbox, client=client)
        finally:
            portal.call(sandbox.aclose)
    # Not a tool output that lets the run "complete": the run stopped, with its partial result.
    result = caught.value.result  # type: ignore[attr-defined]
    assert result.status == "sandbox_error"
    assert result.turns == 1


def test_the_run_removes_an_owned_sandbox_on_error(tmp_path: Path) -> None:
    sandbox = LocalSandbox(tmp_path)
    with ScriptedResponsesServer([Turn([], status="failed")]) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        with pytest.raises(sandloop.ResponseFailedError) as caught:
            sandloop.run_sync(
                Agent(model="m", tools=[ShellTool()]), "x", sandbox=sandbox, client=client
            )
    assert caught.value.result.status == "failed"
    assert not sandbox.started


@tool
def slow(seconds: float) -> str:
    """Sleep a while.

    Args:
        seconds: How long.
    """
    import time

    time.sleep(seconds)
    return "slept"


async def test_cancel_closes_every_started_call_and_the_run(tmp_path: Path) -> None:
    seen: list[RunEvent] = []
    also: list[RunEvent] = []
    sandbox = LocalSandbox(tmp_path)
    turns = [[shell_call("sleep 30", call_id="c_sleep")]]
    async with ScriptedResponsesServer(turns, check_protocol=False) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        agent = Agent(model="m", tools=[ShellTool()])
        events = sandloop.stream(
            agent, "go", sandbox=sandbox, client=client, on_event=[seen.append, also.append]
        )
        async with aclosing(events) as stream:
            async for event in stream:
                if isinstance(event, ToolCallStarted):
                    break  # leaving the stream cancels the run
        await client.aclose()
    assert not sandbox.started  # an owned sandbox goes also on cancel
    assert seen == also  # every listener got every event
    finished = [e for e in seen if isinstance(e, ToolCallFinished)]
    assert [(e.call_id, e.status) for e in finished] == [("c_sleep", "cancelled")]
    assert isinstance(seen[-1], RunEnded)
    assert seen[-1].result.status == "cancelled"
    # The history still answers the call, so it can be sent again.
    assert [o.call_id for o in seen[-1].result.items if o.type == "shell_call_output"] == [
        "c_sleep"
    ]


async def test_every_error_carries_the_partial_result() -> None:
    async with (
        ScriptedResponsesServer(
            [Turn(None, faults=[bad_request("nope")])], check_protocol=False
        ) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        ended: list[RunEvent] = []
        with pytest.raises(ApiStatusError) as caught:
            await sandloop.run(Agent(model="m"), "x", client=client, on_event=ended.append)
    assert caught.value.result is not None  # type: ignore[attr-defined]
    assert caught.value.result.status == "failed"  # type: ignore[attr-defined]
    last = ended[-1]
    assert isinstance(last, RunEnded)
    assert last.error is caught.value


def test_event_to_dict_is_json() -> None:
    import json

    events: list[RunEvent] = []
    with ScriptedResponsesServer([[message("hi")]]) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        sandloop.run_sync(Agent(model="m"), "x", client=client, on_event=events.append)
    kinds = [json.loads(json.dumps(e.to_dict()))["event"] for e in events]
    assert kinds[0] == "run_started"
    assert kinds[-1] == "run_ended"


CTRL_C_SCRIPT = """
import sys
import sandloop
agent = sandloop.Agent(model="m", tools=[sandloop.ShellTool()])
sandbox = sandloop.DockerSandbox(sys.argv[1], workspace=sys.argv[2], labels={"t": sys.argv[4]})
client = sandloop.ResponsesClient(base_url=sys.argv[3], max_retries=0)
try:
    sandloop.run_sync(agent, "go", sandbox=sandbox, client=client)
except KeyboardInterrupt:
    print("interrupted", sandbox.started)
"""


@pytest.mark.docker
def test_ctrl_c_in_run_sync_removes_the_owned_sandbox(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    import signal
    import sys
    import time
    import uuid

    tag = uuid.uuid4().hex
    work = tmp_path / "work"
    work.mkdir()
    turns = [[shell_call("touch started; sleep 60", call_id="c_long")]]
    with ScriptedResponsesServer(turns, check_protocol=False) as server:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        command = [sys.executable, "-c", CTRL_C_SCRIPT, base_image, str(work), server.base_url]
        with subprocess.Popen(
            [*command, tag], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            try:
                for _ in range(3000):
                    if (work / "started").exists() or proc.poll() is not None:
                        break
                    time.sleep(0.02)
                assert (work / "started").exists(), proc.communicate()
                assert docker_client.containers.list(filters={"label": f"t={tag}"})
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
    left = docker_client.containers.list(all=True, filters={"label": f"t={tag}"})
    for container in left:
        container.remove(force=True)
    assert left == [], "the owned sandbox outlived Ctrl-C"
    assert out.strip() == "interrupted False", err[-2000:]
