"""The ``exec``, ``cancel`` and ``ping`` requests: one command pumped into bounded captures
(and, with ``"stream": true``, out as events while it runs)."""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import select
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from .capture import Capture
from .common import CHUNK, BadRequest, Reply, Request
from .events import OutputStream
from .process import Child, kill_tree, raise_oom_score

if TYPE_CHECKING:
    from .serve import Runner

# After the command's leader exits, background children may still hold its pipes open; we read
# what they wrote in this grace period and then return instead of waiting for them.
PIPE_GRACE = 0.2


class Command:
    """One running command: pipes pumped through a selector into bounded captures."""

    def __init__(self, runner: Runner, req: Request) -> None:
        self.runner = runner
        self.req = req
        cap = int(req.get("max_output", 1024 * 1024))
        self.out = Capture(cap)
        self.err = Capture(cap)
        self.live = OutputStream(runner, req.get("id"), max(cap, 0)) if req.get("stream") else None
        self.child: Child | None = None
        self.started = time.monotonic()
        self.stdin_data: bytes | None = None
        self.spawn_failed = 126
        self.killed_reason: str | None = None
        self.lock = threading.Lock()

    def kill(self, reason: str) -> None:
        with self.lock:
            if self.killed_reason is None:
                self.killed_reason = reason
            child = self.child
        if child is not None:
            kill_tree(child.pid)

    def argv(self) -> list[str]:
        if "shell" in self.req:
            return [self.runner.shell, "-c", str(self.req["shell"])]
        argv = [str(a) for a in self.req.get("argv") or []]
        if not argv:
            raise BadRequest("empty command")
        return argv

    def start(self) -> None:
        """Spawn the command. The reader thread calls it (then a worker calls :meth:`complete`):
        the worker wakes up while the command runs, not before it starts. A command that
        cannot start leaves ``child`` unset and its reply ready (``complete`` returns it)."""
        self.started = time.monotonic()
        cwd = self.runner.command_cwd(self.req.get("cwd"))
        env = dict(self.runner.base_env)
        env.update({str(k): str(v) for k, v in (self.req.get("env") or {}).items()})
        env["PWD"] = cwd
        stdin = self.req.get("stdin")
        self.stdin_data = base64.b64decode(stdin) if stdin else None
        argv = self.argv()
        try:
            child = Child(argv, cwd, env, self.stdin_data is not None)
        except OSError as exc:
            # As a shell says it: 127 only when there is no such command, 126 when there is
            # one that cannot start (not executable, arguments too long, out of processes).
            self.spawn_failed = 127 if exc.errno in (errno.ENOENT, errno.ENOTDIR) else 126
            self.err.feed(f"sandloop: {argv[0]}: {exc.strerror}\n".encode())
            return
        with self.lock:
            self.child = child
            pending_kill = self.killed_reason is not None
        if pending_kill:
            kill_tree(child.pid)
        raise_oom_score(child.pid)

    def complete(self) -> Reply:
        """Pump the started command's pipes to the end, reap it, and make its reply."""
        child, start = self.child, self.started
        if child is None:
            return self.reply(self.spawn_failed, False, start)
        timeout = self.req.get("timeout")
        deadline = start + float(timeout) if timeout is not None else None
        try:
            self.pump(child, self.stdin_data, deadline)
            code = self.finish(child, deadline)
        finally:
            child.close()
        timed_out = self.killed_reason == "timeout"
        if self.live is not None:
            self.live.flush(time.monotonic(), force=True)
        return self.reply(None if timed_out else code, timed_out, start)

    def abandon(self) -> None:
        """Kill and reap a started command nobody will pump (no worker could be had)."""
        child = self.child
        if child is not None:
            kill_tree(child.pid)
            child.wait(None)
            child.close()

    def finish(self, child: Child, deadline: float | None) -> int:
        """Reap the leader (it may have closed its pipes and still run), then end the jobs it
        left in its process group: `cmd &` ends with the command; a job already in a session of
        its own (`setsid -w sh -c 'cmd &'`) survives."""
        code = child.wait(deadline)
        if code is None:
            self.kill("timeout")
            code = child.wait(None)
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
        return code if code is not None else -1

    def pump(self, child: Child, data: bytes | None, deadline: float | None) -> None:
        # poll(2), not a selector: no epoll descriptor to create and close for every command.
        sel = select.poll()
        sinks = {child.stdout: self.out, child.stderr: self.err}
        names = {child.stdout: "stdout", child.stderr: "stderr"}
        reading = set(sinks)
        for fd in sinks:
            sel.register(fd, select.POLLIN)
        if child.stdin is not None:
            sel.register(child.stdin, select.POLLOUT)
        view = memoryview(data or b"")
        exited_at: float | None = None
        # Also while stdin is still being fed: a command may close its output and read on.
        while reading or child.stdin is not None:
            now = time.monotonic()
            if exited_at is None and child.poll() is not None:
                exited_at = now
            # A leader that exited in time finished in time: the grace period that follows
            # (reading what its jobs still write) never turns it into a timeout.
            late = deadline is not None and now >= deadline and exited_at is None
            if late and self.killed_reason is None:
                self.kill("timeout")
            if exited_at is not None and now - exited_at > PIPE_GRACE:
                break
            if self.live is not None:
                self.live.flush(now)
            for fd, _ in sel.poll(50):
                if fd in sinks:
                    chunk = os.read(fd, CHUNK)
                    if chunk:
                        sinks[fd].feed(chunk)
                        if self.live is not None:
                            self.live.feed(names[fd], chunk)
                    else:
                        sel.unregister(fd)
                        reading.discard(fd)
                elif child.stdin is not None:
                    view = self.feed_stdin(sel, child, view)

    def feed_stdin(self, sel: Any, child: Child, view: memoryview) -> memoryview:
        assert child.stdin is not None
        try:
            written = os.write(child.stdin, view[:CHUNK])
        except BlockingIOError:
            return view
        except OSError:  # the command closed its stdin (EPIPE): the rest is not wanted
            written = len(view)
        view = view[written:]
        if not view:
            sel.unregister(child.stdin)
            os.close(child.stdin)
            child.stdin = None
        return view

    def reply(self, code: int | None, timed_out: bool, start: float) -> Reply:
        out, out_dropped = self.out.result()
        err, err_dropped = self.err.result()
        return {
            "exit_code": code,
            "timed_out": timed_out,
            "cancelled": self.killed_reason == "cancel",
            "stdout": base64.b64encode(out).decode("ascii"),
            "stderr": base64.b64encode(err).decode("ascii"),
            "stdout_dropped": out_dropped,
            "stderr_dropped": err_dropped,
            "duration": time.monotonic() - start,
        }


def start_exec(runner: Runner, req: Request) -> Command:
    """Register the request's command (a ``cancel`` finds it from here on) and spawn it; the
    caller then calls :func:`finish_exec`, or :func:`forget_exec` after ``abandon``."""
    command = Command(runner, req)
    with runner.lock:
        if req["id"] in runner.cancelled:
            command.killed_reason = "cancel"
        runner.commands[req["id"]] = command
    try:
        command.start()
    except BaseException:
        forget_exec(runner, req)
        raise
    return command


def finish_exec(runner: Runner, command: Command) -> Reply:
    try:
        return command.complete()
    finally:
        forget_exec(runner, command.req)


def forget_exec(runner: Runner, req: Request) -> None:
    with runner.lock:
        runner.commands.pop(req["id"], None)
        runner.cancelled.discard(req["id"])


def op_exec(runner: Runner, req: Request) -> Reply:
    return finish_exec(runner, start_exec(runner, req))


def op_cancel(runner: Runner, req: Request) -> Reply:
    target = req["target"]
    with runner.lock:
        command = runner.commands.get(target)
        if command is None:
            runner.cancelled.add(target)
    if command is not None:
        command.kill("cancel")
    return {"found": command is not None}


def op_ping(runner: Runner, req: Request) -> Reply:
    return {"pid": os.getpid()}
