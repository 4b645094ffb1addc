"""Long-lived processes (``open_process``) through the real runner (LocalSandbox): a byte stream
both ways, exits, kills, flow control against floods, many at once."""

# Polling is right here: a process dying outside our control has no event to wait for.
# ruff: noqa: ASYNC110

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import anyio
import pytest
from test_runner_package import _pyenv_python

from sandloop.errors import SandboxError
from sandloop.sandboxes import LocalSandbox, SandboxProcess
from sandloop.sandboxes._process import STDERR_KEEP
from sandloop.sandboxes._replies import PROC_WINDOW
from sandloop.sandboxes._runner_program import OLDEST_PYTHON

pytestmark = pytest.mark.timeout(60)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _read_all(process: SandboxProcess) -> bytes:
    out = bytearray()
    try:
        while True:
            out += await process.receive()
    except anyio.EndOfStream:
        return bytes(out)


async def test_echo_round_trip(sandbox: LocalSandbox) -> None:
    process = await sandbox.open_process(["cat"])
    try:
        for line in (b"hello\n", b"second line\n"):
            await process.send(line)
            assert await process.receive() == line
        assert process.returncode is None
        await process.send_eof()
        assert await _read_all(process) == b""
        assert process.returncode == 0
    finally:
        await process.aclose()


async def test_a_large_transfer_arrives_whole_both_ways(sandbox: LocalSandbox) -> None:
    data = os.urandom(8 * 1024 * 1024)
    async with await sandbox.open_process(["cat"]) as process:
        got = b""

        async def read() -> None:
            nonlocal got
            got = await _read_all(process)

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await process.send(data)
            await process.send_eof()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    assert process.returncode == 0


async def test_a_process_that_exits_ends_the_stream_with_its_status(
    sandbox: LocalSandbox,
) -> None:
    process = await sandbox.open_process(["sh", "-c", "echo bye; echo why >&2; exit 7"])
    assert await _read_all(process) == b"bye\n"
    assert process.returncode == 7
    assert process.stderr_tail == b"why\n"
    with pytest.raises(anyio.EndOfStream):  # and stays ended
        await process.receive()
    with pytest.raises(anyio.BrokenResourceError):  # nobody to write to
        await process.send(b"late")
    await process.aclose()


async def test_cwd_and_env_are_the_commands(sandbox: LocalSandbox, workspace: Path) -> None:
    os.mkdir(os.path.join(workspace, "sub"))
    process = await sandbox.open_process(
        ["sh", "-c", 'echo "$PWD $GREETING"'], cwd="sub", env={"GREETING": "hi"}
    )
    assert await _read_all(process) == f"{os.path.join(workspace, 'sub')} hi\n".encode()


async def test_aclose_kills_the_process_tree(sandbox: LocalSandbox) -> None:
    process = await sandbox.open_process(["sh", "-c", "sleep 1000 & echo $!; wait"])
    child = int((await process.receive()).decode())
    assert process.pid is not None
    assert _alive(process.pid)
    assert _alive(child)
    await process.aclose()
    assert process.returncode == 137  # SIGKILL
    while _alive(child):  # the kill reached it; reaping may trail
        await anyio.sleep(0.01)
    with pytest.raises(anyio.ClosedResourceError):
        await process.receive()
    await sandbox.ping()  # the sandbox goes on


async def test_closing_the_sandbox_kills_its_processes(workspace: Path) -> None:
    async with LocalSandbox(workspace) as sandbox:
        process = await sandbox.open_process(["sleep", "1000"])
        pid = process.pid
        assert pid is not None
        assert _alive(pid)
    while _alive(pid):
        await anyio.sleep(0.01)
    with pytest.raises(anyio.BrokenResourceError):
        await process.receive()
    await process.aclose()  # harmless afterwards


async def test_a_flood_nobody_reads_is_held_back_by_the_window(sandbox: LocalSandbox) -> None:
    runner = int(sandbox._runner().hello["pid"])
    before = _rss_kib(runner)
    process = await sandbox.open_process(["cat", "/dev/zero"])
    try:
        # Other calls read the channel meanwhile: the process's events land in its buffer,
        # which fills to the window and stops there, as the runner stops reading the pipe.
        while len(process._stdout) < PROC_WINDOW:
            await sandbox.ping()
        for _ in range(50):
            await sandbox.exec("true", timeout=10)
        assert len(process._stdout) == PROC_WINDOW
        assert _rss_kib(runner) - before < 16 * 1024  # the runner holds no flood either
        # Reading opens the window again: the flood goes on, 20 MB of it.
        read = 0
        while read < 20 * 1024 * 1024:
            read += len(await process.receive())
    finally:
        await process.aclose()
    assert process.returncode == 137


async def test_a_stderr_flood_keeps_only_its_tail(sandbox: LocalSandbox) -> None:
    runner = int(sandbox._runner().hello["pid"])
    before = _rss_kib(runner)
    script = "head -c 50000000 /dev/zero >&2; printf done >&2; echo out"
    process = await sandbox.open_process(["sh", "-c", script])
    assert await _read_all(process) == b"out\n"
    assert process.returncode == 0
    assert len(process.stderr_tail) <= STDERR_KEEP
    assert process.stderr_tail.endswith(b"done")
    assert _rss_kib(runner) - before < 16 * 1024


async def test_many_processes_at_once(sandbox: LocalSandbox) -> None:
    async def one(n: int) -> None:
        async with await sandbox.open_process(["cat"]) as process:
            for i in range(5):
                message = f"process {n} line {i}\n".encode()
                await process.send(message)
                got = b""
                while len(got) < len(message):
                    got += await process.receive()
                assert got == message

    async with anyio.create_task_group() as tg:
        for n in range(40):
            tg.start_soon(one, n)
    await sandbox.ping()


async def test_a_send_to_a_process_that_never_reads_can_be_abandoned(
    sandbox: LocalSandbox,
) -> None:
    process = await sandbox.open_process(["sleep", "1000"])
    with anyio.move_on_after(0.5) as scope:
        await process.send(b"x" * (4 * 1024 * 1024))  # the pipe fills; sleep reads nothing
    assert scope.cancelled_caught
    await process.aclose()
    assert process.returncode == 137
    await sandbox.ping()


async def test_a_missing_command_does_not_start(sandbox: LocalSandbox) -> None:
    with pytest.raises(SandboxError, match=r"could not start 'no-such-command'.*not found"):
        await sandbox.open_process(["no-such-command"])
    await sandbox.ping()


async def test_processes_leave_no_descriptors_behind_in_the_runner(sandbox: LocalSandbox) -> None:
    runner = int(sandbox._runner().hello["pid"])
    await sandbox.exec("true")  # the runner's own one-time descriptors are open by now
    before = len(os.listdir(f"/proc/{runner}/fd"))
    for _ in range(20):
        with pytest.raises(SandboxError):
            await sandbox.open_process(["no-such-command"])
        async with await sandbox.open_process(["cat"]) as process:
            await process.send(b"x")
            await process.receive()
        done = await sandbox.open_process(["true"])
        await _read_all(done)
    assert len(os.listdir(f"/proc/{runner}/fd")) == before


async def test_processes_and_streaming_work_on_the_oldest_python(workspace: Path) -> None:
    python = _pyenv_python(OLDEST_PYTHON)
    if python is None:
        pytest.skip("no python{}.{} here (pyenv or PATH)".format(*OLDEST_PYTHON))
    async with LocalSandbox(workspace, python=python) as sandbox:
        assert str(sandbox._runner().hello["python"]).startswith("3.8.")
        seen: list[bytes] = []
        await sandbox.exec("echo live", on_output=lambda stream, data: seen.append(data))
        assert seen == [b"live\n"]
        async with await sandbox.open_process(["cat"]) as process:
            await process.send(b"ping\n")
            assert await process.receive() == b"ping\n"


async def test_an_abandoned_start_leaves_no_process(sandbox: LocalSandbox, workspace: Path) -> None:
    # Cancelled before the runner said it started: the process must not live on unowned.
    with anyio.CancelScope() as scope:
        scope.cancel()
        await sandbox.open_process(["sh", "-c", "echo $$ > pid; exec sleep 1000"])
    await sandbox.exec("sleep 0.3")  # time for a spawn that raced the cancel to start
    if (workspace / "pid").exists():
        pid = int((workspace / "pid").read_text())
        while _alive(pid):
            await anyio.sleep(0.01)
    await sandbox.ping()


async def test_aclose_from_another_task_ends_a_waiting_receive(sandbox: LocalSandbox) -> None:
    process = await sandbox.open_process(["sleep", "1000"])  # prints nothing
    ended: list[type[BaseException]] = []

    async def read() -> None:
        try:
            await process.receive()
        except (anyio.ClosedResourceError, anyio.EndOfStream) as exc:
            ended.append(type(exc))

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        await sandbox.exec("true")  # the reader is waiting by now
        await process.aclose()
    assert ended == [anyio.ClosedResourceError]
    assert process.returncode == 137
