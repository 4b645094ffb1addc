"""The attach channel against a scripted websocket server on 127.0.0.1 (no Docker, no cluster):
the upgrade, the channels sorted, and a hostile or broken server refused without a hang."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from kubernetes.client import Configuration

from sandloop.errors import SandboxEngineError, SandboxStartError
from sandloop.sandboxes.kubernetes._attach import connect_attach
from sandloop.sandboxes.kubernetes._websocket import (
    BINARY,
    PING,
    PONG,
    FrameReader,
    Message,
    accept_key,
    encode_frame,
)

Serve = Callable[[anyio.abc.SocketStream, dict[str, str]], Awaitable[None]]


async def _headers(stream: anyio.abc.SocketStream) -> dict[str, str]:
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += await stream.receive()
    lines = raw.split(b"\r\n\r\n")[0].decode().split("\r\n")
    found = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    found[":path"] = lines[0].split()[1]
    return found


def _upgrade(headers: dict[str, str], *, accept: str | None = None) -> bytes:
    key = accept or accept_key(headers["sec-websocket-key"])
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {key}\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n"
    ).encode()


@asynccontextmanager
async def _server(serve: Serve) -> AsyncIterator[Configuration]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await serve(stream, await _headers(stream))

    configuration = Configuration(host=f"http://127.0.0.1:{port}")
    configuration.api_key = {"authorization": "Bearer sekret"}
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield configuration
        tg.cancel_scope.cancel()


async def test_channels_are_sorted_and_stdin_goes_on_channel_zero() -> None:
    received: list[Message] = []
    seen: dict[str, str] = {}

    async def serve(stream: anyio.abc.SocketStream, headers: dict[str, str]) -> None:
        seen.update(headers)
        frames = [(BINARY, b"\x01"), (BINARY, b"\x02oops\n"), (PING, b"hb"), (BINARY, b"\x01hel"),
                  (BINARY, b"\x01lo")]  # fmt: skip
        await stream.send(
            _upgrade(headers) + b"".join(encode_frame(o, p, masked=False) for o, p in frames)
        )
        reader = FrameReader(expect_masked=True)
        while len(received) < 2:
            received.extend(reader.feed(await stream.receive()))
        status = json.dumps({"status": "Failure", "message": "exit 3"}).encode()
        await stream.send(encode_frame(BINARY, b"\x03" + status, masked=False))
        await stream.send(encode_frame(0x8, struct.pack(">H", 1000), masked=False))

    async with _server(serve) as configuration:
        channel = await connect_attach(configuration, "ns", "pod", "sandbox", timeout=10)
        async with channel:
            with anyio.fail_after(10):
                out = b""
                while len(out) < 5:
                    out += await channel.receive()
                assert out == b"hello"  # stdout only, in order, whatever the message bounds
                await channel.send(b"input")
                with pytest.raises(anyio.EndOfStream):
                    await channel.receive()
    assert seen["authorization"] == "Bearer sekret"
    assert seen[":path"].startswith("/api/v1/namespaces/ns/pods/pod/attach?container=sandbox")
    assert received == [Message(PONG, b"hb"), Message(BINARY, b"\x00input")]
    assert "oops" in channel.stderr_tail
    assert "exit 3" in channel.stderr_tail


async def test_a_refused_attach_is_an_engine_error_with_the_servers_message() -> None:
    async def serve(stream: anyio.abc.SocketStream, headers: dict[str, str]) -> None:
        body = json.dumps({"kind": "Status", "message": "pods is forbidden", "code": 403}).encode()
        head = f"HTTP/1.1 403 Forbidden\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        await stream.send(head + body)

    async with _server(serve) as configuration:
        with pytest.raises(SandboxEngineError, match="pods is forbidden") as info:
            await connect_attach(configuration, "ns", "pod", "sandbox", timeout=10)
    assert info.value.status == 403


async def test_a_wrong_accept_key_is_refused() -> None:
    async def serve(stream: anyio.abc.SocketStream, headers: dict[str, str]) -> None:
        await stream.send(_upgrade(headers, accept="bm90IHRoZSBrZXk="))

    async with _server(serve) as configuration:
        with pytest.raises(SandboxStartError, match="accept key"):
            await connect_attach(configuration, "ns", "pod", "sandbox", timeout=10)


async def test_a_server_that_never_answers_times_out() -> None:
    async def serve(stream: anyio.abc.SocketStream, headers: dict[str, str]) -> None:
        await anyio.sleep(30)

    async with _server(serve) as configuration:
        with pytest.raises(SandboxStartError, match=r"no answer within 0\.5 s"):
            await connect_attach(configuration, "ns", "pod", "sandbox", timeout=0.5)


@pytest.mark.parametrize(
    "garbage",
    [
        encode_frame(BINARY, b"\x01masked by a server", masked=True),
        bytes([0x80 | BINARY, 127]) + struct.pack(">Q", 1 << 62),
        bytes([0x80 | 0x5, 0]),
    ],
    ids=["masked", "huge", "bad-opcode"],
)
async def test_a_broken_stream_breaks_the_channel_at_once(garbage: bytes) -> None:
    async def serve(stream: anyio.abc.SocketStream, headers: dict[str, str]) -> None:
        await stream.send(_upgrade(headers) + garbage)
        await anyio.sleep(30)

    async with _server(serve) as configuration:
        channel = await connect_attach(configuration, "ns", "pod", "sandbox", timeout=10)
        async with channel:
            with anyio.fail_after(10), pytest.raises(anyio.BrokenResourceError):
                await channel.receive()
