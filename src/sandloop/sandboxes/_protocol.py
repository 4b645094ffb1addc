"""The runner protocol's client side, written once over any byte channel.

A *channel* is an ``anyio.abc.ByteStream`` to the runner (the ``runner/`` program): a
subprocess's pipes for ``LocalSandbox``, the container's attach socket for ``DockerSandbox``.
:class:`RunnerClient` frames requests onto it and matches replies to waiters by request id.

There is no background reader task (a sandbox may be started in one task and used in others, as
the pool does). Instead, whichever caller is waiting takes the read lock and reads frames,
delivering each to its waiter; every frame read releases the lock so others can pick up theirs.
EOF or a broken channel marks the client dead and fails every pending and later call at once.

A request may get *event* frames before its one reply (a streaming ``exec``'s output as it
arrives, a spawned process's output), and only requests that asked for them; any other event is
a bad frame. A call's events go to its handler in the caller's own task (they wait, bounded by
the request's budget, until it takes them). A request that stays open (``spawn``, sent with
:meth:`RunnerClient.open`) has its events handed to its handler as soon as any waiter reads
them, so that none wait unbounded for a reader that may never come; its owner waits for them
with :meth:`RunnerClient.progress`.

Every frame is checked before it is believed (``_replies``: size, depth, id, shape) and every
call has a deadline: a bad frame or a reply later than its deadline marks the client dead too,
so a runner that is stopped, hung or impersonated can never make a caller wait forever.
"""

from __future__ import annotations

import inspect
import json
import struct
from collections import deque
from collections.abc import Awaitable, Callable
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

__all__ = ("NO_PYTHON_MARKER", "EventHandler", "RunnerClient", "RunnerMissingError")

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
# Made once: json.dumps with an option makes an encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
#: Called with each event of a request (its ``event`` object, checked), sync or async.
EventHandler = Callable[[Message], Awaitable[None] | None]


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
        # A channel that can write without waiting (``FdStream.send_nowait``): bytes written.
        self._send_now: Callable[[bytes], int] | None = getattr(stream, "send_nowait", None)
        self._diagnose = diagnose
        self._last_id = 0
        self._buffer = bytearray()
        self._pending: set[int] = set()
        # Every request the runner still owes its one reply (also those nobody waits for any
        # more): a frame with another id, or larger than all of their caps, is forged.
        self._owed: dict[int, _replies.Expected] = {}
        self._replies: dict[int, Message] = {}
        # Requests that take events: their handlers, the events read for them and not yet
        # handed over, and what their events carried so far (while they are owed a reply).
        self._handlers: dict[int, EventHandler] = {}
        self._events: dict[int, deque[Message]] = {}
        self._tallies: dict[int, _replies.EventTally] = {}
        # Open requests (``open``): their events go to the handler at once, and are counted.
        self._arrived: dict[int, int] = {}
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
        self,
        op: str,
        args: Message,
        *,
        timeout: float | None = None,
        cancel_on_abort: bool = False,
        on_event: EventHandler | None = None,
    ) -> Message:
        """Send one request and return its ``result`` (checked against the request's kind).

        Args:
            op: The runner operation (``exec``, ``read``, ...).
            args: The request's other fields.
            timeout: The call's deadline: seconds the reply may take after the request is
                sent. Past it the runner counts as dead (``SandboxTimeoutError``, a
                ``SandboxDiedError``). ``None``: no deadline, but a ping every ``HEARTBEAT``
                seconds of waiting must come back within ``PING_DEADLINE``.
            cancel_on_abort: When the caller is cancelled (or ``on_event`` raises), tell the
                runner to kill the request's command.
            on_event: Gets the request's events before the reply (``exec`` with ``stream``).
        """
        rid = self._issue(op, args)
        self._pending.add(rid)
        if on_event is not None:
            self._handlers[rid] = on_event
        try:
            await self._send({**args, "id": rid, "op": op, "reply_max": self._owed[rid].cap})
            with anyio.fail_after(timeout) if timeout is not None else nullcontext():
                reply = await (self._wait(rid) if timeout is not None else self._wait_alive(rid))
        except TimeoutError:
            self._timed_out = True
            self._mark_dead(f"the runner did not answer {op!r} within its {timeout:g} s deadline")
            raise self._died() from None
        except BaseException:
            if cancel_on_abort and self._dead is None:
                await self._cancel_remote(rid)
            raise
        finally:
            self.forget(rid)
        return _result(reply)

    async def open(self, op: str, args: Message, *, on_event: Callable[[Message], None]) -> int:
        """Send a request that stays open (``spawn``) and return its id.

        Its events go to ``on_event`` as soon as any waiter reads them (so it must be quick,
        and hold what it keeps bounded); :meth:`progress` waits for them and for the final
        reply; :meth:`forget` stops listening.
        """
        rid = self._issue(op, args)
        self._pending.add(rid)
        self._handlers[rid] = on_event
        self._arrived[rid] = 0
        try:
            await self._send({**args, "id": rid, "op": op, "reply_max": self._owed[rid].cap})
        except BaseException:
            self.forget(rid)
            raise
        return rid

    async def progress(self, rid: int) -> Message | None:
        """Wait until the open request ``rid`` got events (handed to its handler: ``None``) or
        its reply (its ``result``; the request is then closed). Pings the runner every
        ``HEARTBEAT`` seconds of silence, as a call without a deadline does.

        Raises:
            SandboxError: the reply is an error, or the runner is gone.
        """
        since = self._arrived.get(rid, 0)
        while True:
            with anyio.move_on_after(HEARTBEAT):
                reply = await self._next(rid, since=since)
                break
            await self.call("ping", {}, timeout=PING_DEADLINE)
        if reply is None:
            return None
        self.forget(rid)
        return _result(reply)

    async def acknowledge(self, rid: int, size: int) -> None:
        """Tell the runner that ``size`` more bytes of the open request's stdout were consumed
        (``proc_ack``), without waiting for its reply (read and dropped by any later waiter):
        reading a process costs no round trip. Counted here first, so the runner's window is
        never wider than the host's."""
        tally = self._tallies.get(rid)
        if tally is not None:
            tally.ack(size)
        aid = self._issue("proc_ack", {})
        await self._send({"id": aid, "op": "proc_ack", "proc": rid, "bytes": size,
                          "reply_max": _replies.SMALL})  # fmt: skip

    async def cancel(self, rid: int) -> None:
        """Tell the runner to kill request ``rid``'s process (also when it has not started it
        yet), without waiting; never raises."""
        await self._cancel_remote(rid)

    def forget(self, rid: int) -> None:
        """Stop waiting for ``rid``: its later events and reply are read and dropped."""
        self._pending.discard(rid)
        self._replies.pop(rid, None)
        self._handlers.pop(rid, None)
        self._events.pop(rid, None)
        self._arrived.pop(rid, None)

    async def aclose(self, *, timeout: float = 2.0, goodbye: bool = True) -> None:
        """Ask the runner to exit (unless ``goodbye`` is false: a channel nobody reads any
        more), then close the channel. Never raises for a dead channel."""
        with anyio.CancelScope(shield=True):
            if self._dead is None and goodbye:
                with anyio.move_on_after(timeout):
                    with suppress(SandboxError):
                        await self.call("shutdown", {})
            self._mark_dead("the runner channel was closed")
            with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await self._stream.aclose()

    # --- internals ---------------------------------------------------------------------

    def _issue(self, op: str, args: Message) -> int:
        self._last_id += 1
        expected = _replies.expect(op, args, limit=MAX_FRAME)
        self._owed[self._last_id] = expected
        if expected.events is not None:
            self._tallies[self._last_id] = _replies.EventTally(expected.events)
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
        body = _ENCODER.encode(message).encode()
        frame = HEADER.pack(len(body)) + body
        held = False
        if self._send_now is not None and not self._send_lock.locked():
            # Nobody else is sending: what the channel takes at once (all of a small frame, as
            # a rule) goes out without a trip through the event loop.
            try:
                frame = frame[self._send_now(frame) :]
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                self._mark_dead("the runner channel broke while sending")
                raise self._died() from None
            if not frame:
                return
            # The rest of this frame goes before anyone else's: the lock is taken before any
            # other task could run.
            self._send_lock.acquire_nowait()
            held = True
        # Shielded: a half-written frame would corrupt the stream for everyone. The scope's own
        # deadline still applies: a runner that stops reading makes the channel unusable.
        deadline = anyio.current_time() + _SEND_LIMIT
        with anyio.CancelScope(shield=True, deadline=deadline) as scope:
            try:
                if not held:
                    await self._send_lock.acquire()
                    held = True
                await self._stream.send(frame)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                self._mark_dead("the runner channel broke while sending")
            finally:
                if held:
                    self._send_lock.release()
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
        """The reply to ``rid``, its events handed over first."""
        reply = await self._next(rid, since=None)
        assert reply is not None  # only an open request's wait returns early
        return reply

    async def _next(self, rid: int, *, since: int | None) -> Message | None:
        """The reply to ``rid``, its events handed over first; for an open request (``since``
        given), ``None`` as soon as its events arrived past that count, or once another
        waiter took its reply (it is forgotten then)."""
        while True:
            await self._deliver(rid)
            if rid in self._replies:
                return self._replies.pop(rid)
            if since is not None and self._arrived.get(rid, -1) != since:
                return None
            if self._dead is not None:
                raise self._died()
            async with self._read_lock:
                if rid in self._replies or self._events.get(rid) or self._dead is not None:
                    continue
                if since is not None and self._arrived.get(rid, -1) != since:
                    continue
                self._route(await self._read_frame())

    def _route(self, frame: Message) -> None:
        fid = frame["id"]
        if "ok" in frame:
            if fid in self._pending:
                self._replies[fid] = frame
        elif fid in self._arrived:
            self._arrived[fid] += 1
            self._handlers[fid](frame["event"])
        elif fid in self._handlers:
            self._events.setdefault(fid, deque()).append(frame["event"])

    async def _deliver(self, rid: int) -> None:
        """Hand the events read for ``rid`` to its handler, in this (the waiter's) task."""
        queue = self._events.get(rid)
        handler = self._handlers.get(rid)
        while queue and handler is not None:
            result = handler(queue.popleft())
            if inspect.isawaitable(result):
                await result

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
        cap = max((expected.largest for expected in self._owed.values()), default=0)
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
            if "ok" not in frame and "event" in frame:
                return self._event(frame, expected, size)
            if size > expected.cap:
                raise _replies.FrameError(f"a {size}-byte reply to {expected.op!r}")
            _replies.check(frame, expected)
        except _replies.FrameError as exc:
            self._violation(str(exc))
        del self._owed[fid]
        self._tallies.pop(fid, None)
        return frame

    def _event(self, frame: Message, expected: _replies.Expected, size: int) -> Message:
        """An event frame, checked and counted (its request stays owed its reply)."""
        rule = expected.events
        if rule is not None and size > rule.cap:
            raise _replies.FrameError(f"a {size}-byte event for {expected.op!r}")
        event = _replies.check_event(frame, expected)
        self._tallies[frame["id"]].admit(event)
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


def _result(reply: Message) -> Message:
    if reply["ok"]:
        result: Message = reply["result"]
        return result
    raise _reply_error(reply["error"])


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
