"""A local stdio MCP server process as a byte stream, and the one inside a sandbox.

Part of ``executors.mcp``. Both give the JSON-RPC transport (:mod:`._jsonrpc`) the same
shape, an anyio ``ByteStream`` over the server's stdin and stdout with ``returncode`` and
``stderr_tail``: :class:`LocalProcess` wraps a host subprocess (its own session, so closing
it kills its whole process group, children included); :func:`sandbox_process` asks the
sandbox for one (``Sandbox.open_process``, a process started by the runner whose stdio rides
the runner's channel).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.abc

from sandloop.errors import ConfigError

if TYPE_CHECKING:
    from sandloop.sandboxes.base import Sandbox

__all__ = (
    "DEFAULT_INHERITED_ENV",
    "LocalProcess",
    "ServerStream",
    "local_process",
    "sandbox_process",
)

#: What a host server inherits from this process's environment besides its own ``env``.
DEFAULT_INHERITED_ENV = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER")
#: Bytes of the server's stderr kept for error messages.
STDERR_TAIL = 4096
#: Seconds between SIGTERM and SIGKILL when stopping a local server.
_KILL_GRACE = 2.0


class ServerStream(Protocol):
    """What the transport needs of a server process: bytes both ways and how it ended."""

    @property
    def returncode(self) -> int | None: ...

    @property
    def stderr_tail(self) -> bytes: ...

    async def send(self, item: bytes) -> None: ...

    async def receive(self, max_bytes: int = 65536) -> bytes: ...

    async def send_eof(self) -> None: ...

    async def aclose(self) -> None: ...


class LocalProcess(anyio.abc.ByteStream):
    """A host subprocess's stdin (``send``) and stdout (``receive``); ``aclose`` kills it."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self._process = process
        self._stderr = bytearray()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    @property
    def stderr_tail(self) -> bytes:
        return bytes(self._stderr)

    async def send(self, item: bytes) -> None:
        assert self._process.stdin is not None
        await self._process.stdin.send(item)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        assert self._process.stdout is not None
        return await self._process.stdout.receive(max_bytes)

    async def send_eof(self) -> None:
        assert self._process.stdin is not None
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            await self._process.stdin.aclose()

    async def pump_stderr(self) -> None:
        """Read stderr until it closes, keeping its last :data:`STDERR_TAIL` bytes (a server
        whose stderr nobody reads blocks once the pipe is full)."""
        assert self._process.stderr is not None
        with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError, OSError):
            while True:
                self._stderr += await self._process.stderr.receive()
                del self._stderr[:-STDERR_TAIL]

    async def aclose(self) -> None:
        """Stop the process group: SIGTERM, then SIGKILL after a grace period. Shielded."""
        with anyio.CancelScope(shield=True):
            if self._process.returncode is None:
                _signal_group(self.pid, signal.SIGTERM)
                with anyio.move_on_after(_KILL_GRACE):
                    await self._process.wait()
            # Also when the leader is gone: children it left in its group die with it.
            _signal_group(self.pid, signal.SIGKILL)
            with anyio.move_on_after(_KILL_GRACE):
                await self._process.aclose()


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


@contextlib.asynccontextmanager
async def local_process(
    argv: Sequence[str], *, cwd: str | None, env: Mapping[str, str]
) -> AsyncIterator[LocalProcess]:
    """Start ``argv`` on the host in a session of its own; killed (with its group) on exit.

    Raises:
        OSError: the program cannot be started.
    """
    inherited = {k: os.environ[k] for k in DEFAULT_INHERITED_ENV if k in os.environ}
    process = await anyio.open_process(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={**inherited, **env},
        start_new_session=True,
    )
    stream = LocalProcess(process)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(stream.pump_stderr)
            try:
                yield stream
            finally:
                await stream.aclose()
                tg.cancel_scope.cancel()
    finally:
        await stream.aclose()


@contextlib.asynccontextmanager
async def sandbox_process(
    sandbox: Sandbox | None, argv: Sequence[str], *, cwd: str | None, env: Mapping[str, str]
) -> AsyncIterator[ServerStream]:
    """Start ``argv`` inside ``sandbox`` through its runner; killed on exit.

    Raises:
        ConfigError: the run has no sandbox.
        SandboxError: the sandbox cannot run a long-lived process (its image has no python3
            for the runner), or the process did not start.
    """
    if sandbox is None:
        raise ConfigError("an in-sandbox MCP server needs the run's sandbox")
    stream: ServerStream = await sandbox.open_process(list(argv), cwd=cwd, env=dict(env) or None)
    try:
        yield stream
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
