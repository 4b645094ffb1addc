"""Long-lived processes: the ``spawn`` request and the ``proc_*`` requests that act on one.

A ``spawn`` stays open while its process lives: an event ``{"kind": "started", "pid": P}``,
then output events, then the reply ``{"exit_code": C}``. stdout is sent as it is read but never
more than ``PROC_WINDOW`` bytes beyond what the client acknowledged (``proc_ack``): past that
the pipe is not read, so a process printing faster than the client reads blocks on it and
nothing here grows. stderr is coalesced as a streaming exec's output is (``OutputStream``), its
overflow dropped. ``proc_write`` answers once its data is in the pipe; ``proc_close_stdin``
closes it; ``proc_kill`` (and ``cancel``) kill the process tree.
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import signal
import threading
import time
from typing import TYPE_CHECKING

from .commands import PIPE_GRACE
from .common import CHUNK, BadRequest, Reply, Request
from .events import OutputStream
from .process import Child, kill_tree, raise_oom_score

if TYPE_CHECKING:
    from .serve import Runner

#: Bytes of a process's stdout sent and not yet acknowledged, at most.
PROC_WINDOW = 256 * 1024


class Proc:
    """A spawned process that lives beyond one request: its output goes out as events.

    stdout is read only while the client's window has room (``credit``): a process printing
    faster than the client reads is left blocked on its full pipe, so nothing here grows.
    stderr is coalesced and its overflow dropped (``OutputStream``). Writes to stdin come from
    ``proc_write`` requests on worker threads, one at a time (``stdin_lock``).
    """

    def __init__(self, runner: Runner, req: Request) -> None:
        self.runner = runner
        self.req = req
        self.rid = req.get("id")
        self.credit = PROC_WINDOW
        self.lock = threading.Lock()
        self.stdin_lock = threading.Lock()
        self.child: Child | None = None
        self.killed = False
        self.done = False
        self.ended = False  # the pump is over and its wake-up pipe closed
        self.err = OutputStream(runner, self.rid, None)
        # Wakes the pump when the window opens again (or the process is killed), so it does
        # not wait for its next poll timeout to read on.
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def kill(self, reason: str) -> None:
        with self.lock:
            self.killed = True
            child = self.child
        if child is not None:
            kill_tree(child.pid)
        self.wake()

    def grant(self, size: int) -> None:
        with self.lock:
            self.credit = min(self.credit + max(size, 0), PROC_WINDOW)
        self.wake()

    def wake(self) -> None:
        with self.lock:  # never after the pipe is closed: its number may name another file
            if not self.ended:
                with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
                    os.write(self.wake_w, b"w")

    def run(self) -> Reply:
        try:
            return self._run()
        finally:
            with self.lock:
                self.ended = True
                for fd in (self.wake_r, self.wake_w):
                    os.close(fd)

    def _run(self) -> Reply:
        argv = [str(a) for a in self.req.get("argv") or []]
        if not argv:
            raise BadRequest("empty command")
        cwd = self.runner.command_cwd(self.req.get("cwd"))
        env = dict(self.runner.base_env)
        env.update({str(k): str(v) for k, v in (self.req.get("env") or {}).items()})
        env["PWD"] = cwd
        try:
            child = Child(argv, cwd, env, True)
        except OSError as exc:
            raise BadRequest(f"{argv[0]}: {exc.strerror}") from None
        with self.lock:
            self.child = child
            pending_kill = self.killed
        if pending_kill:
            kill_tree(child.pid)
        raise_oom_score(child.pid)
        self.runner.event(self.rid, "started", pid=child.pid)
        try:
            self.pump(child)
            code = child.wait(None)
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGKILL)
        finally:
            with self.stdin_lock:
                self.done = True
                child.close()
        self.err.flush(time.monotonic(), force=True)
        return {"exit_code": code if code is not None else -1}

    def pump(self, child: Child) -> None:
        """Send the output until both pipes end, or the leader exited and they stay quiet
        (a daemon it left may hold them open); a killed process's stdout is discarded."""
        reading = {child.stdout, child.stderr}
        quiet_since: float | None = None
        while reading:
            now = time.monotonic()
            exited = child.poll() is not None
            with self.lock:
                credit = PROC_WINDOW if self.killed else self.credit
            if exited and credit > 0:
                quiet_since = now if quiet_since is None else quiet_since
                if now - quiet_since > PIPE_GRACE:
                    return
            self.err.flush(now)
            sel = select.poll()
            sel.register(self.wake_r, select.POLLIN)
            for fd in reading:
                if fd != child.stdout or credit > 0:
                    sel.register(fd, select.POLLIN)
            for fd, _ in sel.poll(50):
                if fd == self.wake_r:
                    with contextlib.suppress(OSError):
                        os.read(self.wake_r, 4096)
                    continue
                size = CHUNK if fd == child.stderr else min(CHUNK, credit)
                chunk = os.read(fd, size)
                if not chunk:
                    reading.discard(fd)
                    continue
                quiet_since = None
                if fd == child.stderr:
                    self.err.feed("stderr", chunk)
                elif not self.killed:
                    with self.lock:
                        self.credit -= len(chunk)
                    self.runner.event(self.rid, "output", stream="stdout", data=chunk)

    def write(self, data: bytes) -> int:
        """Write all of ``data`` to stdin, waiting while the pipe is full."""
        view = memoryview(data)
        with self.stdin_lock:
            child = self.child
            while view:
                if self.done or self.killed or child is None or child.stdin is None:
                    raise BadRequest("the process's stdin is closed")
                sel = select.poll()
                sel.register(child.stdin, select.POLLOUT)
                if not sel.poll(50):
                    continue
                try:
                    view = view[os.write(child.stdin, view[:CHUNK]) :]
                except BlockingIOError:
                    continue
                except OSError as exc:  # EPIPE: the process closed its stdin or exited
                    raise BadRequest(f"the process's stdin is closed ({exc.strerror})") from None
        return len(data)

    def close_stdin(self) -> None:
        with self.stdin_lock:
            child = self.child
            if child is not None and child.stdin is not None:
                with contextlib.suppress(OSError):
                    os.close(child.stdin)
                child.stdin = None


def op_spawn(runner: Runner, req: Request) -> Reply:
    proc = Proc(runner, req)
    with runner.lock:
        if req["id"] in runner.cancelled:
            proc.killed = True
        runner.commands[req["id"]] = proc
    try:
        return proc.run()
    finally:
        with runner.lock:
            runner.commands.pop(req["id"], None)
            runner.cancelled.discard(req["id"])


def _proc(runner: Runner, req: Request) -> Proc:
    with runner.lock:
        proc = runner.commands.get(req.get("proc"))
    if not isinstance(proc, Proc):
        raise BadRequest(
            "no process {!r} (it exited, or was never spawned)".format(req.get("proc"))
        )
    return proc


def op_proc_write(runner: Runner, req: Request) -> Reply:
    data = base64.b64decode(req.get("data") or "")
    return {"written": _proc(runner, req).write(data)}


def op_proc_close_stdin(runner: Runner, req: Request) -> Reply:
    _proc(runner, req).close_stdin()
    return {}


def op_proc_ack(runner: Runner, req: Request) -> Reply:
    with contextlib.suppress(BadRequest):  # it may have exited meanwhile: nothing to open
        _proc(runner, req).grant(int(req.get("bytes") or 0))
    return {}


def op_proc_kill(runner: Runner, req: Request) -> Reply:
    with contextlib.suppress(BadRequest):  # already gone: killed all the same
        _proc(runner, req).kill("kill")
    return {}
