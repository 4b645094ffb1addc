"""sandloop's in-sandbox runner: a standalone, stdlib-only python3 program.

It is copied into the container (or run by ``LocalSandbox`` with the host's python) and started
once; the sandbox then talks to it over its stdin/stdout with framed messages, so a command costs
a fork+exec instead of a ``docker exec`` round trip.

Protocol (version 1). Every frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON.
The runner first sends ``{"id": 0, "ok": true, "result": {"hello": "sandloop-runner", ...}}``.
Requests are ``{"id": N, "op": NAME, ...}`` with ids chosen by the client; each gets exactly one
reply ``{"id": N, "ok": true, "result": {...}}`` or ``{"id": N, "ok": false, "error": {...}}``.
Replies come in completion order, so several requests can be in flight. Binary payloads are
base64 strings.

Events: before its reply a request may get *event* frames ``{"id": N, "event": {...}}`` (no
``"ok"``). An ``exec`` with ``"stream": true`` gets ``{"kind": "output", "stream": "stdout" or
"stderr", "data": B64}`` as its command prints: at most 10 flushes a second, each event at most
``EVENT_DATA`` bytes (the newest, when more arrived), at most ``max_output`` bytes per stream in
all; the reply is the same as without. ``spawn`` ({argv, cwd, env}) starts a long-lived process
and stays open while it lives: an event ``{"kind": "started", "pid": P}``, then output events
(stdout as it is read, never more than ``PROC_WINDOW`` bytes beyond what the client acknowledged
with ``proc_ack``: the process is not read meanwhile, so it blocks; stderr coalesced like a
streaming exec's, its overflow dropped), and the reply ``{"exit_code": C}`` once it exited.
``proc_write`` {proc, data} feeds its stdin (the reply comes once all is written),
``proc_close_stdin`` {proc} closes it, ``proc_ack`` {proc, bytes} opens the window again,
``proc_kill`` {proc} kills its process tree (``cancel`` does too). The runner never relies on stdin EOF, but exits on it (or on ``shutdown``), killing
the commands it started.

File operations are confined to the workspace root given as ``argv[1]``: every path is walked one
component at a time with directory file descriptors and ``O_NOFOLLOW``; symlinks are resolved here,
in user space, and refused when they lead out. A symlink swapped in between two steps is therefore
seen and judged at the step that meets it.

To add an operation, write ``def op_name(runner, request) -> dict`` and add it to ``OPS``.

This file must stay importable by any python3 >= 3.8: no third-party imports, no new syntax.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import posixpath
import queue
import secrets
import select
import shutil
import signal
import stat
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Dict, List, Tuple  # noqa: UP035

PROTOCOL = 1
HEADER = struct.Struct(">I")
MAX_FRAME = 512 * 1024 * 1024
CHUNK = 65536
#: Bytes one output event of a streaming exec carries at most; seconds between its flushes.
EVENT_DATA = 8192
EVENT_INTERVAL = 0.1
#: Bytes of a spawned process's stdout sent and not yet acknowledged, at most.
PROC_WINDOW = 256 * 1024
# After the command's leader exits, background children may still hold its pipes open; we read
# what they wrote in this grace period and then return instead of waiting for them.
PIPE_GRACE = 0.2
MAX_SYMLINKS = 40
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW

# typing.Dict, not dict[...]: these aliases are evaluated at run time, on python3 < 3.9 too.
Request = Dict[str, Any]  # noqa: UP006
Reply = Dict[str, Any]  # noqa: UP006
Made = List[Tuple[int, str]]  # noqa: UP006


class FileOpError(Exception):
    """A file operation failed; ``reason`` is one of the SandboxFileError reasons."""

    def __init__(self, reason: str, message: str, path: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.path = path


class BadRequest(Exception):
    """The request itself is wrong (unknown op, empty command): a client bug, not a file error."""


_ERRNO_REASONS = {
    errno.ENOENT: "not_found",
    errno.EISDIR: "is_directory",
    errno.ENOTDIR: "not_a_directory",
    errno.EEXIST: "exists",
    errno.EACCES: "permission",
    errno.EPERM: "permission",
    errno.ENOTEMPTY: "exists",
}


def _os_error(exc: OSError, path: str) -> FileOpError:
    reason = _ERRNO_REASONS.get(exc.errno or 0, "io")
    return FileOpError(reason, f"{path}: {exc.strerror or exc}", path)


def _nofollow_error(exc: OSError, path: str, during: str) -> FileOpError:
    """The error of an ``O_NOFOLLOW`` open: ELOOP there is a symlink swapped in after we looked
    (readlink said it was none), so it is refused as an escape."""
    if exc.errno == errno.ELOOP:
        return FileOpError("escape", f"{path}: symlink changed during the {during}", path)
    return _os_error(exc, path)


# --- bounded output capture ------------------------------------------------------------------


class Capture:
    """Keeps the first and last bytes of a stream and counts what fell out of the middle."""

    def __init__(self, cap: int) -> None:
        self.head_cap = max(cap, 0) // 2
        self.tail_cap = max(cap, 0) - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_cap:
            self.tail += data
            # Trim in batches so a flood of small chunks does not copy the tail each time.
            if len(self.tail) > 2 * self.tail_cap + CHUNK:
                del self.tail[: len(self.tail) - self.tail_cap]

    def result(self) -> tuple[bytes, int]:
        tail = bytes(self.tail[-self.tail_cap :]) if self.tail_cap else b""
        body = bytes(self.head) + tail
        return body, self.total - len(body)


# --- commands --------------------------------------------------------------------------------


def _session_members(leader: int) -> list[int]:
    """Pids in the leader's session or process group, or descended from it (Linux /proc)."""
    found = set()
    parents: dict[int, int] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid, ppid, pgrp, sid = int(name), int(fields[1]), int(fields[2]), int(fields[3])
        parents[pid] = ppid
        if leader in (pgrp, sid):
            found.add(pid)
    for pid in list(parents):
        seen = 0
        cur = pid
        while cur in parents and seen < 64:
            if parents[cur] == leader or parents[cur] in found:
                found.add(pid)
                break
            cur, seen = parents[cur], seen + 1
    found.discard(os.getpid())
    return sorted(found)


def kill_tree(leader: int) -> None:
    """SIGKILL the command's process group and every process it spawned, even ones that setsid."""
    members = _session_members(leader)
    with contextlib.suppress(OSError):
        os.killpg(leader, signal.SIGKILL)
    for pid in members:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# posix_spawn has no "chdir" action before python 3.13: spawns change the runner's own working
# directory under this lock (nothing else in the runner uses relative paths).
_SPAWN_LOCK = threading.Lock()
# Inherited "ignored" dispositions survive exec; commands expect the defaults (like subprocess's
# restore_signals).
_RESTORED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, name)
)


_DEVNULL: list[int] = []


def _devnull() -> int:
    """One /dev/null descriptor for every command without stdin (dup'd per spawn)."""
    if not _DEVNULL:
        _DEVNULL.append(os.open(os.devnull, os.O_RDONLY))
    return _DEVNULL[0]


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Child:
    """A spawned command in its own session: its pid and our ends of its pipes (raw fds).

    ``os.posix_spawn`` (vfork+exec) instead of ``subprocess.Popen``: it costs a fraction of a
    fork of the runner, which is most of a short command's round trip.
    """

    def __init__(self, argv: list[str], cwd: str, env: dict[str, str], with_stdin: bool) -> None:
        self.status: int | None = None
        if with_stdin:
            in_r, in_w = os.pipe()
            os.set_blocking(in_w, False)
            self.stdin: int | None = in_w
        else:
            in_r, self.stdin = os.dup(_devnull()), None
        self.stdout, out_w = os.pipe()
        self.stderr, err_w = os.pipe()
        try:
            self.pid = self._spawn(argv, cwd, env, (in_r, out_w, err_w))
        except BaseException:
            self.close()
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)

    @staticmethod
    def _spawn(argv: list[str], cwd: str, env: dict[str, str], fds: tuple[int, int, int]) -> int:
        exe = argv[0]
        spawn = os.posix_spawn
        if "/" not in exe:
            if env.get("PATH") == os.environ.get("PATH"):
                # The C library searches the runner's own PATH, without a stat per directory.
                spawn = os.posix_spawnp
            else:
                found = shutil.which(exe, path=env.get("PATH", os.defpath))
                if found is None:
                    raise FileNotFoundError(errno.ENOENT, "command not found", exe)
                exe = found
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(fds)]
        with _SPAWN_LOCK:
            os.chdir(cwd)
            try:
                return spawn(
                    exe, argv, env, file_actions=actions, setsid=True, setsigdef=_RESTORED_SIGNALS
                )
            except FileNotFoundError:
                if spawn is os.posix_spawnp:
                    raise FileNotFoundError(errno.ENOENT, "command not found", exe) from None
                raise

    def poll(self) -> int | None:
        """The exit code once the leader exited (reaping it), else ``None``."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = _exit_code(status)
        return self.status

    def wait(self, deadline: float | None) -> int | None:
        """Wait for the leader until ``deadline``; ``None`` when it is still running then."""
        if deadline is None and self.status is None:
            self.status = _exit_code(os.waitpid(self.pid, 0)[1])
        if self.status is None and deadline is not None:
            self._wait_exit(deadline)
        pause = 0.0005
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        return self.status

    def _wait_exit(self, deadline: float) -> None:
        """Sleep until the leader exits or the deadline passes, through a pidfd (Linux >= 5.3,
        python >= 3.9) when there is one; the caller polls after."""
        try:
            pidfd = os.pidfd_open(self.pid)  # type: ignore[attr-defined,unused-ignore]
        except (AttributeError, OSError):
            return
        try:
            select.select([pidfd], [], [], max(deadline - time.monotonic(), 0))
        finally:
            os.close(pidfd)

    def close(self) -> None:
        for fd in (self.stdin, self.stdout, self.stderr):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.stdin = None


class OutputStream:
    """A command's output sent as event frames while it runs: at most one flush every
    ``EVENT_INTERVAL`` seconds, one frame per stream of at most ``EVENT_DATA`` bytes (the newest
    when more arrived), and no more than ``budget`` bytes per stream in all (``None``: no end)."""

    def __init__(self, runner: Runner, rid: Any, budget: int | None) -> None:
        self.runner = runner
        self.rid = rid
        self.left = {"stdout": budget, "stderr": budget}
        self.pending = {"stdout": bytearray(), "stderr": bytearray()}
        self.last = 0.0

    def feed(self, name: str, data: bytes) -> None:
        left = self.left[name]
        if left is not None and left <= 0:
            return
        buf = self.pending[name]
        buf += data
        if len(buf) > 2 * EVENT_DATA:
            del buf[:-EVENT_DATA]

    def flush(self, now: float, force: bool = False) -> None:
        if not force and now - self.last < EVENT_INTERVAL:
            return
        for name, buf in self.pending.items():
            if buf:
                self.last = now
                left = self.left[name]
                size = EVENT_DATA if left is None else min(EVENT_DATA, left)
                data = bytes(buf[-size:]) if size > 0 else b""
                buf.clear()
                if data:
                    self.left[name] = None if left is None else left - len(data)
                    self.runner.event(self.rid, "output", stream=name, data=data)


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

    def run(self) -> Reply:
        start = time.monotonic()
        cwd = self.runner.command_cwd(self.req.get("cwd"))
        env = dict(self.runner.base_env)
        env.update({str(k): str(v) for k, v in (self.req.get("env") or {}).items()})
        env["PWD"] = cwd
        stdin_data = base64.b64decode(self.req["stdin"]) if self.req.get("stdin") else None
        argv = self.argv()
        try:
            child = Child(argv, cwd, env, stdin_data is not None)
        except OSError as exc:
            # As a shell says it: 127 only when there is no such command, 126 when there is
            # one that cannot start (not executable, arguments too long, out of processes).
            code = 127 if exc.errno in (errno.ENOENT, errno.ENOTDIR) else 126
            self.err.feed(f"sandloop: {argv[0]}: {exc.strerror}\n".encode())
            return self.reply(code, False, start)
        with self.lock:
            self.child = child
            pending_kill = self.killed_reason is not None
        if pending_kill:
            kill_tree(child.pid)
        _raise_oom_score(child.pid)
        timeout = self.req.get("timeout")
        deadline = start + float(timeout) if timeout is not None else None
        try:
            self.pump(child, stdin_data, deadline)
            code = self.finish(child, deadline)
        finally:
            child.close()
        timed_out = self.killed_reason == "timeout"
        if self.live is not None:
            self.live.flush(time.monotonic(), force=True)
        return self.reply(None if timed_out else code, timed_out, start)

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


def _raise_oom_score(pid: int) -> None:
    """Make the command, not the runner, the OOM killer's first choice (no privilege needed)."""
    # Plain descriptors: a Python file object costs more than the write, on every command.
    try:
        fd = os.open(f"/proc/{pid}/oom_score_adj", os.O_WRONLY)
    except OSError:
        return
    try:
        os.write(fd, b"1000")
    except OSError:
        pass
    finally:
        os.close(fd)


# --- confined paths --------------------------------------------------------------------------


class Workspace:
    """Resolves caller paths inside the root with directory fds, never leaving it."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def relative(self, path: str) -> list[str]:
        """The path's components relative to the root; raises ``escape`` for outside paths."""
        original = path
        if "\x00" in path:
            raise FileOpError("invalid", "path contains a NUL byte", path)
        if path.startswith("/"):
            prefix = self.root.rstrip("/") + "/"
            if path.rstrip("/") == self.root:
                path = ""
            elif path.startswith(prefix):
                path = path[len(prefix) :]
            else:
                raise FileOpError("escape", f"{path} is outside the workspace {self.root}", path)
        parts = [part for part in path.split("/") if part not in ("", ".")]
        depth = 0
        for part in parts:
            depth += -1 if part == ".." else 1
            if depth < 0:
                raise FileOpError("escape", f"{original} leaves the workspace via '..'", original)
        return parts

    def display(self, path: str) -> str:
        """The logical workspace-relative form of a path, for listings."""
        rel = posixpath.normpath("/".join(self.relative(path)) or ".")
        return "" if rel == "." else rel

    def resolve(
        self,
        path: str,
        *,
        create: bool = False,
        follow: bool = True,
        made: Made | None = None,
        missing: list[str] | None = None,
    ) -> Resolved:
        """Walk to the path's parent directory; returns the open parent fd and the final name.

        The final name is ``None`` when the path is a directory reached by the walk itself (the
        root, or a path ending in ``..``). With ``follow``, a final symlink is resolved too.
        With ``create``, missing directories are made; ``made`` then collects them (a dup of
        each one's parent fd and its name), so a failed commit can remove them again. With a
        ``missing`` list instead, the walk stops at the first missing directory: it returns
        that directory's existing parent and puts the directories still to make in the list.
        """
        pending = self.relative(path)
        fds = [os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)]
        links = 0
        try:
            while pending:
                name = pending.pop(0)
                if name == "..":
                    if len(fds) == 1:
                        raise FileOpError("escape", f"{path} leaves the workspace via '..'", path)
                    os.close(fds.pop())
                    continue
                target = _readlink(fds[-1], name) if (pending or follow) else None
                if target is not None:
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise FileOpError("io", f"{path}: too many levels of symlinks", path)
                    pending = self._link_parts(target, path, fds) + pending
                    continue
                if not pending:
                    return Resolved(fds, name)
                if missing is not None and ".." not in pending:
                    try:
                        fds.append(self._open_dir(fds[-1], name, path, False))
                    except FileOpError as exc:
                        if exc.reason != "not_found":
                            raise
                        missing.extend([name, *pending[:-1]])
                        return Resolved(fds, pending[-1])
                    continue
                fds.append(self._open_dir(fds[-1], name, path, create, made))
            return Resolved(fds, None)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise

    def _link_parts(self, target: str, path: str, fds: list[int]) -> list[str]:
        if not target.startswith("/"):
            return [part for part in target.split("/") if part not in ("", ".")]
        if not (target.rstrip("/") == self.root or target.startswith(self.root.rstrip("/") + "/")):
            raise FileOpError("escape", f"{path}: a symlink leads out of the workspace", path)
        while len(fds) > 1:
            os.close(fds.pop())
        return self.relative(target)

    @staticmethod
    def _open_dir(parent: int, name: str, path: str, create: bool, made: Made | None = None) -> int:
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
        for _ in range(2):
            try:
                return os.open(name, flags, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    msg = f"{path}: no such directory {name!r}"
                    raise FileOpError("not_found", msg, path) from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=parent)
                    if made is not None:
                        made.append((os.dup(parent), name))
            except OSError as exc:
                raise _nofollow_error(exc, path, "walk") from None
        raise FileOpError("io", f"{path}: could not create directory {name!r}", path)


def _readlink(dir_fd: int, name: str) -> str | None:
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None


class Resolved:
    """An open parent directory (plus its ancestors' fds) and the final name within it."""

    def __init__(self, fds: list[int], name: str | None) -> None:
        self.fds = fds
        self.name = name

    @property
    def parent(self) -> int:
        return self.fds[-1]

    def __enter__(self) -> Resolved:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self.fds:
            os.close(fd)


# --- file operations -------------------------------------------------------------------------


def op_read(runner: Runner, req: Request) -> Reply:
    path = str(req["path"])
    with runner.workspace.resolve(path) as res:
        if res.name is None:
            raise FileOpError("is_directory", f"{path} is a directory", path)
        try:
            fd = os.open(res.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=res.parent)
        except OSError as exc:
            raise _nofollow_error(exc, path, "read") from None
        _check_regular(fd, path)
        with os.fdopen(fd, "rb") as fh:
            limit = req.get("max_bytes")
            size = os.fstat(fd).st_size
            if limit is not None and size > int(limit):
                msg = f"{path} is {size} bytes, more than the {limit} allowed"
                raise FileOpError("too_large", msg, path)
            # Bounded also when the file grows meanwhile: the reply must stay within the cap.
            data = fh.read() if limit is None else fh.read(int(limit) + 1)
            if limit is not None and len(data) > int(limit):
                msg = f"{path} grew past the {limit} bytes allowed while it was read"
                raise FileOpError("too_large", msg, path)
    return {"data": base64.b64encode(data).decode("ascii")}


def _check_regular(fd: int, path: str) -> None:
    """Raise (closing the fd) unless it is a regular file: never read a directory or a FIFO."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return
    os.close(fd)
    if stat.S_ISDIR(mode):
        raise FileOpError("is_directory", f"{path} is a directory", path)
    raise FileOpError("io", f"{path} is not a regular file", path)


def op_write(runner: Runner, req: Request) -> Reply:
    path = str(req["path"])
    data = base64.b64decode(req.get("data") or "")
    with runner.workspace.resolve(path, create=True) as res:
        if res.name is None:
            raise FileOpError("is_directory", f"{path} is a directory", path)
        mode = req.get("mode")
        if mode is None:
            mode = _existing_mode(res.parent, res.name, runner.default_mode)
        tmp = f".{res.name[:100]}.{secrets.token_hex(4)}.sandloop-tmp"
        try:
            fd = os.open(tmp, _CREATE_FLAGS, 0o600, dir_fd=res.parent)
        except OSError as exc:
            raise _os_error(exc, path) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                # Permission bits only: a written file never becomes setuid, setgid or sticky.
                os.fchmod(fd, int(mode) & 0o777)
            os.rename(tmp, res.name, src_dir_fd=res.parent, dst_dir_fd=res.parent)
        except OSError as exc:
            _unlink_quietly(tmp, res.parent)
            raise _os_error(exc, path) from None
    return {"size": len(data)}


def _existing_mode(parent: int, name: str, default: int) -> int:
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except OSError:
        return default
    return stat.S_IMODE(info.st_mode) & 0o777 if stat.S_ISREG(info.st_mode) else default


def _unlink_quietly(name: str, parent: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=parent)


def op_delete(runner: Runner, req: Request) -> Reply:
    path = str(req["path"])
    with runner.workspace.resolve(path, follow=False) as res:
        if res.name is None:
            raise FileOpError("is_directory", f"{path} is a directory", path)
        try:
            info = os.stat(res.name, dir_fd=res.parent, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                raise FileOpError("is_directory", f"{path} is a directory", path)
            os.unlink(res.name, dir_fd=res.parent)
        except OSError as exc:
            raise _os_error(exc, path) from None
    return {}


# --- atomic multi-file commits ---------------------------------------------------------------


class Staged:
    """One change of a ``write_files`` commit: where it goes and the hidden files beside it."""

    def __init__(self, path: str, parent: int, name: str, delete: bool) -> None:
        self.path = path
        self.parent = parent  # the deepest existing directory on the way (shared, not owned)
        self.pending: list[str] = []  # directories to make under it, at commit time
        self.dir = parent  # the target's directory, once it exists
        self.name = name
        self.delete = delete
        self.fd: int | None = None  # the new content in an unnamed file (O_TMPFILE)...
        self.tmp: str | None = None  # ...or in a hidden one, in tmp_dir
        self.tmp_dir = parent
        self.old: str | None = None  # the previous file, kept under a hidden name until done
        self.existed = False


class Commit:
    """What one ``write_files`` holds: the staged changes, the directories it made and one
    open descriptor per directory (a patch of many files must not run out of them)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.staged: list[Staged] = []
        self.made: Made = []
        self.dirs: dict[tuple[int, int], int] = {}
        self.opened: list[int] = []
        self.new_dirs: dict[tuple[int, str], int] = {}
        self.seen: dict[tuple[int, int, str], str] = {}
        self.unnamed = 0

    def directory(self, fd: int) -> tuple[int, tuple[int, int]]:
        """Our own descriptor for the directory ``fd`` is open on, and its identity."""
        info = os.fstat(fd)
        key = (info.st_dev, info.st_ino)
        if key not in self.dirs:
            self.dirs[key] = os.dup(fd)
        return self.dirs[key], key

    def close(self) -> None:
        for item in self.staged:
            if item.fd is not None:
                os.close(item.fd)
                item.fd = None
        for fd in [*self.dirs.values(), *self.opened, *(parent for parent, _ in self.made)]:
            os.close(fd)


#: Staged contents kept as unnamed open files at most; more go to hidden named files.
MAX_UNNAMED = 256


def _side_name(name: str, kind: str) -> str:
    return f".{name[:100]}.{secrets.token_hex(4)}.sandloop-{kind}"


def op_write_files(runner: Runner, req: Request) -> Reply:
    """Write and delete several files all or nothing.

    Every path is confined and every new content staged (written and fsynced) before anything
    visible changes: in an unnamed file where the filesystem has O_TMPFILE (so a runner killed
    while staging leaves nothing behind), else in a hidden file; new directories are not made
    yet. Then one tight loop makes the new directories, links and renames the staged files
    into place and moves the deleted ones aside. A failure while staging removes what was
    staged; a failure in the loop puts back what it changed and removes the directories it
    made. Only a crash in the middle of the loop (microseconds) can leave part of the commit.
    """
    changes = req.get("files")
    if not isinstance(changes, list) or not changes:
        raise BadRequest("write_files needs a non-empty list of files")
    commit = Commit(runner)
    try:
        for change in changes:
            _stage(commit, change)
        _commit(commit)
    except BaseException:
        for item in commit.staged:
            _discard(item)
        for parent, name in reversed(commit.made):
            with contextlib.suppress(OSError):  # not empty: someone else put a file there
                os.rmdir(name, dir_fd=parent)
        raise
    else:
        for item in commit.staged:
            if item.old is not None:
                _unlink_quietly(item.old, item.dir)
    finally:
        commit.close()
    return {"count": len(commit.staged)}


def _stage(commit: Commit, change: Request) -> None:
    path = str(change["path"])
    delete = change.get("data") is None
    workspace = commit.runner.workspace
    missing: list[str] = []
    with workspace.resolve(
        path, create=not delete, follow=not delete, made=commit.made, missing=missing
    ) as res:
        if res.name is None:
            raise FileOpError("is_directory", f"{path} is a directory", path)
        parent, key = commit.directory(res.parent)
        name = res.name
    if delete and missing:
        raise FileOpError("not_found", f"{path}: no such directory {missing[0]!r}", path)
    ident = (*key, "/".join([*missing, name]))
    if ident in commit.seen:
        raise FileOpError("exists", f"{path} names the same file as {commit.seen[ident]}", path)
    commit.seen[ident] = path
    item = Staged(path, parent, name, delete)
    item.pending = missing
    commit.staged.append(item)  # from here on, a failure cleans this one up too
    info = None if missing else _lstat(parent, name, path)
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise FileOpError("is_directory", f"{path} is a directory", path)
    item.existed = info is not None
    if delete:
        if info is None:
            raise FileOpError("not_found", f"{path}: no such file", path)
        return
    mode = change.get("mode")
    if mode is None:
        default = commit.runner.default_mode
        mode = default if missing else _existing_mode(parent, name, default)
    data = base64.b64decode(change.get("data") or "")
    _stage_content(item, data, int(mode), unnamed=commit.unnamed < MAX_UNNAMED)
    if item.fd is not None:
        commit.unnamed += 1


def _lstat(parent: int, name: str, path: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _os_error(exc, path) from None


def _stage_content(item: Staged, data: bytes, mode: int, *, unnamed: bool) -> None:
    parent, path = item.parent, item.path
    fd = _open_unnamed(parent) if unnamed else None
    if fd is None:
        tmp = _side_name(item.name, "tmp")
        try:
            fd = os.open(tmp, _CREATE_FLAGS, 0o600, dir_fd=parent)
        except OSError as exc:
            raise _os_error(exc, path) from None
        item.tmp = tmp
    else:
        item.fd = fd
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        # Permission bits only: a written file never becomes setuid, setgid or sticky.
        os.fchmod(fd, mode & 0o777)
        os.fsync(fd)
    except OSError as exc:
        raise _os_error(exc, path) from None
    finally:
        if item.tmp is not None:
            os.close(fd)


_UNNAMED: list[bool] = []


def _open_unnamed(parent: int) -> int | None:
    """An unnamed file in the directory (O_TMPFILE), or None where that cannot be linked in."""
    if not _UNNAMED:
        _UNNAMED.append(hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"))
    if not _UNNAMED[0]:
        return None
    try:
        return os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o600, dir_fd=parent)
    except OSError:
        return None  # the filesystem has no O_TMPFILE (EOPNOTSUPP, EISDIR on old kernels)


def _commit(commit: Commit) -> None:
    """Make every staged change visible; on an error, put back the ones made and raise."""
    done: list[Staged] = []
    item = commit.staged[0]
    try:
        for item in commit.staged:
            if item.delete:
                old = _side_name(item.name, "old")
                os.rename(item.name, old, src_dir_fd=item.dir, dst_dir_fd=item.dir)
                item.old = old
                done.append(item)
                continue
            if item.pending:
                item.dir = _make_dirs(commit, item)
            if item.existed:
                _keep_old(item)
            if item.fd is not None:
                tmp = _side_name(item.name, "tmp")
                os.link(f"/proc/self/fd/{item.fd}", tmp, dst_dir_fd=item.dir)
                item.tmp, item.tmp_dir = tmp, item.dir
            assert item.tmp is not None
            os.rename(item.tmp, item.name, src_dir_fd=item.tmp_dir, dst_dir_fd=item.dir)
            item.tmp = None
            done.append(item)
    except (OSError, FileOpError) as exc:
        for landed in reversed(done):
            _put_back(landed)
        if isinstance(exc, FileOpError):
            raise
        raise _os_error(exc, item.path) from None


def _make_dirs(commit: Commit, item: Staged) -> int:
    """Make (or open, when an earlier change made it) each directory still missing."""
    key = (item.parent, "/".join(item.pending))
    if key not in commit.new_dirs:
        fd = item.parent
        try:
            for name in item.pending:
                child = Workspace._open_dir(fd, name, item.path, True, commit.made)
                if fd != item.parent:
                    os.close(fd)
                fd = child
        except BaseException:
            if fd != item.parent:
                os.close(fd)
            raise
        commit.opened.append(fd)
        commit.new_dirs[key] = fd
    return commit.new_dirs[key]


def _keep_old(item: Staged) -> None:
    # A second name for the file being replaced, so a failed commit can put it back. Without
    # hard links (some filesystems) that one change cannot be undone.
    old = _side_name(item.name, "old")
    with contextlib.suppress(OSError):
        os.link(item.name, old, src_dir_fd=item.dir, dst_dir_fd=item.dir, follow_symlinks=False)
        item.old = old


def _put_back(item: Staged) -> None:
    with contextlib.suppress(OSError):
        if item.old is not None:
            os.rename(item.old, item.name, src_dir_fd=item.dir, dst_dir_fd=item.dir)
            item.old = None
        elif not item.existed:
            os.unlink(item.name, dir_fd=item.dir)


def _discard(item: Staged) -> None:
    if item.tmp is not None:
        _unlink_quietly(item.tmp, item.tmp_dir)
    if item.old is not None:
        _unlink_quietly(item.old, item.dir)


# --- stat and listings -----------------------------------------------------------------------


def _entry(path: str, info: os.stat_result) -> Reply:
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        kind = "symlink"
    elif stat.S_ISDIR(mode):
        kind = "dir"
    elif stat.S_ISREG(mode):
        kind = "file"
    else:
        kind = "other"
    return {"path": path, "kind": kind, "size": info.st_size, "mode": stat.S_IMODE(mode)}


def op_stat(runner: Runner, req: Request) -> Reply:
    path = str(req["path"])
    shown = runner.workspace.display(path) or "."
    try:
        with runner.workspace.resolve(path, follow=False) as res:
            if res.name is None:
                return {"entry": _entry(shown, os.fstat(res.parent))}
            info = os.stat(res.name, dir_fd=res.parent, follow_symlinks=False)
    except FileOpError as exc:
        if exc.reason in ("not_found", "not_a_directory"):
            return {"entry": None}
        raise
    except (FileNotFoundError, NotADirectoryError):
        return {"entry": None}
    return {"entry": _entry(shown, info)}


def op_listdir(runner: Runner, req: Request) -> Reply:
    path = str(req.get("path") or ".")
    base = runner.workspace.display(path)
    with runner.workspace.resolve(path) as res:
        dir_fd = res.parent
        if res.name is not None:
            dir_fd = Workspace._open_dir(res.parent, res.name, path, False)
            res.fds.append(dir_fd)
        entries = []
        for name in sorted(os.listdir(dir_fd)):
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue  # removed while we listed
            entries.append(_entry(posixpath.join(base, name) if base else name, info))
    return {"entries": entries}


# --- command requests ------------------------------------------------------------------------


def op_exec(runner: Runner, req: Request) -> Reply:
    command = Command(runner, req)
    with runner.lock:
        if req["id"] in runner.cancelled:
            command.killed_reason = "cancel"
        runner.commands[req["id"]] = command
    try:
        return command.run()
    finally:
        with runner.lock:
            runner.commands.pop(req["id"], None)
            runner.cancelled.discard(req["id"])


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


# --- long-lived processes (spawn) -----------------------------------------------------------


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
        self.err = OutputStream(runner, self.rid, None)

    def kill(self, reason: str) -> None:
        with self.lock:
            self.killed = True
            child = self.child
        if child is not None:
            kill_tree(child.pid)

    def grant(self, size: int) -> None:
        with self.lock:
            self.credit = min(self.credit + max(size, 0), PROC_WINDOW)

    def run(self) -> Reply:
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
        _raise_oom_score(child.pid)
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
            for fd in reading:
                if fd != child.stdout or credit > 0:
                    sel.register(fd, select.POLLIN)
            for fd, _ in sel.poll(50):
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
        raise BadRequest("no process {!r} (it exited, or was never spawned)".format(req.get("proc")))
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


# --- the desktop (computer image) ------------------------------------------------------------


# Computer use: the sandloop/computer image ships a desktop module (display, xdotool, in-process
# screenshots) and names it in $SANDLOOP_DESKTOP_MODULE. The runner starts that display before
# its hello, so the desktop is ready as soon as the sandbox is; the `desktop` op hands the module
# each request. Images without it say so.
DESKTOP_MODULE = "/usr/local/lib/sandloop/sandloop_desktop.py"
_desktop: list[Any] = []
_desktop_lock = threading.Lock()


def _load_desktop() -> Any:
    with _desktop_lock:
        if not _desktop:
            path = os.environ.get("SANDLOOP_DESKTOP_MODULE") or DESKTOP_MODULE
            if not os.path.isfile(path):
                msg = f"no desktop in this sandbox ({path} is missing): use the computer image"
                raise RuntimeError(msg)
            import importlib.util

            spec = importlib.util.spec_from_file_location("sandloop_desktop", path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            _desktop.append(module)
        return _desktop[0]


def op_desktop(runner: Runner, req: Request) -> Reply:
    reply: Reply = _load_desktop().handle(req)
    return reply


def start_desktop() -> None:
    """Start the computer image's display (at $SANDLOOP_DISPLAY_SIZE); elsewhere a no-op."""
    if not os.environ.get("SANDLOOP_DESKTOP_MODULE"):
        return
    try:
        _load_desktop().main(["sandloop-desktop", "start"])
    except Exception as exc:  # the desktop op retries the start and reports what is wrong
        sys.stderr.write(f"sandloop-runner: the desktop did not start: {exc}\n")


# --- the runner ------------------------------------------------------------------------------


#: Operations run inline on the reader thread (they must be quick and never block).
INLINE = {"cancel", "ping", "proc_ack", "proc_kill"}

OPS: dict[str, Callable[[Runner, Request], Reply]] = {
    "exec": op_exec,
    "cancel": op_cancel,
    "ping": op_ping,
    "read": op_read,
    "write": op_write,
    "delete": op_delete,
    "write_files": op_write_files,
    "stat": op_stat,
    "listdir": op_listdir,
    "desktop": op_desktop,
    "spawn": op_spawn,
    "proc_write": op_proc_write,
    "proc_close_stdin": op_proc_close_stdin,
    "proc_ack": op_proc_ack,
    "proc_kill": op_proc_kill,
}


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
    error = {"type": "file", "reason": "io", "message": f"{path}: {why}", "path": path}
    return {"id": req.get("id"), "ok": False, "error": error}


def _reply_limit(req: Request | None) -> int:
    """The largest reply the client accepts for the request (it says so in ``reply_max``)."""
    asked = (req or {}).get("reply_max")
    return min(int(asked), MAX_FRAME) if isinstance(asked, int) and asked > 0 else MAX_FRAME


def _too_large(req: Request, size: int) -> Reply:
    """The error sent instead of a reply larger than the client accepts (kept small)."""
    what = f"the reply ({size} bytes) is larger than allowed ({_reply_limit(req)})"
    if req.get("op") in ("read", "listdir"):
        path = str(req.get("path") or ".")[:200]
        message = f"{path}: {what}; read less of it (max_bytes)"
        error = {"type": "file", "reason": "too_large", "message": message, "path": path}
    else:
        error = {"type": "request", "message": what + "; ask for less (max_output)"}
    return {"id": req.get("id"), "ok": False, "error": error}


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
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        if len(body) > _reply_limit(request):
            # The client drops a channel that sends more: the request fails alone instead.
            too_large = _too_large(request or {}, len(body))
            body = json.dumps(too_large, separators=(",", ":")).encode("utf-8")
        data = memoryview(HEADER.pack(len(body)) + body)
        with self.write_lock:
            while data:
                data = data[os.write(self.out_fd, data) :]

    def event(self, rid: Any, kind: str, **fields: Any) -> None:
        """Send one event frame for request ``rid`` (``data`` given as bytes)."""
        if isinstance(fields.get("data"), bytes):
            fields["data"] = base64.b64encode(fields["data"]).decode("ascii")
        # When the channel is gone the reader loop sees EOF and exits; nothing to do here.
        with contextlib.suppress(OSError):
            self.send({"id": rid, "event": dict(fields, kind=kind)})

    def handle(self, req: Request) -> None:
        rid = req.get("id")
        try:
            op = OPS.get(str(req.get("op")))
            if op is None:
                raise BadRequest("unknown operation {!r}".format(req.get("op")))
            reply: Reply = {"id": rid, "ok": True, "result": op(self, req)}
        except FileOpError as exc:
            error = {"type": "file", "reason": exc.reason, "message": exc.message, "path": exc.path}
            reply = {"id": rid, "ok": False, "error": error}
        except BadRequest as exc:
            reply = {"id": rid, "ok": False, "error": {"type": "request", "message": str(exc)}}
        except Exception as exc:  # a bug or an odd request must not kill the runner
            error = {"type": "internal", "message": f"{type(exc).__name__}: {exc}"}
            reply = {"id": rid, "ok": False, "error": error}
        # When the channel is gone the reader loop sees EOF and exits; nothing to do here.
        with contextlib.suppress(OSError):
            self.send(reply, req)

    def frames(self) -> Any:
        buf = bytearray()
        while True:
            chunk = os.read(self.in_fd, CHUNK * 4)
            if not chunk:
                return
            buf += chunk
            while len(buf) >= HEADER.size:
                (size,) = HEADER.unpack_from(buf)
                if size > MAX_FRAME:
                    raise ValueError(f"frame of {size} bytes exceeds the limit")
                if len(buf) < HEADER.size + size:
                    break
                body = bytes(buf[HEADER.size : HEADER.size + size])
                del buf[: HEADER.size + size]
                yield json.loads(body.decode("utf-8"))

    def serve(self) -> None:
        hello = {"hello": "sandloop-runner", "protocol": PROTOCOL, "pid": os.getpid()}
        hello.update(root=self.workspace.root, python=sys.version.split()[0], ops=sorted(OPS))
        hello.update(uid=os.getuid(), gid=os.getgid())
        self.send({"id": 0, "ok": True, "result": hello})
        try:
            for req in self.frames():
                if req.get("op") == "shutdown":
                    self.send({"id": req.get("id"), "ok": True, "result": {}}, req)
                    return
                if req.get("op") in INLINE:
                    self.handle(req)
                elif not self.workers.submit(self.handle, req):
                    with contextlib.suppress(OSError):
                        self.send(_no_thread(self, req), req)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv))
