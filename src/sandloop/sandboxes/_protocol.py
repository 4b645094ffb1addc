"""The runner protocol's client side, written once over any byte channel.

A *channel* is an ``anyio.abc.ByteStream`` to the runner (the ``runner/`` program): a
subprocess's pipes for ``LocalSandbox``, the container's attach socket for ``DockerSandbox``.
:class:`RunnerClient` frames requests onto it and matches replies to waiters by request id.

There is no background reader task (a sandbox may be started in one task and used in others, as
the pool does). Instead, whichever caller is waiting takes the read lock and reads frames,
delivering each to its waiter; every frame read releases the lock so others can pick up theirs.
EOF or a broken channel marks the client dead and fails every pending and later call at once.

Every frame is checked before it is believed (``_replies``: size, depth, id, shape) and every
call has a deadline: a bad frame or a reply later than its deadline marks the client dead too,
so a runner that is stopped, hung or impersonated can never make a caller wait forever.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from contextlib import nullcontext, suppress
from typing import Any, NoReturn

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
from sandloop.sandboxes import _replies

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
#: Seconds a call without a deadline (a command without a timeout) waits between liveness
#: checks; each check is a ping that must come back within PING_DEADLINE.
HEARTBEAT = 30.0
PING_DEADLINE = 30.0

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
        self._last_id = 0
        self._buffer = bytearray()
        self._pending: set[int] = set()
        # Every request the runner still owes its one reply (also those nobody waits for any
        # more): a frame with another id, or larger than all of their caps, is forged.
        self._owed: dict[int, _replies.Expected] = {}
        self._replies: dict[int, Message] = {}
        # fast_acquire: an uncontended lock costs no trip through the event loop; the stream
        # operations inside still checkpoint, so no caller can hog the loop.
        self._read_lock = anyio.Lock(fast_acquire=True)
        self._send_lock = anyio.Lock(fast_acquire=True)
        self._dead: str | None = None
        self._timed_out = False
        self.hello: Message = {}

    @property
    def alive(self) -> bool:
        """False once the channel broke, a frame was bad, a deadline passed, or it was closed."""
        return self._dead is None

    async def handshake(self, *, timeout: float) -> Message:
        """Wait for the runner's hello frame.

        Raises:
            RunnerMissingError: The sandbox printed the no-python marker instead.
            SandboxStartError: No hello within ``timeout``, the channel closed first, or the
                first frame is not a valid hello.
        """
        self._owed[0] = _replies.hello()
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
        self.hello = frame["result"]
        return self.hello

    async def call(
        self, op: str, args: Message, *, timeout: float | None = None, cancel_on_abort: bool = False
    ) -> Message:
        """Send one request and return its ``result`` (checked against the request's kind).

        Args:
            op: The runner operation (``exec``, ``read``, ...).
            args: The request's other fields.
            timeout: The call's deadline: seconds the reply may take after the request is
                sent. Past it the runner counts as dead (``SandboxTimeoutError``, a
                ``SandboxDiedError``). ``None``: no deadline, but a ping every ``HEARTBEAT``
                seconds of waiting must come back within ``PING_DEADLINE``.
            cancel_on_abort: When the caller is cancelled, tell the runner to kill the
                request's command.
        """
        rid = self._issue(op, args)
        self._pending.add(rid)
        try:
            await self._send({**args, "id": rid, "op": op, "reply_max": self._owed[rid].cap})
            with anyio.fail_after(timeout) if timeout is not None else nullcontext():
                reply = await (self._wait(rid) if timeout is not None else self._wait_alive(rid))
        except anyio.get_cancelled_exc_class():
            if cancel_on_abort:
                await self._cancel_remote(rid)
            raise
        except TimeoutError:
            self._timed_out = True
            self._mark_dead(f"the runner did not answer {op!r} within its {timeout:g} s deadline")
            raise self._died() from None
        finally:
            self._pending.discard(rid)
            self._replies.pop(rid, None)
        if reply["ok"]:
            result: Message = reply["result"]
            return result
        raise _reply_error(reply["error"])

    async def aclose(self, *, timeout: float = 2.0) -> None:
        """Ask the runner to exit, then close the channel. Never raises for a dead channel."""
        with anyio.CancelScope(shield=True):
            if self._dead is None:
                with anyio.move_on_after(timeout):
                    with suppress(SandboxError):
                        await self.call("shutdown", {})
            self._mark_dead("the runner channel was closed")
            with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await self._stream.aclose()

    # --- internals ---------------------------------------------------------------------

    def _issue(self, op: str, args: Message) -> int:
        self._last_id += 1
        self._owed[self._last_id] = _replies.expect(op, args, limit=MAX_FRAME)
        return self._last_id

    async def _cancel_remote(self, rid: int) -> None:
        # A dead runner took its commands with it: nothing left to cancel then.
        with anyio.CancelScope(shield=True), anyio.move_on_after(5), suppress(SandboxError):
            cid = self._issue("cancel", {})
            await self._send(
                {"id": cid, "op": "cancel", "target": rid, "reply_max": _replies.SMALL}
            )

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
            self._timed_out = True
            self._mark_dead("the runner stopped reading requests")
        if self._dead is not None:
            raise self._died()

    async def _wait_alive(self, rid: int) -> Message:
        """Wait without a deadline, pinging the runner every HEARTBEAT s of silence."""
        while True:
            with anyio.move_on_after(HEARTBEAT):
                return await self._wait(rid)
            await self.call("ping", {}, timeout=PING_DEADLINE)

    async def _wait(self, rid: int) -> Message:
        while rid not in self._replies:
            if self._dead is not None:
                raise self._died()
            async with self._read_lock:
                if rid in self._replies or self._dead is not None:
                    continue
                frame = await self._read_frame()
                if frame["id"] in self._pending:
                    self._replies[frame["id"]] = frame
        return self._replies.pop(rid)

    def _buffer_has_frame(self) -> bool:
        if len(self._buffer) < HEADER.size:
            return False
        size = int(HEADER.unpack_from(self._buffer)[0])
        return len(self._buffer) >= HEADER.size + size

    async def _read_frame(self) -> Message:
        """The next frame, checked: a reply to a request still owed one (and no longer owed)."""
        while len(self._buffer) < HEADER.size:
            await self._fill()
        size = int(HEADER.unpack_from(self._buffer)[0])
        cap = max((expected.cap for expected in self._owed.values()), default=0)
        if size > cap:
            what = f"announced a frame of {size} bytes; no reply it owes may exceed {cap}"
            self._violation(f"{what} ({bytes(self._buffer[:16])!r})")
        while len(self._buffer) < HEADER.size + size:
            await self._fill()
        body = bytes(self._buffer[HEADER.size : HEADER.size + size])
        del self._buffer[: HEADER.size + size]
        try:
            frame = _replies.decode(body)
            fid = frame.get("id")
            if not isinstance(fid, int) or isinstance(fid, bool):
                raise _replies.FrameError(f"a frame whose id is not an integer ({fid!r:.40})")
            expected = self._owed.get(fid)
            if expected is None:
                sent = "answered already" if 0 <= fid <= self._last_id else "never sent"
                raise _replies.FrameError(f"a reply to request {fid}, which was {sent}")
            if size > expected.cap:
                raise _replies.FrameError(f"a {size}-byte reply to {expected.op!r}")
            _replies.check(frame, expected)
        except _replies.FrameError as exc:
            self._violation(str(exc))
        del self._owed[fid]
        return frame

    def _violation(self, what: str) -> NoReturn:
        self._mark_dead(f"the runner channel sent a bad frame: {what}")
        raise self._died()

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
        kind = SandboxTimeoutError if self._timed_out else SandboxDiedError
        return kind(f"{self._dead}{': ' + detail if detail else ''}")


def _reply_error(error: Message) -> SandloopError:
    # The error's fields were checked (`_replies.check`): strings where present.
    message = error["message"] or "the runner reported an error"
    if error.get("type") != "file":
        return SandboxError(f"the runner failed: {message}")
    path = str(error.get("path") or "")
    reason = str(error.get("reason") or "io")
    if reason == "escape":
        return WorkspacePathError(message, path=path)
    return SandboxFileError(message, path=path, reason=reason if reason in _FILE_REASONS else "io")
