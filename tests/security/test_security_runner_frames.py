"""The runner's reply channel is hostile input: forged frames, a stopped runner, a garbled close.

Any process in the container can write to the container's stdout (``/proc/1/fd/1``, the init's
copy of the attach pipe the runner replies on) or stop the runner (its pid is a command's
``$PPID``). Each attack runs through the public API (``sandbox.exec``, or a ShellTool run
against the scripted server) and must end with a typed ``SandboxDiedError`` naming what was
wrong, within a bounded time (the pytest timeout is the hang detector), with later calls failing
at once and the container removed afterwards (``no_container_left`` plus an explicit check).
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

import anyio
import pytest
from security_support import TEST_LABEL

from sandloop.client import ResponsesClient, RetryPolicy
from sandloop.errors import SandboxDiedError, SandboxTimeoutError
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent, run
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.docker._provisioner import DockerProvisioner
from sandloop.testing import ScriptedResponsesServer, shell_call

pytestmark = [pytest.mark.docker, pytest.mark.timeout(150)]

#: This process's own label on top (other sessions may run security tests on the same engine).
LABELS = {**TEST_LABEL, "org.sandloop.test.frames": uuid.uuid4().hex}
LABEL_FILTER = {"label": f"org.sandloop.test.frames={LABELS['org.sandloop.test.frames']}"}


#: A command writing its stdin raw into the runner's reply stream (the init's stdout).
FORGE = (
    "python3 -c \"import os, sys; fd = os.open('/proc/1/fd/1', os.O_WRONLY); "
    'os.write(fd, sys.stdin.buffer.read())"'
)


def _later(command: str) -> str:
    """A command leaving a daemon that runs ``command`` (with ``$RUNNER``) half a second later."""
    return (
        f"export RUNNER=$PPID; setsid sh -c 'sleep 0.5; {command}' </dev/null >/dev/null 2>&1 & "
        "sleep 0.2"  # setsid has run by now: the daemon outlives the command's process group
    )


#: With the frame as stdin: a daemon writes it into the reply stream half a second later.
FORGE_LATER = "cat > /tmp/frame; " + _later("cat /tmp/frame > /proc/1/fd/1")


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


FORGED = {
    "huge_length_prefix": struct.pack(">I", 500 * 1024 * 1024),  # below the transport maximum
    "length_prefix_without_body": struct.pack(">I", 100_000) + b'{"id"',
    "not_an_object": _frame(b"[1]"),
    "id_not_an_integer": _frame(b'{"id": [1]}'),
    "id_never_issued": _frame(b'{"id": 987654, "ok": true, "result": {}}'),
    "deep_nesting": _frame(b"[" * 100_000 + b"]" * 100_000),
}
SAID = {
    "huge_length_prefix": "announced a frame of 524288000 bytes",
    "length_prefix_without_body": "did not answer 'exec'",
    "not_an_object": "not a JSON object",
    "id_not_an_integer": "id is not an integer",
    "id_never_issued": "request 987654, which was never sent",
    "deep_nesting": "nested deeper than",
}


def _left(docker_client: Any) -> list[Any]:
    return list(docker_client.containers.list(all=True, filters=LABEL_FILTER))


def _on_attach(sandbox: DockerSandbox) -> DockerSandbox:
    """The sandbox kept on the attach channel, whose stream these attacks write into."""
    provisioner = sandbox.provisioner
    assert isinstance(provisioner, DockerProvisioner)
    provisioner.try_fast_channel = False
    return sandbox


@pytest.mark.parametrize("attack", sorted(FORGED))
async def test_a_forged_frame_kills_the_sandbox_with_a_typed_error(
    attack: str, image: str, docker_client: Any
) -> None:
    async with _on_attach(DockerSandbox(image, labels=LABELS)) as sandbox:
        assert not sandbox.capabilities.fast_channel
        sandbox.exec_grace = 2.0  # the default is 30 s; the deadline, not its length, is tested
        assert sandbox._runner().hello["pid"] != 1  # an init runs: the runner is not pid 1
        with pytest.raises(SandboxDiedError) as caught:
            await sandbox.exec(FORGE, stdin=FORGED[attack], timeout=5)
        assert SAID[attack] in str(caught.value)
        with pytest.raises(SandboxDiedError):  # dead: later calls fail at once
            await sandbox.ping()
    assert _left(docker_client) == []


# Reads the runner's socket descriptors (from its pid, $PPID) with pidfd_getfd: the way a
# command could write into the fast channel. Prints each errno, or STOLEN.
STEAL = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pid = int(sys.argv[1])
pidfd = os.pidfd_open(pid)
for name in os.listdir(f"/proc/{pid}/fd"):
    if os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
        got = libc.syscall(438, pidfd, int(name), 0)
        print("STOLEN" if got >= 0 else ctypes.get_errno())
"""


async def test_on_the_fast_channel_a_forged_frame_goes_nowhere(
    image: str, docker_client: Any
) -> None:
    # The attach stream is no longer read, so what is written into it changes nothing; and the
    # socket cannot be taken from the runner (Docker's seccomp profile refuses pidfd_getfd).
    async with DockerSandbox(image, labels=LABELS) as sandbox:
        assert sandbox.capabilities.fast_channel
        forged = await sandbox.exec(FORGE, stdin=FORGED["id_never_issued"], timeout=5)
        assert forged.ok, forged.stderr_text()
        assert (await sandbox.exec("echo alive")).stdout == b"alive\n"
        stolen = await sandbox.exec(["sh", "-c", 'exec python3 -c "$0" "$PPID"', STEAL])
        assert stolen.ok, stolen.stderr_text()
        assert "STOLEN" not in stolen.stdout_text()
        assert stolen.stdout_text().split()  # the runner has sockets, and each was refused
        await sandbox.ping()
    assert _left(docker_client) == []


async def test_a_stopped_runner_ends_a_shell_call_by_its_deadline(
    image: str, docker_client: Any
) -> None:
    # The model stops its own runner (a command's parent) mid-call; the default grace applies.
    agent = Agent(model="gpt-test", tools=[ShellTool()])
    turns = [[shell_call("kill -STOP $PPID; echo stopped", call_id="call_stop", timeout_ms=2000)]]
    async with DockerSandbox(image, labels=LABELS) as sandbox:
        with ScriptedResponsesServer(turns) as server:
            retry = RetryPolicy(max_retries=0)
            async with ResponsesClient(base_url=server.base_url, retry=retry) as client:
                with pytest.raises(SandboxTimeoutError) as caught:
                    await run(agent, "Stop it.", sandbox=sandbox, client=client)
        assert "did not answer 'exec' within its 32 s deadline" in str(caught.value)
        with pytest.raises(SandboxDiedError):
            await sandbox.exec("true", timeout=5)
    assert _left(docker_client) == []


async def test_a_stopped_runner_fails_file_operations_by_their_deadline(
    image: str, docker_client: Any
) -> None:
    async with DockerSandbox(image, labels=LABELS) as sandbox:
        sandbox.op_deadline = 3.0
        await sandbox.exec(_later("kill -STOP $RUNNER"), timeout=5)
        await anyio.sleep(1.5)  # the runner is stopped by now, with no call outstanding
        with pytest.raises(SandboxTimeoutError, match="did not answer 'read' within its 3 s"):
            await sandbox.read_file("anything")
        with pytest.raises(SandboxDiedError):  # dead: at once, no second deadline
            await sandbox.ping()
    assert _left(docker_client) == []


@pytest.mark.parametrize("garble", ["frame", "kill"])
async def test_close_removes_the_container_after_the_runner_garbled_or_died(
    garble: str, image: str, docker_client: Any
) -> None:
    # The model leaves a process that garbles the channel (or kills the runner) just before
    # the sandbox closes; closing must still remove the container.
    sandbox = _on_attach(DockerSandbox(image, labels=LABELS))
    await sandbox.start()
    if garble == "frame":
        await sandbox.exec(FORGE_LATER, stdin=_frame(b"[1]"), timeout=5)
    else:
        await sandbox.exec(_later("kill -9 $RUNNER"), timeout=5)
    await anyio.sleep(1.5)  # done by now, with no call outstanding: close meets it first
    try:
        await sandbox.aclose()
    finally:
        left = _left(docker_client)
    assert left == []
