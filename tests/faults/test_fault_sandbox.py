"""The sandbox fails under a running agent: container killed, runner killed, disk full.

Each run is real (scripted model over a socket, DockerSandbox); the fault is injected while a
call runs. The run must stop at once with ``SandboxDiedError`` (not wait for the command's
timeout), its history must answer every call, no patch may be half-applied, and the container
must be gone after the ``async with`` (checked by the ``image`` fixture).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from faults_support import (
    PATCH_DIFF,
    PATCHED,
    TEST_LABEL,
    Events,
    assert_complete_transcript,
    assert_patch_whole_or_absent,
)

from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.errors import SandboxDiedError
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.base import ToolContext
from sandloop.executors.shell import ShellTool
from sandloop.items import CustomToolCall
from sandloop.loop import Agent, RunEvent, ToolCallStarted, run
from sandloop.sandboxes.base import Sandbox
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.testing import (
    ScriptedResponsesServer,
    TurnLike,
    apply_patch_call,
    custom_tool_call,
    message,
    shell_call,
)

pytestmark = pytest.mark.docker

AGENT = Agent(model="gpt-test", tools=[ShellTool(), ApplyPatchTool()])
NO_RETRY = RetryPolicy(max_retries=0)


async def _run_until_died(
    sandbox: DockerSandbox, turns: list[Any], inject: Any
) -> tuple[SandboxDiedError, Events, float]:
    """Run ``turns``; when the shell call ``call_long`` starts, ``inject`` the fault."""
    events = Events()
    started = anyio.Event()

    async def on_event(event: RunEvent) -> None:
        await events(event)
        if isinstance(event, ToolCallStarted) and event.call_id == "call_long":
            started.set()

    async def fault() -> None:
        await started.wait()
        await anyio.sleep(0.3)  # the command is running inside the container by now
        await anyio.to_thread.run_sync(inject)

    with ScriptedResponsesServer(turns) as server:
        async with (
            ResponsesClient(base_url=server.base_url, retry=NO_RETRY) as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(fault)
            begin = anyio.current_time()
            with pytest.raises(SandboxDiedError) as caught:
                await run(AGENT, "Work.", sandbox=sandbox, client=client, on_event=on_event)
            took = anyio.current_time() - begin
    return caught.value, events, took


def _long_turn() -> list[dict[str, Any]]:
    # The shell call runs first; the patch (a sequential tool) would run after it.
    return [
        shell_call("sleep 300", call_id="call_long"),
        apply_patch_call("create_file", PATCHED, PATCH_DIFF, call_id="call_patch"),
    ]


def _check_stopped(error: SandboxDiedError, events: Events, took: float, ws: Path) -> None:
    assert events.ended.error is error
    result = events.ended.result
    assert result.status == "sandbox_error"
    assert_complete_transcript(result)
    assert_patch_whole_or_absent(ws)
    assert took < 120  # it did not wait for `sleep 300` (the pytest timeout is the real bound)


async def test_the_container_killed_mid_command_stops_the_run_cleanly(
    image: str, workspace: Path, docker_client: Any
) -> None:
    async with DockerSandbox(image, workspace=workspace, labels=TEST_LABEL) as sandbox:
        cid = sandbox.container_id

        def kill() -> None:
            docker_client.containers.get(cid).kill()

        error, events, took = await _run_until_died(sandbox, [_long_turn()], kill)
    _check_stopped(error, events, took, workspace)
    assert not (workspace / PATCHED).exists()  # the patch after the dead shell never ran


async def test_the_runner_killed_from_outside_stops_the_run_cleanly(
    image: str, workspace: Path, docker_client: Any
) -> None:
    async with DockerSandbox(image, workspace=workspace, labels=TEST_LABEL) as sandbox:
        cid, pid = sandbox.container_id, sandbox._runner().hello["pid"]

        def kill_runner() -> None:
            done = docker_client.containers.get(cid).exec_run(["kill", "-9", str(pid)])
            assert done.exit_code == 0, done.output

        error, events, took = await _run_until_died(sandbox, [_long_turn()], kill_runner)
        assert not sandbox._runner().alive
    _check_stopped(error, events, took, workspace)


async def test_the_model_killing_its_own_runner_stops_the_run_cleanly(
    image: str, workspace: Path
) -> None:
    # The model's commands run as the runner's user, so they can kill it: the run must stop
    # with a clear error, not hang or crash.
    async with DockerSandbox(image, workspace=workspace, labels=TEST_LABEL) as sandbox:
        pid = sandbox._runner().hello["pid"]
        turns: list[Any] = [
            [
                shell_call(f"sleep 0.5; kill -9 {pid}; sleep 300", call_id="call_long"),
                apply_patch_call("create_file", PATCHED, PATCH_DIFF, call_id="call_patch"),
            ]
        ]
        error, events, took = await _run_until_died(sandbox, turns, lambda: None)
    _check_stopped(error, events, took, workspace)
    assert "runner" in str(error)


# --- the disk fills up ---------------------------------------------------------------------------

DISK = {"/workspace": "size=1m,uid=1000,gid=1000,mode=0755"}
FILL = ["head -c 900000 /dev/zero > fill.bin", "head -c 400000 /dev/zero > more.bin"]


def _envelope(*files: tuple[str, int]) -> str:
    sections = "".join(
        f"*** Add File: {name}\n" + "".join(f"+{'x' * 99}\n" for _ in range(size // 100))
        for name, size in files
    )
    return f"*** Begin Patch\n{sections}*** End Patch\n"


async def test_a_full_disk_fails_calls_clearly_and_leaves_no_partial_patch(image: str) -> None:
    agent = Agent(model="gpt-test", tools=[ShellTool(), ApplyPatchTool(as_custom=True)])
    big_patch = _envelope(("a.txt", 20_000), ("b.txt", 20_000), ("c.txt", 300_000))

    def after_fill(request: Any) -> list[dict[str, Any]]:
        out = request.body["input"]
        fill = next(i for i in out if i.get("call_id") == "call_fill")["output"][1]
        assert fill["outcome"]["exit_code"] != 0
        assert "No space left on device" in fill["stderr"]
        return [custom_tool_call("apply_patch", big_patch, call_id="call_big")]

    def after_big(request: Any) -> list[dict[str, Any]]:
        out = next(i for i in request.body["input"] if i.get("call_id") == "call_big")
        assert out["output"].startswith("apply_patch failed")
        assert "No space left on device" in out["output"]
        return [shell_call("ls -A; rm more.bin fill.bin", call_id="call_ls")]

    def after_ls(request: Any) -> list[dict[str, Any]]:
        out = next(i for i in request.body["input"] if i.get("call_id") == "call_ls")
        # Nothing of the failed patch: no file it created, no temporary file.
        assert out["output"][0]["stdout"].split() == ["fill.bin", "more.bin"]
        return [custom_tool_call("apply_patch", _envelope(("a.txt", 20_000)), call_id="call_ok")]

    def answer(request: Any) -> list[dict[str, Any]]:
        out = next(i for i in request.body["input"] if i.get("call_id") == "call_ok")
        assert out["output"] == "A a.txt"
        return [message("recovered", phase="final_answer")]

    turns: list[TurnLike] = [
        [shell_call(FILL, call_id="call_fill")],
        after_fill,
        after_big,
        after_ls,
        answer,
    ]
    async with DockerSandbox(image, tmpfs=DISK, labels=TEST_LABEL) as sandbox:
        with ScriptedResponsesServer(turns) as server:
            async with ResponsesClient(base_url=server.base_url, retry=NO_RETRY) as client:
                result = await run(agent, "Fill it.", sandbox=sandbox, client=client)
        assert result.final_output == "recovered"
        assert_complete_transcript(result)
        listing = await sandbox.exec("ls -A; wc -c < a.txt")
        assert listing.stdout_text().split() == ["a.txt", "20000"]


# --- the container dies in the middle of a multi-file patch --------------------------------------


class DiesAfterWrites(Sandbox):
    """A DockerSandbox whose container is killed right after its ``n``-th file write:
    a deterministic death in the middle of a patch."""

    def __init__(self, inner: DockerSandbox, n: int, docker_client: Any) -> None:
        self.inner, self.n, self.docker = inner, n, docker_client
        self.workdir = inner.workdir
        self.writes = 0

    async def start(self) -> None:
        await self.inner.start()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def exec(self, command: Any, **options: Any) -> Any:
        return await self.inner.exec(command, **options)

    async def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        return await self.inner.read_file(path, max_bytes=max_bytes)

    async def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        await self.inner.write_file(path, data, mode=mode)
        self.writes += 1
        if self.writes == self.n:
            cid = self.inner.container_id
            await anyio.to_thread.run_sync(lambda: self.docker.containers.get(cid).kill())

    async def delete_file(self, path: str) -> None:
        await self.inner.delete_file(path)

    async def stat(self, path: str) -> Any:
        return await self.inner.stat(path)

    async def list_dir(self, path: str = ".") -> Any:
        return await self.inner.list_dir(path)

    async def restore_on_host(self, files: Any) -> bool:
        return await self.inner.restore_on_host(files)


async def test_a_container_dying_mid_patch_leaves_no_partial_patch(
    image: str, workspace: Path, docker_client: Any
) -> None:
    # The undo cannot reach the dead container; the files of a bind-mounted workspace are put
    # back from the host side instead (with the runner's confinement).
    (workspace / "keep.txt").write_text("original\n")
    envelope = "*** Begin Patch\n*** Update File: keep.txt\n@@\n-original\n+changed\n"
    envelope += "".join(f"*** Add File: new{i}.txt\n+new {i}\n" for i in range(5))
    envelope += "*** End Patch\n"
    call = CustomToolCall(call_id="call_big", name="apply_patch", input=envelope)
    inner = DockerSandbox(image, workspace=workspace, labels=TEST_LABEL)
    async with DiesAfterWrites(inner, 3, docker_client) as sandbox:
        ctx = ToolContext(run_id="run_fault", call_id="call_big", sandbox=sandbox)
        with pytest.raises(SandboxDiedError):
            await ApplyPatchTool(as_custom=True).execute(call, ctx)
    assert sorted(os.listdir(workspace)) == ["keep.txt"]
    assert (workspace / "keep.txt").read_text() == "original\n"


class KilledDuringCommit(Sandbox):
    """A DockerSandbox whose container is killed while a ``write_files`` commit is in flight.

    It has no host-side undo: only the runner's all-or-nothing commit protects the workspace.
    """

    def __init__(self, inner: DockerSandbox, delay: float, docker_client: Any) -> None:
        self.inner, self.delay, self.docker = inner, delay, docker_client
        self.workdir = inner.workdir
        self.commits = 0

    @property
    def atomic_writes(self) -> bool:
        return self.inner.atomic_writes

    async def write_files(self, changes: Any, *, modes: Any = None) -> None:
        self.commits += 1
        cid = self.inner.container_id

        async def kill() -> None:
            await anyio.sleep(self.delay)
            await anyio.to_thread.run_sync(lambda: self.docker.containers.get(cid).kill())

        died: SandboxDiedError | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(kill)
            try:
                await self.inner.write_files(changes, modes=modes)
            except SandboxDiedError as exc:
                died = exc  # raised outside the task group, not wrapped in an exception group
        if died is not None:
            raise died

    async def start(self) -> None:
        await self.inner.start()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def exec(self, command: Any, **options: Any) -> Any:
        return await self.inner.exec(command, **options)

    async def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        return await self.inner.read_file(path, max_bytes=max_bytes)

    async def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        await self.inner.write_file(path, data, mode=mode)

    async def delete_file(self, path: str) -> None:
        await self.inner.delete_file(path)

    async def stat(self, path: str) -> Any:
        return await self.inner.stat(path)

    async def list_dir(self, path: str = ".") -> Any:
        return await self.inner.list_dir(path)


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.02, 0.05, 0.1])
async def test_a_container_killed_during_an_atomic_commit_leaves_all_or_nothing(
    image: str, workspace: Path, docker_client: Any, delay: float
) -> None:
    # Big enough files that the kill often lands while the runner is still staging them.
    (workspace / "keep.txt").write_text("original\n")
    body = "".join(f"+{'y' * 99}\n" for _ in range(20_000))  # ~2 MB per added file
    envelope = "*** Begin Patch\n*** Update File: keep.txt\n@@\n-original\n+changed\n"
    envelope += "".join(f"*** Add File: new{i}.txt\n{body}" for i in range(3))
    envelope += "*** End Patch\n"
    call = CustomToolCall(call_id="call_big", name="apply_patch", input=envelope)
    inner = DockerSandbox(image, workspace=workspace, labels=TEST_LABEL)
    async with KilledDuringCommit(inner, delay, docker_client) as sandbox:
        assert sandbox.atomic_writes
        ctx = ToolContext(run_id="run_fault", call_id="call_big", sandbox=sandbox)
        try:
            out = await ApplyPatchTool(as_custom=True).execute(call, ctx)
        except SandboxDiedError:
            out = None
        assert sandbox.commits == 1
    names = sorted(os.listdir(workspace))  # hidden staged or set-aside files included
    if names == ["keep.txt"]:
        assert (workspace / "keep.txt").read_text() == "original\n"
    else:  # the commit landed before the kill: all of it
        assert names == ["keep.txt", "new0.txt", "new1.txt", "new2.txt"]
        assert (workspace / "keep.txt").read_text() == "changed\n"
        sizes = {(workspace / f"new{i}.txt").stat().st_size for i in range(3)}
        assert sizes == {20_000 * 100}
        assert out is None or out.output == "M keep.txt\nA new0.txt\nA new1.txt\nA new2.txt"
