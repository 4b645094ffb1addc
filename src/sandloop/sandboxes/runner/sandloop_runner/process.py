"""Spawned commands: a child in its own session, its exit, and killing everything it started."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import shutil
import signal
import threading
import time


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
    """One /dev/null descriptor (close-on-exec) for every command without stdin."""
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
        # Without stdin the shared /dev/null is the child's (dup2'd there by the spawn).
        ours: list[int] = []
        if with_stdin:
            in_r, in_w = os.pipe()
            os.set_blocking(in_w, False)
            self.stdin: int | None = in_w
            ours.append(in_r)
        else:
            in_r, self.stdin = _devnull(), None
        self.stdout, out_w = os.pipe()
        self.stderr, err_w = os.pipe()
        ours += [out_w, err_w]
        try:
            self.pid = self._spawn(argv, cwd, env, (in_r, out_w, err_w))
        except BaseException:
            self.close()
            raise
        finally:
            for fd in ours:
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


def raise_oom_score(pid: int) -> None:
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
