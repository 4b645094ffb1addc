"""An engine reached over SSH: ``ssh://[user@]host[:port]`` as a forwarded Unix socket.

Part of ``sandboxes.docker``. docker-py's own SSH transport pipes every request through an
``ssh`` process, which gives no socket for the attach channel to wait on. Instead an
:class:`SSHTunnel` runs ``ssh -N -L LOCAL:/var/run/docker.sock`` (OpenSSH's stream-local
forwarding) and the client talks to ``LOCAL``, a socket in a private directory of ours: API calls
and attach streams then work exactly as with a local engine's socket, while the engine is still
*remote* (no bind mounts).

The ``ssh`` program is the user's, with their configuration (keys, agent, known hosts, jump
hosts); ``SANDLOOP_SSH_COMMAND`` replaces it (``ssh -i KEY -F CONFIG``), like
``GIT_SSH_COMMAND``. It runs in batch mode, so it never prompts for a password or an unknown
host key: those fail, with ssh's own message.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from sandloop.errors import ConfigError, SandboxUnavailableError

__all__ = ("REMOTE_SOCKET", "SSHTunnel", "ssh_target")

#: Where the engine listens on the remote machine (the Docker CLI's default too).
REMOTE_SOCKET = "/var/run/docker.sock"
_STDERR_KEEP = 2000
#: Seconds of refused connections through a listening tunnel before giving up.
_REFUSED_GRACE = 2.0


def ssh_target(url: str) -> tuple[str, int | None]:
    """``([user@]host, port)`` from ``ssh://[user@]host[:port]``.

    Raises:
        ConfigError: the address has a path, a query, a password, no host, or a host or user
            that ssh would read as an option.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"docker_host {url!r}: bad port") from exc
    host = parts.hostname
    if parts.scheme != "ssh" or not host:
        raise ConfigError(f"docker_host {url!r} is not ssh://[user@]host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.password:
        raise ConfigError(
            f"docker_host {url!r}: give only ssh://[user@]host[:port] (no path, query or "
            "password; the engine's socket is taken to be /var/run/docker.sock)"
        )
    user = parts.username
    if host.startswith("-") or (user or "").startswith("-"):
        raise ConfigError(f"docker_host {url!r}: a host or user may not start with '-'")
    return (f"{user}@{host}" if user else host), port


def _ssh_command() -> list[str]:
    given = os.environ.get("SANDLOOP_SSH_COMMAND", "").strip()
    command = shlex.split(given) if given else ["ssh"]
    if shutil.which(command[0]) is None:
        raise SandboxUnavailableError(
            f"cannot reach a Docker engine over SSH: {command[0]!r} is not installed "
            "(install OpenSSH's client, or set SANDLOOP_SSH_COMMAND)"
        )
    return command


def _death_signal() -> Callable[[], None] | None:
    """For ``preexec_fn``: let the kernel stop the tunnel when this process dies, however it
    dies (Linux ``PR_SET_PDEATHSIG``). ``prctl`` is looked up here, in the parent: the child of
    a threaded process should run as little as it can before ``exec`` (no ``dlopen``)."""
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def in_child() -> None:  # pragma: no cover - runs in the child
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return in_child


class SSHTunnel:
    """One ``ssh -N -L`` process forwarding a private local socket to the remote engine's.

    Args:
        url: ``ssh://[user@]host[:port]``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.target, self.port = ssh_target(url)
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        assert self._dir is not None, "the tunnel is not open"
        return self._dir / "docker.sock"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def open(self, timeout: float) -> str:
        """Start the tunnel and wait until the engine's socket answers through it.

        Returns:
            The ``unix://`` address to give the Docker client.

        Raises:
            SandboxUnavailableError: ssh exited (refused key, unknown host, no route: its
                message is included) or the forwarded socket did not come up in time.
        """
        command = _ssh_command()
        self._dir = Path(tempfile.mkdtemp(prefix="sandloop-ssh-"))  # 0700: ours alone
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        argv = [
            *command,
            "-N",
            "-o", "BatchMode=yes",
            "-o", "ExitOnForwardFailure=yes",
            "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=4",
            "-L", f"{self.socket_path}:{REMOTE_SOCKET}",
            *(["-p", str(self.port)] if self.port else []),
            "--", self.target,
        ]  # fmt: skip
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            preexec_fn=_death_signal(),
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.close()
            raise
        return f"unix://{self.socket_path}"

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        refused_since: float | None = None
        while True:
            code = self._process.poll()
            if code is not None:
                raise SandboxUnavailableError(
                    f"ssh to {self.target} for the Docker engine at {self.url} exited with "
                    f"status {code}: {self._stderr_text() or 'no message'}"
                )
            now = time.monotonic()
            if self.socket_path.exists():
                if _answers(self.socket_path):
                    return
                # ssh listens but the far side refuses each connection: forwarding is denied
                # there, or no engine listens on its socket. Waiting longer will not help.
                refused_since = refused_since or now
                if now - refused_since > _REFUSED_GRACE:
                    raise SandboxUnavailableError(
                        f"ssh to {self.target} logged in, but {REMOTE_SOCKET} there could not "
                        "be reached: no Docker engine listens on it, the user may not use it, "
                        "or the server forbids forwarding (AllowStreamLocalForwarding)"
                    )
            if now > deadline:
                raise SandboxUnavailableError(
                    f"ssh to {self.target} did not forward the Docker engine's socket within "
                    f"{timeout:g} s ({self._stderr_text() or 'ssh printed nothing'})"
                )
            time.sleep(0.05)

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read()[-_STDERR_KEEP:].decode("utf-8", "replace")
        return " ".join(text.split())

    def close(self) -> None:
        """Stop ssh and remove the local socket's directory; safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _answers(path: Path) -> bool:
    """Whether a connection to the forwarded socket reaches the engine (ssh accepts the local
    connection first and only then opens the remote one, which may fail)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/")
        except OSError:
            return False
