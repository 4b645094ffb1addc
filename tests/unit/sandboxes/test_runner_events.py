"""Event frames from the runner, over a scripted channel: accepted only for requests that asked
for them, within their size, budget and window, and handed over in order before the reply.
A forged event is a bad frame like any other: the client is dead afterwards."""

from __future__ import annotations

import base64
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from test_runner_frames import GOOD_EXEC, frame, reply, started

from sandloop.errors import SandboxDiedError
from sandloop.sandboxes import _replies
from sandloop.sandboxes._process import SandboxProcess

pytestmark = pytest.mark.timeout(30)

STREAM_EXEC = {"max_output": 64, "stream": True}
OUTPUT = {"kind": "output", "stream": "stdout"}


def event(rid: Any, stream: str = "stdout", data: bytes = b"hi", **extra: Any) -> bytes:
    body = {"kind": "output", "stream": stream, "data": base64.b64encode(data).decode(), **extra}
    return frame({"id": rid, "event": body})


async def test_events_reach_the_handler_in_order_before_the_reply() -> None:
    def respond(req: dict[str, Any]) -> list[bytes]:
        first, second = event(req["id"], data=b"one "), event(req["id"], "stderr", b"two")
        return [first, second, *reply(req, GOOD_EXEC)]

    client, channel = await started(respond)
    seen: list[tuple[str, bytes]] = []
    result = await client.call(
        "exec",
        STREAM_EXEC,
        timeout=5,
        on_event=lambda e: seen.append((e["stream"], base64.b64decode(e["data"]))),
    )
    assert seen == [("stdout", b"one "), ("stderr", b"two")]
    assert result == GOOD_EXEC
    assert channel.requests[0]["stream"] is True
    assert client.alive


async def test_an_async_handler_is_awaited() -> None:
    client, _ = await started(lambda req: [event(req["id"]), *reply(req, GOOD_EXEC)])
    seen: list[str] = []

    async def handler(e: dict[str, Any]) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(e["data"])

    await client.call("exec", STREAM_EXEC, timeout=5, on_event=handler)
    assert seen == ["aGk="]


@pytest.mark.parametrize(
    ("args", "respond", "said"),
    [
        # An exec that did not ask to stream gets no events.
        ({"max_output": 64}, lambda req: [event(req["id"])], "an event for 'exec', which streams"),
        # Events for a request never sent.
        (STREAM_EXEC, lambda req: [event(999)], "request 999, which was never sent"),
        # A stream that is neither stdout nor stderr.
        (STREAM_EXEC, lambda req: [event(req["id"], "stdin")], "bad 'stream'"),
        # Data that is not base64, or empty.
        (
            STREAM_EXEC,
            lambda req: [frame({"id": req["id"], "event": {**OUTPUT, "data": "%%%="}})],
            "bad 'data'",
        ),
        (STREAM_EXEC, lambda req: [event(req["id"], data=b"")], "without data"),
        # A kind an exec never gets.
        (STREAM_EXEC, lambda req: [event(req["id"], kind="started")], "of no kind it may get"),
        # One event larger than the request's max_output.
        (STREAM_EXEC, lambda req: [event(req["id"], data=b"x" * 65)], "bad 'data'"),
        # More than max_output bytes of one stream in all.
        (STREAM_EXEC, lambda req: [event(req["id"], data=b"x" * 40)] * 2, "at most 64"),
        # An event after the reply: the request is answered, nothing more may come for it.
        (
            STREAM_EXEC,
            lambda req: [*reply(req, GOOD_EXEC), event(req["id"])],
            "which was answered already",
        ),
    ],
)
async def test_a_forged_event_kills_the_client(args: Any, respond: Any, said: str) -> None:
    client, _ = await started(respond)

    async def exec_then_ping() -> None:
        await client.call("exec", args, timeout=5, on_event=lambda e: None)
        await client.call("ping", {}, timeout=5)  # reads what came after the reply

    with pytest.raises(SandboxDiedError, match="bad frame") as caught:
        await exec_then_ping()
    assert said in str(caught.value)
    assert not client.alive


async def test_an_event_larger_than_any_event_may_be_is_refused_before_its_fields() -> None:
    # The exec may get a reply of a few MiB, but an event of at most EVENT_DATA bytes.
    big = {"max_output": 4 << 20, "stream": True}
    client, _ = await started(lambda req: [event(req["id"], data=b"x" * (1 << 20))])
    with pytest.raises(SandboxDiedError, match=r"a \d+-byte event for 'exec'"):
        await client.call("exec", big, timeout=5, on_event=lambda e: None)


async def test_events_for_a_call_nobody_waits_for_any_more_are_dropped() -> None:
    # A cancelled caller leaves its request owed: its events and reply are read and dropped.
    gate = anyio.Event()
    waiting: list[dict[str, Any]] = []

    def respond(req: dict[str, Any]) -> list[bytes]:
        if req["op"] == "exec":
            waiting.append(req)
            return []
        if req["op"] == "cancel":
            gate.set()
            target = {"id": waiting[0]["id"]}
            return [event(target["id"]), *reply(target, GOOD_EXEC), *reply(req, {"found": True})]
        return reply(req, {"pid": 1})

    client, _ = await started(respond)
    seen: list[Any] = []
    with anyio.move_on_after(0.2):
        await client.call(
            "exec", STREAM_EXEC, timeout=5, cancel_on_abort=True, on_event=seen.append
        )
    await client.call("ping", {}, timeout=5)
    assert gate.is_set()
    assert seen == []
    assert client.alive


def _spawn_runner(stdout: list[bytes]) -> Any:
    """A runner that starts a process (pid 42) and sends ``stdout`` as its output events."""

    def respond(req: dict[str, Any]) -> list[bytes]:
        if req["op"] == "spawn":
            started = frame({"id": req["id"], "event": {"kind": "started", "pid": 42}})
            return [started, *(event(req["id"], data=chunk) for chunk in stdout)]
        return reply(req, {})

    return respond


async def test_a_process_may_not_send_more_than_its_window_unacknowledged() -> None:
    # Nobody reads the process: other calls read its events (into its buffer), and the runner
    # may send no more than the window before the host acknowledges some.
    chunk = b"x" * _replies.PROC_DATA
    over = _replies.PROC_WINDOW // len(chunk) + 1
    client, _ = await started(_spawn_runner([chunk] * over))
    process = SandboxProcess(client, ["server"])
    await process._start({"argv": ["server"]})
    assert process.pid == 42
    with pytest.raises(SandboxDiedError, match="unacknowledged bytes of stdout"):
        await client.call("ping", {}, timeout=5)
    assert not client.alive


async def test_reading_a_process_acknowledges_what_it_read() -> None:
    chunk = b"x" * _replies.PROC_DATA
    count = _replies.PROC_WINDOW // len(chunk)  # a full window
    client, channel = await started(_spawn_runner([chunk] * count))
    process = SandboxProcess(client, ["server"])
    await process._start({"argv": ["server"]})
    got = 0
    while got < count * len(chunk):
        got += len(await process.receive())
    acks = [req["bytes"] for req in channel.requests if req["op"] == "proc_ack"]
    assert sum(acks) == got
    assert client.alive


async def test_a_second_started_event_is_forged() -> None:
    def respond(req: dict[str, Any]) -> list[bytes]:
        started = frame({"id": req["id"], "event": {"kind": "started", "pid": 42}})
        return [started, started]

    client, _ = await started(respond)
    process = SandboxProcess(client, ["server"])
    await process._start({"argv": ["server"]})
    with pytest.raises(anyio.BrokenResourceError):
        await process.receive()
    assert "a second started event" in str(process._failure)


async def test_every_waiter_of_an_open_request_returns_when_its_reply_comes() -> None:
    # Two tasks wait on one process (a reader and aclose); whichever reads the final reply,
    # the other must not wait on a request that is closed by then.
    spawned: list[dict[str, Any]] = []

    def respond(req: dict[str, Any]) -> list[bytes]:
        spawned.append(req)
        return []  # no event yet: both waiters start from none

    client, channel = await started(respond)
    rid = await client.open("spawn", {"argv": ["server"]}, on_event=lambda e: None)
    results: list[Any] = []

    async def wait() -> None:
        results.append(await client.progress(rid))

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        channel.chunks += reply(spawned[0], {"exit_code": 0})
        channel.arrived.set()
    assert sorted(results, key=str) == [None, {"exit_code": 0}]
