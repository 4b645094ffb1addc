"""The runner protocol's client side, written once over any byte channel.

A *channel* is an ``anyio.abc.ByteStream`` to the runner (``_runner.py``): a subprocess's pipes
for ``LocalSandbox``, the container's attach socket for ``DockerSandbox``. :class:`RunnerClient`
frames requests onto it and matches replies to waiters by request id.

There is no background reader task (a sandbox may be started in one task and used in others, as
the pool does). Instead, whichever caller is waiting takes the read lock and reads frames,
delivering each to its waiter; every frame read releases the lock so others can pick up theirs.
EOF or a broken channel marks the client dead and fails every pending and later call at once.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Callable
from contextlib import nullcontext, suppress
from typing import Any

import anyio
import anyio.abc

from sandloop.errors import (
    SandboxDiedError,
    SandboxError,
    SandboxFileError,
    SandboxStartError,
    SandboxTimeoutError,
    SandloopError,
    WorkspacePathError,
)

__all__ = ("NO_PYTHON_MARKER", "RunnerClient", "RunnerMissingError")

HEADER = struct.Struct(">I")
MAX_FRAME = 512 * 1024 * 1024
#: What a container prints instead of starting the runner when it has no python3.
NO_PYTHON_MARKER = b"SANDLOOP-NO-PYTHON"
_FILE_REASONS = frozenset(
    {"not_found", "is_directory", "not_a_directory", "exists", "permission", "too_large", "io"}
)
# A send that cannot finish this fast means the runner stopped reading: the channel is unusable.
_SEND_LIMIT = 30.0

Message = dict[str, Any]


class RunnerMissingError(SandboxStartError):
    """The sandbox has no python3, so the runner cannot start (callers may fall back)."""


class RunnerClient:
    """Sends framed requests to the runner and waits for their replies.

    Args:
        stream: The channel to the runner.
        diagnose: Called when the channel breaks; returns a sentence saying why (the runner's
            stderr, the container's state) for the error message.
    """

    def __init__(
        self, stream: anyio.abc.ByteStream, *, diagnose: Callable[[], str] | None = None
    ) -> None:
        self._stream = stream
        self._diagnose = diagnose
        self._ids = itertools.count(1)
        self._buffer = bytearray()
        self._pending: set[int] = set()
        self._replies: dict[int, Message] = {}
        # fast_acquire: an uncontended lock costs no trip through the event loop; the stream
        # operations inside still checkpoint, so no caller can hog the loop.
        self._read_lock = anyio.Lock(fast_acquire=True)
        self._send_lock = anyio.Lock(fast_acquire=True)
        self._dead: str | None = None
        self.hello: Message = {}

    @property
    def alive(self) -> bool:
        """False once the channel broke or was closed."""
        return self._dead is None

    async def handshake(self, *, timeout: float) -> Message:
        """Wait for the runner's hello frame.

        Raises:
            RunnerMissingError: The sandbox printed the no-python marker instead.
            SandboxStartError: No hello within ``timeout`` or the channel closed first.
        """
        try:
            with anyio.fail_after(timeout):
                while len(self._buffer) < len(NO_PYTHON_MARKER):
                    if self._buffer_has_frame():
                        break
                    await self._fill()
                if self._buffer.startswith(NO_PYTHON_MARKER):
                    raise RunnerMissingError("the sandbox image has no python3 for the runner")
                frame = await self._read_frame()
        except TimeoutError:
            raise SandboxStartError(f"the runner did not say hello within {timeout} s") from None
        except SandboxDiedError as exc:
            raise SandboxStartError(f"the runner did not start: {exc}") from exc
        if frame.get("id") != 0 or "hello" not in frame.get("result", {}):
            raise SandboxStartError(f"the runner sent an unexpected first frame: {frame!r:.200}")
        self.hello = frame["result"]
        return self.hello

    async def call(
        self, op: str, args: Message, *, timeout: float | None = None, cancel_on_abort: bool = False
    ) -> Message:
        """Send one request and return its ``result``.

        Args:
            op: The runner operation (``exec``, ``read``, ...).
            args: The request's other fields.
            timeout: Seconds to wait for the reply before ``SandboxTimeoutError``.
            cancel_on_abort: When the caller is cancelled (or times out), tell the runner to
                kill the request's command.
        """
        rid = next(self._ids)
        self._pending.add(rid)
        try:
            await self._send({**args, "id": rid, "op": op})
            with anyio.fail_after(timeout) if timeout is not None else nullcontext():
                reply = await self._wait(rid)
        except anyio.get_cancelled_exc_class():
            if cancel_on_abort:
                await self._cancel_remote(rid)
            raise
        except TimeoutError:
            if cancel_on_abort:
                await self._cancel_remote(rid)
            msg = f"the runner did not answer {op!r} within {timeout} s"
            raise SandboxTimeoutError(msg) from None
        finally:
            self._pending.discard(rid)
            self._replies.pop(rid, None)
        if reply.get("ok"):
            result: Message = reply.get("result") or {}
            return result
        raise _reply_error(reply.get("error") or {})

    async def aclose(self, *, timeout: float = 2.0) -> None:
        """Ask the runner to exit, then close the channel. Never raises for a dead channel."""
        with anyio.CancelScope(shield=True):
            if self._dead is None:
                with anyio.move_on_after(timeout):
                    with suppress(SandboxError):
                        await self.call("shutdown", {})
            self._mark_dead("the runner channel was closed")
            await self._stream.aclose()

    # --- internals ---------------------------------------------------------------------

    async def _cancel_remote(self, rid: int) -> None:
        # A dead runner took its commands with it: nothing left to cancel then.
        with anyio.CancelScope(shield=True), anyio.move_on_after(5), suppress(SandboxError):
            await self._send({"id": next(self._ids), "op": "cancel", "target": rid})

    async def _send(self, message: Message) -> None:
        if self._dead is not None:
            raise self._died()
        body = json.dumps(message, separators=(",", ":")).encode()
        # Shielded: a half-written frame would corrupt the stream for everyone. The scope's own
        # deadline still applies: a runner that stops reading makes the channel unusable.
        deadline = anyio.current_time() + _SEND_LIMIT
        with anyio.CancelScope(shield=True, deadline=deadline) as scope:
            async with self._send_lock:
                try:
                    await self._stream.send(HEADER.pack(len(body)) + body)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    self._mark_dead("the runner channel broke while sending")
        if scope.cancelled_caught:
            self._mark_dead("the runner stopped reading requests")
        if self._dead is not None:
            raise self._died()

    async def _wait(self, rid: int) -> Message:
        while rid not in self._replies:
            if self._dead is not None:
                raise self._died()
            async with self._read_lock:
                if rid in self._replies or self._dead is not None:
                    continue
                frame = await self._read_frame()
                fid = frame.get("id")
                if fid in self._pending:
                    self._replies[fid] = frame
        return self._replies.pop(rid)

    def _buffer_has_frame(self) -> bool:
        if len(self._buffer) < HEADER.size:
            return False
        size = int(HEADER.unpack_from(self._buffer)[0])
        return len(self._buffer) >= HEADER.size + size

    async def _read_frame(self) -> Message:
        while len(self._buffer) < HEADER.size:
            await self._fill()
        size = int(HEADER.unpack_from(self._buffer)[0])
        if size > MAX_FRAME:
            self._mark_dead(f"the runner sent a garbled frame ({bytes(self._buffer[:16])!r})")
            raise self._died()
        while len(self._buffer) < HEADER.size + size:
            await self._fill()
        body = bytes(self._buffer[HEADER.size : HEADER.size + size])
        del self._buffer[: HEADER.size + size]
        try:
            frame: Message = json.loads(body)
        except ValueError:
            self._mark_dead("the runner sent a frame that is not JSON")
            raise self._died() from None
        return frame

    async def _fill(self) -> None:
        if self._dead is not None:
            raise self._died()
        try:
            chunk = await self._stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            self._mark_dead("the runner exited")
            raise self._died() from None
        self._buffer += chunk

    def _mark_dead(self, why: str) -> None:
        if self._dead is None:
            self._dead = why

    def _died(self) -> SandboxDiedError:
        detail = ""
        if self._diagnose is not None:
            try:
                detail = self._diagnose()
            except Exception as exc:  # diagnosis is best effort; the death is the news
                detail = f"(could not diagnose: {exc})"
        return SandboxDiedError(f"{self._dead}{': ' + detail if detail else ''}")


def _reply_error(error: Message) -> SandloopError:
    message = str(error.get("message") or "the runner reported an error")
    if error.get("type") != "file":
        return SandboxError(f"the runner failed: {message}")
    path = str(error.get("path") or "")
    reason = str(error.get("reason") or "io")
    if reason == "escape":
        return WorkspacePathError(message, path=path)
    return SandboxFileError(message, path=path, reason=reason if reason in _FILE_REASONS else "io")
