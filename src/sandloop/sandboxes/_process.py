"""SandboxProcess: a long-lived process in a sandbox, as an anyio byte stream.

Part of ``sandboxes``, over the runner protocol (``_protocol``): the runner's ``spawn`` request
stays open while the process lives and carries its output as events; ``proc_write``,
``proc_close_stdin``, ``proc_ack`` and ``proc_kill`` act on it. There is no reader task: a
``receive()`` reads frames until its process has output (events for other requests on the way
are handed to their own waiters), and events for this process read by other waiters meanwhile
wait in its buffer.

Both directions are bounded. stdout: the runner sends at most ``PROC_WINDOW`` bytes beyond what
``receive()`` handed out (it acknowledges them as it goes), so the buffer here holds no more and
a process printing faster than it is read blocks on its pipe; a runner sending more is cut off
as forged. stdin: ``send()`` returns once the runner wrote the data into the pipe, one chunk at
a time. stderr: only its last ``STDERR_KEEP`` bytes are kept.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc

from sandloop.errors import SandboxError
from sandloop.sandboxes._protocol import RunnerClient
from sandloop.sandboxes._replies import PROC_WINDOW

__all__ = ("STDERR_KEEP", "SandboxProcess", "start_process")

#: Bytes of a process's stderr kept (its tail).
STDERR_KEEP = 8192
#: Bytes of stdin sent per ``proc_write`` request.
WRITE_CHUNK = 65536
#: Bytes handed out before they are acknowledged to the runner (a round trip each time).
_ACK_AT = PROC_WINDOW // 4
#: Seconds the process may take to start, and to die once killed.
START_DEADLINE = 60.0
KILL_DEADLINE = 30.0


class SandboxProcess(anyio.abc.ByteStream):
    """A process started with :meth:`Sandbox.open_process`; an anyio ``ByteStream``.

    ``send()`` writes to its stdin, ``receive()`` returns bytes of its stdout (raising
    ``anyio.EndOfStream`` once it exited and everything was read), ``send_eof()`` closes its
    stdin, ``aclose()`` kills it (its whole process tree) and waits for it to end. When the
    sandbox dies or closes under it, ``send()`` and ``receive()`` raise
    ``anyio.BrokenResourceError`` (chained from the ``SandboxError``).

    Attributes:
        argv: What runs.
        pid: Its process id inside the sandbox.
        returncode: Its exit status once it exited (``128 + n`` when killed by signal ``n``),
            else ``None``.
    """

    def __init__(self, client: RunnerClient, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.pid: int | None = None
        self.returncode: int | None = None
        self._client = client
        self._rid = 0
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._unacked = 0
        self._ended = False  # the runner's final reply came
        self._closed = False
        self._failure: BaseException | None = None
        self._read_lock = anyio.Lock()
        self._write_lock = anyio.Lock()

    @property
    def stderr_tail(self) -> bytes:
        """The last few KiB (``STDERR_KEEP``) the process wrote to stderr so far."""
        return bytes(self._stderr)

    async def _start(self, request: dict[str, Any]) -> None:
        """Send the ``spawn`` and wait for the process to run (or fail to start)."""
        self._rid = await self._client.open("spawn", request, on_event=self._on_event)
        try:
            with anyio.fail_after(START_DEADLINE):
                while self.pid is None and not self._ended:
                    await self._progress()
        except TimeoutError:
            await self._abandon()
            message = f"{self.argv[0]!r} did not start within {START_DEADLINE:g} s"
            raise SandboxError(message) from None
        except SandboxError as exc:
            raise SandboxError(f"could not start {self.argv[0]!r}: {exc}") from exc
        except BaseException:  # cancelled: nobody will own the process, so it must not run
            await self._abandon()
            raise

    async def _abandon(self) -> None:
        self._closed = True
        await self._client.cancel(self._rid)
        self._client.forget(self._rid)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event["kind"] == "started":
            self.pid = int(event["pid"])
        elif event["stream"] == "stdout":
            self._stdout += base64.b64decode(event["data"])
        else:
            self._stderr += base64.b64decode(event["data"])
            del self._stderr[:-STDERR_KEEP]

    async def _progress(self) -> None:
        result = await self._client.progress(self._rid)
        if result is not None:
            self._ended = True
            self.returncode = int(result["exit_code"])

    # --- ByteStream -------------------------------------------------------------------------

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """The next bytes of stdout (at most ``max_bytes``), waiting for some.

        Raises:
            anyio.EndOfStream: the process exited and all its output was read.
            anyio.ClosedResourceError: ``aclose()`` was called.
            anyio.BrokenResourceError: the sandbox died or closed.
        """
        async with self._read_lock:
            while not self._stdout:
                self._check_open()
                if self._ended:
                    raise anyio.EndOfStream
                try:
                    await self._progress()
                except SandboxError as exc:
                    self._failure = exc
                    raise anyio.BrokenResourceError from exc
            data = bytes(self._stdout[:max_bytes])
            del self._stdout[:max_bytes]
            self._unacked += len(data)
            if self._unacked >= _ACK_AT and not self._ended:
                await self._acknowledge()
            return data

    async def _acknowledge(self) -> None:
        size, self._unacked = self._unacked, 0
        try:
            await self._client.acknowledge(self._rid, size)
        except SandboxError as exc:
            self._failure = exc
            raise anyio.BrokenResourceError from exc

    async def send(self, item: bytes) -> None:
        """Write ``item`` to the process's stdin; returns once it is in the pipe.

        Raises:
            anyio.BrokenResourceError: the process closed its stdin or exited, or the sandbox
                died.
            anyio.ClosedResourceError: ``send_eof()`` or ``aclose()`` was called.
        """
        async with self._write_lock:
            for start in range(0, len(item), WRITE_CHUNK):
                await self._request("proc_write", data=item[start : start + WRITE_CHUNK])

    async def send_eof(self) -> None:
        """Close the process's stdin (it reads end of file)."""
        async with self._write_lock:
            if not self._ended:
                await self._request("proc_close_stdin")

    async def _request(self, op: str, *, data: bytes | None = None) -> None:
        self._check_open()
        if self._ended:
            raise anyio.BrokenResourceError(f"{self.argv[0]!r} exited ({self.returncode})")
        args: dict[str, Any] = {"proc": self._rid}
        if data is not None:
            args["data"] = base64.b64encode(data).decode("ascii")
        try:
            await self._client.call(op, args)
        except SandboxError as exc:
            if not self._client.alive:
                self._failure = exc
            raise anyio.BrokenResourceError(str(exc)) from exc

    def _check_open(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        if self._failure is not None:
            raise anyio.BrokenResourceError from self._failure

    async def aclose(self) -> None:
        """Kill the process (its whole tree) and wait until it ended. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            if self._ended or not self._client.alive:
                return
            with anyio.move_on_after(KILL_DEADLINE):
                try:
                    await self._client.call("proc_kill", {"proc": self._rid}, timeout=30)
                    while not self._ended:
                        self._stdout.clear()
                        await self._progress()
                except SandboxError:
                    pass  # the sandbox went with it
            self._stdout.clear()
            if not self._ended:
                self._client.forget(self._rid)

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else f"exited {self.returncode}"
        return f"<SandboxProcess {self.argv[0]!r} pid={self.pid} {state}>"


async def start_process(client: RunnerClient, request: dict[str, Any]) -> SandboxProcess:
    """Spawn ``request["argv"]`` over ``client`` and return it once it runs.

    Raises:
        SandboxError: it did not start (no such command, a missing ``cwd``).
    """
    process = SandboxProcess(client, request["argv"])
    await process._start(request)
    return process
