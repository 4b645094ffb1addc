"""The runner itself: read framed requests from the channel, run each on a worker thread,
write the replies; and ``main``, which keeps the channel on private descriptors."""

from __future__ import annotations

import base64
import contextlib
import os
import posixpath
import queue
import shutil
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from .commands import Command, finish_exec, forget_exec, start_exec
from .common import BadRequest, FileOpError, Reply, Request
from .desktop import available, start_desktop
from .framing import PROTOCOL, encode, read_frames
from .ops import INLINE, OPS
from .paths import Workspace

if TYPE_CHECKING:
    from collections.abc import Callable

    from .spawned import Proc


class Workers:
    """Threads that run requests, reused: starting a thread per request costs more than a
    short command. A request never waits for a busy worker: one is added instead."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle = 0

    def submit(self, fn: Callable[[Request], None], req: Request) -> bool:
        """Queue the request; ``False`` when no worker is idle and no thread can be started
        (threads count against the sandbox's pids limit, which a command may have used up)."""
        with self.lock:
            reuse = self.idle > 0
            if reuse:
                self.idle -= 1  # reserved for this request
        if not reuse:
            try:
                threading.Thread(target=self.work, daemon=True).start()
            except RuntimeError:
                return False
        self.queue.put((fn, req))
        return True

    def work(self) -> None:
        while True:
            fn, req = self.queue.get()
            fn(req)
            with self.lock:
                self.idle += 1


def _umask() -> int:
    """The process umask, read without setting it where /proc shows it: this class also runs
    inside the host process (restore_on_host), where another thread may be making a file."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _no_thread(runner: Runner, req: Request) -> Reply:
    """The reply to a request no thread could be started for: the call fails, as a command
    that could not start or a file operation that could not run, and the runner goes on."""
    why = "the sandbox is at its process limit (pids): no thread to serve this request"
    if req.get("op") == "exec":
        command = Command(runner, req)
        command.err.feed(f"sandloop: {why}\n".encode())
        return {
            "id": req.get("id"),
            "ok": True,
            "result": command.reply(126, False, time.monotonic()),
        }
    if str(req.get("op")).startswith(("spawn", "proc_")):
        return {"id": req.get("id"), "ok": False, "error": {"type": "request", "message": why}}
    path = str(req.get("path") or "")
    message = f"{path}: {why}" if path else why
    error = {"type": "file", "reason": "io", "message": message, "path": path}
    return {"id": req.get("id"), "ok": False, "error": error}


def _unknown(req: Request) -> Reply:
    raise BadRequest("unknown operation {!r}".format(req.get("op")))


def _failure(rid: Any, exc: Exception) -> Reply:
    """The error reply to request ``rid`` that raised ``exc``."""
    if isinstance(exc, FileOpError):
        error = {"type": "file", "reason": exc.reason, "message": exc.message, "path": exc.path}
    elif isinstance(exc, BadRequest):
        error = {"type": "request", "message": str(exc)}
    else:
        error = {"type": "internal", "message": f"{type(exc).__name__}: {exc}"}
    return {"id": rid, "ok": False, "error": error}


class Runner:
    """Reads requests from the channel, runs each on a thread, writes replies."""

    def __init__(self, root: str, in_fd: int, out_fd: int) -> None:
        self.workspace = Workspace(root)
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.write_lock = threading.Lock()
        self.lock = threading.Lock()
        self.commands: dict[Any, Command | Proc] = {}
        self.cancelled: set[Any] = set()
        self.workers = Workers()
        self.shell = shutil.which("bash") or "/bin/sh"
        self.base_env = dict(os.environ)
        self.default_mode = 0o666 & ~_umask()

    def command_cwd(self, cwd: str | None) -> str:
        if not cwd:
            return self.workspace.root
        full = posixpath.normpath(posixpath.join(self.workspace.root, cwd))
        if not os.path.isdir(full):
            raise FileOpError("not_found", f"working directory {cwd} does not exist", cwd)
        return full

    def send(self, message: Reply, request: Request | None = None) -> None:
        data = memoryview(encode(message, request))
        with self.write_lock:
            while data:
                data = data[os.write(self.out_fd, data) :]

    def reply(self, message: Reply, request: Request) -> None:
        """Send a reply; when the channel is gone the reader loop sees EOF and exits, so a
        reply that cannot be sent is dropped."""
        with contextlib.suppress(OSError):
            self.send(message, request)

    def event(self, rid: Any, kind: str, **fields: Any) -> None:
        """Send one event frame for request ``rid`` (``data`` given as bytes)."""
        if isinstance(fields.get("data"), bytes):
            fields["data"] = base64.b64encode(fields["data"]).decode("ascii")
        # When the channel is gone the reader loop sees EOF and exits; nothing to do here.
        with contextlib.suppress(OSError):
            self.send({"id": rid, "event": dict(fields, kind=kind)})

    def handle(self, req: Request) -> None:
        """Serve one request and send its reply."""
        op = OPS.get(str(req.get("op")))
        self.answer(req, lambda: op(self, req) if op is not None else _unknown(req))

    def answer(self, req: Request, serve: Callable[[], Reply]) -> None:
        """Send the reply to ``req`` whose result ``serve()`` makes, or the error it raised."""
        try:
            reply: Reply = {"id": req.get("id"), "ok": True, "result": serve()}
        except Exception as exc:  # a bug or an odd request must not kill the runner
            reply = _failure(req.get("id"), exc)
        self.reply(reply, req)

    def start_exec(self, req: Request) -> None:
        """An ``exec``: spawned here on the reader thread, pumped to its end on a worker. The
        worker's wake-up then overlaps the command's own run instead of delaying its start."""
        try:
            command = start_exec(self, req)
        except Exception as exc:  # a bad request (no such directory, an empty command)
            self.reply(_failure(req.get("id"), exc), req)
            return

        def complete(req: Request) -> None:
            self.answer(req, lambda: finish_exec(self, command))

        if not self.workers.submit(complete, req):
            command.abandon()
            forget_exec(self, req)
            self.reply(_no_thread(self, req), req)

    def serve(self) -> None:
        hello = {"hello": "sandloop-runner", "protocol": PROTOCOL, "pid": os.getpid()}
        hello.update(root=self.workspace.root, python=sys.version.split()[0], ops=sorted(OPS))
        hello.update(uid=os.getuid(), gid=os.getgid(), desktop=available())
        self.send({"id": 0, "ok": True, "result": hello})
        try:
            for req in read_frames(self.in_fd):
                if req.get("op") == "shutdown":
                    self.send({"id": req.get("id"), "ok": True, "result": {}}, req)
                    return
                op = req.get("op")
                if op in INLINE:
                    self.handle(req)
                elif op == "exec":
                    self.start_exec(req)
                elif not self.workers.submit(self.handle, req):
                    self.reply(_no_thread(self, req), req)
        finally:
            with self.lock:
                commands = list(self.commands.values())
            for command in commands:
                command.kill("shutdown")


def main(argv: list[str]) -> int:
    root = argv[1] if len(argv) > 1 else os.getcwd()
    # Keep the channel on private fds and point 0/1 elsewhere, so nothing (a stray print, a
    # child) can read our requests or write into the reply stream.
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    start_desktop()
    try:
        Runner(root, in_fd, out_fd).serve()
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"sandloop-runner: channel failed: {exc}\n")
        return 1
    return 0
