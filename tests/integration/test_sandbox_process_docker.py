"""DockerSandbox against a real engine: output while a command runs, long-lived processes over
the runner channel, and forged event frames written into that channel from inside."""

# Polling is right here: a process ending inside the container has no event to wait for.

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop.errors import SandboxDiedError
from sandloop.sandboxes import SandboxProcess
from sandloop.sandboxes._replies import PROC_DATA, PROC_WINDOW
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.docker._provisioner import DockerProvisioner

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


@pytest.fixture
async def sandbox(base_image: str, tmp_path: Path) -> AsyncIterator[DockerSandbox]:
    async with DockerSandbox(base_image, workspace=tmp_path) as sb:
        yield sb


@pytest.fixture
async def attached(base_image: str, tmp_path: Path) -> AsyncIterator[DockerSandbox]:
    """A sandbox kept on the attach channel: the forging commands write into its stream (on the
    fast channel what they write reaches nobody, see tests/security/test_security_runner_frames)."""
    sb = DockerSandbox(base_image, workspace=tmp_path)
    assert isinstance(sb.provisioner, DockerProvisioner)
    sb.provisioner.try_fast_channel = False
    async with sb:
        assert not sb.capabilities.fast_channel
        yield sb


async def _read_all(process: SandboxProcess) -> bytes:
    out = bytearray()
    try:
        while True:
            out += await process.receive()
    except anyio.EndOfStream:
        return bytes(out)


async def _running(sandbox: DockerSandbox, pattern: str) -> bool:
    found = await sandbox.exec(["pgrep", "-f", pattern])
    return found.exit_code == 0


async def test_output_arrives_while_the_command_runs(sandbox: DockerSandbox) -> None:
    # The command ends only once a second exec (from the callback) made the file it waits for.
    said: list[bytes] = []

    async def on_output(stream: str, data: bytes) -> None:
        said.append(data)
        if b"ready" in data:
            await sandbox.exec(["touch", "/tmp/go"])

    command = "echo ready; while [ ! -e /tmp/go ]; do sleep 0.02; done; echo done"
    result = await sandbox.exec(command, timeout=30, on_output=on_output)
    assert not result.timed_out
    assert b"".join(said) == result.stdout == b"ready\ndone\n"


async def test_echo_round_trip_and_a_large_transfer(sandbox: DockerSandbox) -> None:
    async with await sandbox.open_process(["cat"]) as process:
        await process.send(b"hello\n")
        assert await process.receive() == b"hello\n"
    data = os.urandom(6 * 1024 * 1024)
    process = await sandbox.open_process(["sha256sum"])
    await process.send(data)
    await process.send_eof()
    digest = (await _read_all(process)).split()[0].decode()
    assert digest == hashlib.sha256(data).hexdigest()
    assert process.returncode == 0
    big = await sandbox.open_process(["head", "-c", "20000000", "/dev/urandom"])
    assert len(await _read_all(big)) == 20_000_000


async def test_exit_status_and_stderr(sandbox: DockerSandbox) -> None:
    process = await sandbox.open_process(
        ["sh", "-c", 'echo "$PWD $MODE"; echo bad >&2; exit 3'], cwd="/tmp", env={"MODE": "x"}
    )
    assert await _read_all(process) == b"/tmp x\n"
    assert process.returncode == 3
    assert process.stderr_tail == b"bad\n"


async def test_aclose_kills_it_and_closing_the_sandbox_kills_the_rest(
    base_image: str, tmp_path: Path
) -> None:
    async with DockerSandbox(base_image, workspace=tmp_path) as sandbox:
        killed = await sandbox.open_process(["sleep", "1001"])
        await killed.aclose()
        assert killed.returncode == 137
        assert not await _running(sandbox, "sleep 1001")
        left = await sandbox.open_process(["sleep", "1002"])
        assert await _running(sandbox, "sleep 1002")
    # The container is gone with the sandbox; the process's stream says it broke.
    with pytest.raises(anyio.BrokenResourceError):
        await left.receive()


async def test_a_flood_is_held_back_and_many_processes_run_at_once(sandbox: DockerSandbox) -> None:
    flood = await sandbox.open_process(["cat", "/dev/zero"])
    for _ in range(30):  # others read the channel: the flood's buffer stops at the window
        await sandbox.exec("true", timeout=10)
    assert len(flood._stdout) <= PROC_WINDOW

    async def echo(n: int) -> None:
        async with await sandbox.open_process(["cat"]) as process:
            await process.send(f"{n}\n".encode())
            got = b""
            while not got.endswith(b"\n"):
                got += await process.receive()
            assert got == f"{n}\n".encode()

    async with anyio.create_task_group() as tg:
        for n in range(25):
            tg.start_soon(echo, n)
    await flood.aclose()
    assert flood.returncode == 137


#: A command writing its stdin raw into the runner's reply stream (the init's stdout).
FORGE = (
    "python3 -c \"import os, sys; fd = os.open('/proc/1/fd/1', os.O_WRONLY); "
    'os.write(fd, sys.stdin.buffer.read())"'
)


def _frame(message: Any) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


def _output(rid: int, data: bytes) -> dict[str, Any]:
    return {
        "id": rid,
        "event": {"kind": "output", "stream": "stdout", "data": base64.b64encode(data).decode()},
    }


async def test_an_event_for_a_command_that_did_not_stream_is_forged(
    attached: DockerSandbox,
) -> None:
    sandbox = attached
    rid = sandbox._runner()._last_id + 1  # the forging command's own request
    with pytest.raises(SandboxDiedError, match="an event for 'exec', which streams nothing"):
        await sandbox.exec(FORGE, stdin=_frame(_output(rid, b"fake")), timeout=10)
    with pytest.raises(SandboxDiedError):
        await sandbox.ping()


async def test_output_past_a_process_window_is_forged(attached: DockerSandbox) -> None:
    sandbox = attached
    process = await sandbox.open_process(["sleep", "1000"])
    chunk = b"x" * PROC_DATA
    forged = b"".join(
        _frame(_output(process._rid, chunk)) for _ in range(PROC_WINDOW // PROC_DATA + 1)
    )
    with pytest.raises(SandboxDiedError, match="unacknowledged bytes of stdout"):
        await sandbox.exec(FORGE, stdin=forged, timeout=10)
    with pytest.raises(anyio.BrokenResourceError):
        await process.receive()
