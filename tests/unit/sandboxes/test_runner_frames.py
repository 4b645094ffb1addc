"""The host's check of runner frames, over a scripted channel (the real-container attacks are in
tests/security/test_security_runner_frames.py): shapes, field types, caps, depth, deadlines."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import pytest

from sandloop.errors import SandboxDiedError, SandboxFileError, SandboxTimeoutError
from sandloop.sandboxes import _replies
from sandloop.sandboxes._protocol import RunnerClient

pytestmark = pytest.mark.timeout(30)

HELLO = {
    "hello": "sandloop-runner",
    "protocol": 1,
    "pid": 7,
    "uid": 1000,
    "gid": 1000,
    "root": "/workspace",
    "python": "3.11",
    "ops": ["exec", "ping", "read"],
}
Respond = Callable[[dict[str, Any]], list[bytes]]


def frame(message: Any) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


def reply(request: dict[str, Any], result: Any) -> list[bytes]:
    return [frame({"id": request["id"], "ok": True, "result": result})]


class ScriptedChannel(anyio.abc.ByteStream):
    """A runner that answers each request with what ``respond`` returns, then is silent."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.chunks = [frame({"id": 0, "ok": True, "result": HELLO})]
        self.requests: list[dict[str, Any]] = []
        self.arrived = anyio.Event()
        self.received = 0

    async def receive(self, max_bytes: int = 65536) -> bytes:
        while not self.chunks:
            self.arrived = anyio.Event()
            await self.arrived.wait()  # silent: a stopped runner
        data = self.chunks[0][:max_bytes]
        self.chunks[0] = self.chunks[0][max_bytes:]
        if not self.chunks[0]:
            self.chunks.pop(0)
        self.received += len(data)
        return data

    async def send(self, item: bytes) -> None:
        request = json.loads(item[4:])
        self.requests.append(request)
        self.chunks += self.respond(request)
        self.arrived.set()

    async def send_eof(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


async def started(respond: Respond) -> tuple[RunnerClient, ScriptedChannel]:
    channel = ScriptedChannel(respond)
    client = RunnerClient(channel)
    await client.handshake(timeout=5)
    return client, channel


EXEC = {"max_output": 8}
GOOD_EXEC = {
    "exit_code": 0,
    "timed_out": False,
    "cancelled": False,
    "stdout": "aGk=",
    "stderr": "",
    "stdout_dropped": 0,
    "stderr_dropped": 0,
    "duration": 0.01,
}


async def test_a_valid_exec_reply_is_returned_and_the_request_names_its_cap() -> None:
    client, channel = await started(lambda req: reply(req, GOOD_EXEC))
    assert await client.call("exec", EXEC, timeout=5) == GOOD_EXEC
    assert channel.requests[0]["reply_max"] == _replies.expect("exec", EXEC, limit=1 << 30).cap


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ({**GOOD_EXEC, "exit_code": "0"}, "bad 'exit_code'"),
        ({**GOOD_EXEC, "timed_out": 1}, "bad 'timed_out'"),
        ({**GOOD_EXEC, "stdout": "aGk"}, "bad 'stdout'"),  # not base64
        ({**GOOD_EXEC, "stdout": "QUJDREVGR0hJ"}, "bad 'stdout'"),  # 9 bytes > max_output 8
        ({**GOOD_EXEC, "duration": -1}, "bad 'duration'"),
        ({k: v for k, v in GOOD_EXEC.items() if k != "stderr"}, "bad 'stderr' (missing)"),
        ([1], "is not an object"),
    ],
)
async def test_an_exec_result_of_the_wrong_shape_kills_the_client(bad: Any, said: str) -> None:
    client, _ = await started(lambda req: reply(req, bad))
    with pytest.raises(SandboxDiedError, match="bad frame") as caught:
        await client.call("exec", EXEC, timeout=5)
    assert said in str(caught.value)
    assert not client.alive
    with pytest.raises(SandboxDiedError):
        await client.call("ping", {}, timeout=5)


@pytest.mark.parametrize(
    ("frames", "said"),
    [
        (lambda req: [frame({"id": True, "ok": True, "result": {}})], "id is not an integer"),
        (lambda req: [frame({"id": req["id"], "ok": "yes"})], "'ok' is not a boolean"),
        (lambda req: [frame({"id": req["id"], "ok": False, "error": {"type": 1}})], "'type'"),
        (lambda req: [frame(b'{"id": 1, "ok": true, "result": {"pid": NaN}}')], "not JSON"),
        (lambda req: [frame(b"\xff\xfe")], "not JSON"),
        (lambda req: reply(req, {"pid": 1}) * 2, "request 1, which was answered already"),
        (lambda req: [frame(b"[" * 2000 + b"]" * 2000)], "nested deeper"),  # fits a ping
        (lambda req: [frame(b'{"a": [[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}')], "nested deeper"),
    ],
)
async def test_a_bad_frame_kills_the_client_with_a_typed_error(frames: Respond, said: str) -> None:
    client, _ = await started(frames)

    async def two_pings() -> None:
        await client.call("ping", {}, timeout=5)
        await client.call("ping", {}, timeout=5)  # a duplicate reply is read here

    with pytest.raises(SandboxDiedError, match="bad frame") as caught:
        await two_pings()
    assert said in str(caught.value)


async def test_a_header_over_the_cap_is_refused_without_reading_the_body() -> None:
    # A ping may get at most a few KiB: a 1 MiB header is forged, whatever follows.
    huge = struct.pack(">I", 1 << 20) + b"x" * (1 << 20)
    client, channel = await started(lambda req: [huge])
    before = channel.received
    with pytest.raises(SandboxDiedError, match="announced a frame of 1048576 bytes"):
        await client.call("ping", {}, timeout=5)
    assert channel.received - before <= 65536  # at most one chunk of it was read


async def test_a_silent_runner_times_out_by_the_deadline_and_stays_dead() -> None:
    client, _ = await started(lambda req: [])
    with pytest.raises(SandboxTimeoutError, match=r"'read' within its 0\.2 s deadline"):
        await client.call("read", {"path": "a", "max_bytes": 10}, timeout=0.2)
    with pytest.raises(SandboxDiedError):  # at once: no second deadline to wait for
        await client.call("ping", {}, timeout=60)


async def test_a_call_without_deadline_is_ended_by_a_failed_heartbeat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sandloop.sandboxes import _protocol

    monkeypatch.setattr(_protocol, "HEARTBEAT", 0.1)
    monkeypatch.setattr(_protocol, "PING_DEADLINE", 0.2)
    client, channel = await started(lambda req: [])
    with pytest.raises(SandboxTimeoutError, match="'ping'"):
        await client.call("exec", EXEC)
    assert [req["op"] for req in channel.requests] == ["exec", "ping"]


async def test_a_file_error_reply_still_becomes_a_file_error() -> None:
    error = {"type": "file", "reason": "not_found", "message": "a: missing", "path": "a"}
    client, _ = await started(lambda req: [frame({"id": req["id"], "ok": False, "error": error})])
    with pytest.raises(SandboxFileError) as caught:
        await client.call("read", {"path": "a", "max_bytes": 10}, timeout=5)
    assert caught.value.reason == "not_found"
    assert client.alive


def test_depth_is_checked_without_recursion_and_strings_do_not_count() -> None:
    assert _replies.decode(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"{{{{{{{{{{{{{{{{{{{{{{{"}') == {
        "a": '[[[[[[[[[[[[[[[[[[[[[[[[[[[["{{{{{{{{{{{{{{{{{{{{{{{'
    }
    assert _replies.decode(b'{"a": "\\\\", "b": [[]]}') == {"a": "\\", "b": [[]]}
    for hostile in (b"[" * 1_000_000, b"[" * 100_000 + b"]" * 100_000, b"[}" * 10, b'["]'):
        with pytest.raises(_replies.FrameError):
            _replies.decode(hostile)


async def test_a_stopped_local_runner_ends_exec_by_its_deadline_and_close_ends_it(
    tmp_path: Any,
) -> None:
    from sandloop.sandboxes import LocalSandbox

    sandbox = LocalSandbox(tmp_path)
    async with sandbox:
        sandbox.exec_grace = 1.0
        pid = sandbox._runner().hello["pid"]
        with pytest.raises(SandboxTimeoutError, match="'exec' within its 3 s deadline"):
            await sandbox.exec("kill -STOP $PPID", timeout=2)
        with pytest.raises(SandboxDiedError):
            await sandbox.exec("true", timeout=2)
    with pytest.raises(ProcessLookupError):  # killed and reaped, though it was stopped
        os.kill(pid, 0)


def test_a_frame_in_another_encoding_is_not_guessed() -> None:
    with pytest.raises(_replies.FrameError, match="not JSON"):
        _replies.decode('{"id": 1}'.encode("utf-16-le"))
