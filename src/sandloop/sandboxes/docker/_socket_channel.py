"""The fast channel of a local engine: a Unix socket the runner connects to, past dockerd.

Every byte over the attach stream goes through dockerd twice (a copy into the container's pipe and
one back, with the engine's multiplexing framing). For an engine on this machine the provisioner
instead listens on a Unix socket of its own, in a fresh directory bind-mounted read-only into the
container at :data:`CONTAINER_DIR`; once the runner has said hello over attach it is asked to
``connect`` there, sends a one-time token first, and then serves the socket (see the runner's
``channels`` module). The host accepts one connection only, checks the token, and removes the
socket file and stops listening at once.

What the container can reach through the mount: nothing but that one listening socket, and only
until the runner has connected. The directory is made here (``mkdtemp``: private to this user,
never inside the workspace), holds no other file, and is mounted read-only, so the container can
neither add a file nor replace the socket by a link (and the host never connects to anything in
it: it only accepts). Its own mode is ``0711`` and the socket's ``0666``, so the container's user,
whatever its uid, can connect.

Any failure (a runtime whose mounts do not pass sockets, such as gVisor by default; a remote or
virtualised engine; a ``TMPDIR`` too long for a socket's path; a token that does not match)
leaves the sandbox on the attach channel. Directory names carry the pid of their process, so a
process killed before it removed its own has it removed by the next one.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from sandloop.errors import SandboxError
from sandloop.sandboxes._fd_stream import FdStream

__all__ = ("CONTAINER_DIR", "SocketOffer")

#: Where the socket's directory appears inside the container.
CONTAINER_DIR = "/run/sandloop-channel"
_NAME = "runner.sock"
# Directory names carry the pid of the process that made them: a later one removes the
# directories of processes that died without removing theirs.
_PREFIX = "sandloop-channel-"
#: Seconds the runner has to connect and send its token.
_ACCEPT_TIMEOUT = 10.0
_TOKEN_BYTES = 32

Ask = Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]


def _sweep_stale() -> None:
    """Remove the directories of processes that are gone (killed before they could), ours only."""
    root = Path(tempfile.gettempdir())
    for entry in root.glob(f"{_PREFIX}*-*"):
        pid = entry.name[len(_PREFIX) :].split("-", 1)[0]
        try:
            if not pid.isdigit() or os.lstat(entry).st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue  # alive under another user, or vanished meanwhile


def _private_dir(workspace: Path | None) -> Path:
    """A new directory private to this user, outside the workspace, holding ``channel/``
    (mode 0711: the container's user may enter it, nobody may list or change it)."""
    _sweep_stale()
    parent = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")).resolve()
    try:
        if workspace is not None and parent.is_relative_to(workspace.resolve()):
            raise OSError(f"the temporary directory {parent} is inside the workspace")
        info = os.lstat(parent)
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise OSError(f"{parent} is not private to this user")
        directory = parent / "channel"
        directory.mkdir(mode=0o700)
        os.chmod(directory, 0o711)
    except OSError:
        shutil.rmtree(parent, ignore_errors=True)
        raise
    return parent


class SocketOffer:
    """A listening socket in a private directory, waiting for the runner's one connection."""

    def __init__(self, parent: Path, listener: socket.socket) -> None:
        self._parent = parent
        self.host_dir = parent / "channel"
        self._listener: socket.socket | None = listener

    @classmethod
    async def open(cls, workspace: Path | None) -> SocketOffer | None:
        """A new offer, or ``None`` when no safe directory can be made for it."""
        try:
            parent = await anyio.to_thread.run_sync(_private_dir, workspace)
        except OSError:
            return None
        path = parent / "channel" / _NAME
        # A plain socket, served by FdStream: the channel's round trip is the point of it.
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.setblocking(False)
            listener.bind(str(path))
            listener.listen(1)
            os.chmod(path, 0o666)  # any uid in the container may connect (it is alone there)
        except OSError:
            listener.close()
            shutil.rmtree(parent, ignore_errors=True)
            return None
        return cls(parent, listener)

    async def accept(self, ask: Ask) -> anyio.abc.ByteStream | None:
        """Ask the runner (over its current channel) to connect; the checked new channel, or
        ``None`` when it could not (the caller stays on the channel it has)."""
        token = secrets.token_bytes(_TOKEN_BYTES)
        args = {"path": f"{CONTAINER_DIR}/{_NAME}", "token": base64.b64encode(token).decode()}
        stream: FdStream | None = None
        try:
            await ask("connect", args, _ACCEPT_TIMEOUT + 5)
            listener = self._listener
            assert listener is not None
            with anyio.fail_after(_ACCEPT_TIMEOUT):
                while stream is None:
                    try:
                        stream = FdStream.of_socket(listener.accept()[0])
                    except BlockingIOError:
                        await anyio.wait_readable(listener)
                received = b""
                while len(received) < len(token):
                    received += await stream.receive(len(token) - len(received))
            if not secrets.compare_digest(received, token):
                raise SandboxError("the socket's first bytes are not the runner's token")
        except (SandboxError, TimeoutError, OSError, anyio.EndOfStream, anyio.BrokenResourceError):
            if stream is not None:
                await stream.aclose()
            return None
        finally:
            await self.close_listener()
        return stream

    async def close_listener(self) -> None:
        """Stop listening and remove the socket file: the directory is empty from here on."""
        listener, self._listener = self._listener, None
        if listener is not None:
            anyio.notify_closing(listener)
            listener.close()
        with suppress(OSError):
            (self.host_dir / _NAME).unlink()

    async def aclose(self) -> None:
        await self.close_listener()
        shutil.rmtree(self._parent, ignore_errors=True)
