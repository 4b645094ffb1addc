"""The ``connect`` request: serve a second, faster channel the host offers (a Unix socket).

The host listens on a socket it bind-mounted into the sandbox and asks, over the boot channel,
``{"op": "connect", "path": ..., "token": ...}``. The runner connects, sends the token back first
(the host accepts nothing else), and serves that socket with a second request loop of its own,
on a thread; the boot channel stays open, and the runner still exits when it ends. A connect that
fails (no such socket, a runtime whose mounts do not pass sockets) is an error reply: the host
then goes on over the boot channel.
"""

from __future__ import annotations

import base64
import os
import socket
import sys
import threading
from typing import TYPE_CHECKING

from .common import BadRequest, Reply, Request

if TYPE_CHECKING:
    from .serve import Runner

#: Seconds the connect and the token's send may take.
CONNECT_TIMEOUT = 10.0


def op_connect(runner: Runner, req: Request) -> Reply:
    path = str(req.get("path") or "")
    token = base64.b64decode(str(req.get("token") or ""))
    if not path or not token:
        raise BadRequest("connect needs a socket path and a token")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect(path)
        sock.sendall(token)
        sock.setblocking(True)
    except OSError as exc:
        sock.close()
        raise BadRequest(f"cannot connect to {path}: {exc}") from None
    fd = sock.detach()
    # Another loop of the same kind (its own commands and workers), serving the socket.
    other = type(runner)(runner.workspace.root, fd, fd)
    try:
        threading.Thread(target=_serve, args=(other, fd), daemon=True).start()
    except RuntimeError:  # no thread left (the pids limit): stay on the boot channel
        os.close(fd)
        raise BadRequest("no thread to serve the socket channel") from None
    return {}


def _serve(runner: Runner, fd: int) -> None:
    try:
        runner.serve()
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"sandloop-runner: the socket channel failed: {exc}\n")
    finally:
        os.close(fd)  # the host sees the channel end
