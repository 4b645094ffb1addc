"""Newline-delimited JSON-RPC over a byte stream: the stdio transport for the mcp SDK.

Part of ``executors.mcp``. One transport serves a host process and a process inside the
sandbox alike: it takes any :class:`~._process.ServerStream` (stdin/stdout bytes) and feeds the
SDK's session the memory streams it expects. What the server writes is hostile input when it
runs in the sandbox, so a line is capped (``max_message_bytes``; past it the connection is
broken), lines that are not JSON-RPC are dropped and counted (past :data:`MAX_GARBAGE` the
connection is broken), and the end of the server's stdout is reported as its exit, with its
code and the tail of its stderr. Closing sends EOF, gives the server a moment to exit, then
kills it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import mcp_types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

from sandloop.executors.mcp._process import ServerStream

__all__ = ("MAX_GARBAGE", "byte_stream_transport", "describe_exit")

#: Lines that are not JSON-RPC a server may write before its connection counts as broken.
MAX_GARBAGE = 100
#: Seconds a server has to exit after its stdin closed, before it is killed.
_EXIT_GRACE = 2.0
_Broken = Callable[[str], None]


@contextlib.asynccontextmanager
async def byte_stream_transport(
    process: AbstractAsyncContextManager[ServerStream],
    *,
    on_broken: _Broken,
    max_message_bytes: int,
) -> AsyncIterator[tuple[Any, Any]]:
    """Start the server (enter ``process``) and yield the session's ``(read, write)`` streams.

    ``on_broken`` is told, in words for the model, when the connection ends on the server's
    side: its stdout closed (it exited), it wrote too much garbage or too long a line, or it
    stopped reading its stdin.
    """
    stopping = False

    def report(reason: str) -> None:
        if not stopping:  # the end we caused by closing is not the server breaking
            on_broken(reason)

    async with process as stream:
        read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](0)
        async with read_send, read_recv, write_send, write_recv, anyio.create_task_group() as tg:
            tg.start_soon(_read, stream, read_send, report, max_message_bytes)
            tg.start_soon(_write, stream, write_recv, report)
            try:
                yield read_recv, write_send
            finally:
                stopping = True
                with anyio.CancelScope(shield=True):
                    await _stop(stream)
                tg.cancel_scope.cancel()


async def _read(
    stream: ServerStream,
    sink: MemoryObjectSendStream[SessionMessage | Exception],
    on_broken: _Broken,
    limit: int,
) -> None:
    buffer = bytearray()
    garbage = 0
    try:
        while True:
            try:
                chunk = await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                break
            start = len(buffer)
            buffer += chunk
            while (end := buffer.find(b"\n", start)) >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                start = 0
                message = _parse(line)
                if message is not None:
                    await sink.send(SessionMessage(message))
                elif line.strip():
                    garbage += 1
                    if garbage > MAX_GARBAGE:
                        on_broken(f"it wrote {garbage} lines that are not JSON-RPC: {_quote(line)}")
                        return
            if len(buffer) > limit:
                on_broken(f"it wrote a message longer than {limit} bytes")
                return
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        return  # the session is gone: nothing reads any more
    on_broken(await describe_exit(stream))


def _parse(line: bytes) -> Any:
    """The JSON-RPC message in ``line``, or ``None`` when it holds none."""
    try:
        return mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValueError:
        return None


async def _write(
    stream: ServerStream, source: MemoryObjectReceiveStream[SessionMessage], on_broken: _Broken
) -> None:
    async for message in source:
        text = message.message.model_dump_json(by_alias=True, exclude_unset=True)
        try:
            await stream.send(text.encode() + b"\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            on_broken(await describe_exit(stream, what="stopped reading its stdin"))
            return


async def describe_exit(stream: ServerStream, *, what: str = "closed its stdout") -> str:
    """Words for how the server ended: its exit code (waited for briefly), its stderr's tail."""
    await _wait_exit(stream, 1.0)
    code = stream.returncode
    text = f"it exited with code {code}" if code is not None else f"it {what}"
    tail = stream.stderr_tail.decode(errors="replace").strip()
    if tail:
        text += f"; the end of its stderr: {tail[-1000:]}"
    return text


async def _stop(stream: ServerStream) -> None:
    """EOF on stdin, a moment to exit, then the kill."""
    with contextlib.suppress(Exception):
        await stream.send_eof()
    await _wait_exit(stream, _EXIT_GRACE)
    await stream.aclose()


async def _wait_exit(stream: ServerStream, seconds: float) -> None:
    """Wait up to ``seconds`` for the server to exit. Polled: a server stream says how it
    ended only by ``returncode`` (a sandbox process has no wait())."""
    with anyio.move_on_after(seconds):
        while stream.returncode is None:  # noqa: ASYNC110
            await anyio.sleep(0.02)


def _quote(line: bytes) -> str:
    text = line[:200].decode(errors="replace")
    return repr(text) + ("..." if len(line) > 200 else "")
