"""The Sandbox operations implemented once over the runner protocol.

``LocalSandbox`` and ``DockerSandbox`` differ only in how they start the runner and open the
channel to it (their provisioner); everything an executor calls lives here.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import anyio.lowlevel

from sandloop.errors import ConfigError, SandboxError
from sandloop.sandboxes._process import SandboxProcess
from sandloop.sandboxes._protocol import EventHandler, Message, RunnerClient
from sandloop.sandboxes._replies import DEFAULT_READ_MAX
from sandloop.sandboxes.base import (
    DEFAULT_MAX_OUTPUT,
    DesktopChannel,
    ExecResult,
    FileEntry,
    OnOutput,
    Sandbox,
)

__all__ = ("RunnerSandbox", "exec_request", "exec_result")

#: Seconds a file operation or a ping may take before the runner counts as dead.
FILE_OP_TIMEOUT = 120.0
#: Seconds a command's reply may come after its own timeout (killing it, reaping, sending its
#: output) before the runner counts as dead.
EXEC_GRACE = 30.0


def exec_request(
    command: str | Sequence[str],
    *,
    cwd: str | None,
    env: Mapping[str, str] | None,
    timeout: float | None,
    stdin: bytes | None,
    max_output: int,
) -> dict[str, Any]:
    """The runner's ``exec`` request for a command; validates what the runner cannot."""
    request: dict[str, Any] = {"max_output": max(int(max_output), 0)}
    if isinstance(command, str):
        if not command.strip():
            raise ConfigError("empty command")
        request["shell"] = command
    else:
        argv = [str(arg) for arg in command]
        if not argv:
            raise ConfigError("empty command")
        request["argv"] = argv
    if cwd:
        request["cwd"] = cwd
    if env:
        request["env"] = {str(k): str(v) for k, v in env.items()}
    _check_spawnable(request)
    if timeout is not None:
        if timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        request["timeout"] = float(timeout)
    if stdin is not None:
        request["stdin"] = base64.b64encode(stdin).decode("ascii")
    return request


def _check_spawnable(request: Mapping[str, Any]) -> None:
    """Refuse what no process can be given (a NUL byte, ``=`` in a variable name) here, as
    bad input: the runner would fail the spawn, which reads as a broken sandbox."""
    strings = [request.get("shell", ""), *request.get("argv", ()), request.get("cwd", "")]
    for key, value in (request.get("env") or {}).items():
        if not key or "=" in key:
            raise ConfigError(f"environment variable name {key!r} is empty or contains '='")
        strings += [key, value]
    for text in strings:
        if "\x00" in text:
            raise ConfigError(
                f"a command, its environment or directory contains a NUL byte: {text!r}"
            )


def exec_result(reply: Mapping[str, Any]) -> ExecResult:
    """An ``exec`` reply's result as an ExecResult (its field types were checked on arrival)."""
    return ExecResult(
        exit_code=reply.get("exit_code"),
        stdout=base64.b64decode(reply.get("stdout") or ""),
        stderr=base64.b64decode(reply.get("stderr") or ""),
        timed_out=bool(reply.get("timed_out")),
        stdout_dropped=int(reply.get("stdout_dropped") or 0),
        stderr_dropped=int(reply.get("stderr_dropped") or 0),
        duration=float(reply.get("duration") or 0.0),
    )


def _output_handler(on_output: OnOutput) -> EventHandler:
    """The runner's output events as ``on_output(stream, bytes)`` calls."""

    def handle(event: Message) -> Any:
        return on_output(event["stream"], base64.b64decode(event["data"]))

    return handle


class _RunnerDesktop:
    """Desktop requests as the runner's ``desktop`` operation: one round trip each."""

    def __init__(self, client: RunnerClient) -> None:
        self._client = client

    async def request(self, do: str, args: Mapping[str, Any], *, timeout: float) -> dict[str, Any]:
        return await self._client.call("desktop", {"do": do, **args}, timeout=timeout)


def _file_entry(raw: Mapping[str, Any]) -> FileEntry:
    return FileEntry(path=raw["path"], kind=raw["kind"], size=int(raw["size"]), mode=raw["mode"])


class RunnerSandbox(Sandbox):
    """A sandbox whose operations travel to a runner over a :class:`RunnerClient`.

    Subclasses set ``self._client`` in ``start()`` and clear it in ``aclose()``.

    Every call has a host-side deadline, after which the runner counts as dead
    (``SandboxTimeoutError``) and later calls fail at once: a command's timeout plus
    ``exec_grace`` seconds; ``op_deadline`` seconds for file operations and ``ping``; a command
    without a timeout is waited for as long as it runs, with a ping every 30 s of silence that
    must come back in 30 s. Both are attributes, to be set on an instance.
    """

    _client: RunnerClient | None = None
    #: Seconds a command's reply may come after its timeout.
    exec_grace: float = EXEC_GRACE
    #: Seconds a file operation or ping may take.
    op_deadline: float = FILE_OP_TIMEOUT

    #: The event loop the sandbox was started in: its channel belongs to that loop.
    _loop: anyio.lowlevel.EventLoopToken | None = None

    @property
    def started(self) -> bool:
        return self._client is not None

    def _bind_loop(self) -> None:
        """Remember the running event loop (subclasses call it when ``start()`` succeeded)."""
        self._loop = anyio.lowlevel.current_token()

    def _runner(self) -> RunnerClient:
        if self._client is None:
            raise SandboxError(f"{type(self).__name__} is not started: use `async with sandbox:`")
        if self._loop is not None and self._loop != anyio.lowlevel.current_token():
            raise SandboxError(
                f"{type(self).__name__} was started in another event loop and cannot be used "
                "from this one: start it where it is used, or pass it unstarted to the run "
                "(which then starts and removes it)"
            )
        return self._client

    def desktop(self) -> DesktopChannel | None:
        """The runner's ``desktop`` operation, when its image ships the desktop module."""
        client = self._runner()
        return _RunnerDesktop(client) if "desktop" in (client.hello.get("ops") or ()) else None

    async def _run_as_user(self, user: str, request: dict[str, Any]) -> ExecResult:
        raise SandboxError(f"{type(self).__name__} cannot run commands as another user ({user!r})")

    async def exec(
        self,
        command: str | Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        user: str | None = None,
        stdin: bytes | None = None,
        max_output: int = DEFAULT_MAX_OUTPUT,
        on_output: OnOutput | None = None,
    ) -> ExecResult:
        request = exec_request(
            command, cwd=cwd, env=env, timeout=timeout, stdin=stdin, max_output=max_output
        )
        if user is not None:
            return await self._run_as_user(user, request)
        client = self._runner()
        deadline = timeout + self.exec_grace if timeout is not None else None
        handler = None
        if on_output is not None and self._runner_can("spawn"):
            request["stream"] = True
            handler = _output_handler(on_output)
        reply = await client.call(
            "exec", request, timeout=deadline, cancel_on_abort=True, on_event=handler
        )
        return exec_result(reply)

    def _runner_can(self, op: str) -> bool:
        """Whether the runner serves ``op`` (the exec fallback serves neither events nor
        processes: its hello names no ops)."""
        return op in (self._runner().hello.get("ops") or ())

    @property
    def streams_output(self) -> bool:
        return self._client is not None and self._runner_can("spawn")

    async def open_process(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> SandboxProcess:
        client = self._runner()
        if not self._runner_can("spawn"):
            raise SandboxError(
                f"{type(self).__name__} runs commands with one `docker exec` each (its image "
                "has no python3 for the runner), so it cannot keep a process open: use an "
                "image with python3"
            )
        request = exec_request(list(argv), cwd=cwd, env=env, timeout=None, stdin=None, max_output=0)
        del request["max_output"]
        process = SandboxProcess(client, request["argv"])
        await process._start(request)
        return process

    async def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """A file's bytes; ``too_large`` past ``max_bytes`` (default 64 MiB, the reply's cap)."""
        most = DEFAULT_READ_MAX if max_bytes is None else max(int(max_bytes), 0)
        request: dict[str, Any] = {"path": path, "max_bytes": most}
        reply = await self._runner().call("read", request, timeout=self.op_deadline)
        return base64.b64decode(reply["data"])

    async def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        request: dict[str, Any] = {"path": path, "data": base64.b64encode(data).decode("ascii")}
        if mode is not None:
            request["mode"] = mode
        await self._runner().call("write", request, timeout=self.op_deadline)

    async def delete_file(self, path: str) -> None:
        await self._runner().call("delete", {"path": path}, timeout=self.op_deadline)

    @property
    def atomic_writes(self) -> bool:
        # The runner commits write_files in one op; the exec fallback only does its best.
        return self._client is not None and "write_files" in self._client.hello.get("ops", ())

    async def write_files(
        self, changes: Mapping[str, bytes | None], *, modes: Mapping[str, int] | None = None
    ) -> None:
        if not changes:
            return
        client = self._runner()
        files: list[dict[str, Any]] = []
        for path, data in changes.items():
            entry: dict[str, Any] = {"path": path, "data": None}
            if data is not None:
                entry["data"] = base64.b64encode(data).decode("ascii")
                mode = (modes or {}).get(path)
                if mode is not None:
                    entry["mode"] = int(mode)
            files.append(entry)
        # Shielded: a commit the caller stops waiting for still lands (or not) in the runner,
        # so it is awaited to the end and the caller knows which of the two happened.
        with anyio.CancelScope(shield=True):
            await client.call("write_files", {"files": files}, timeout=self.op_deadline)

    async def stat(self, path: str) -> FileEntry | None:
        reply = await self._runner().call("stat", {"path": path}, timeout=self.op_deadline)
        entry = reply.get("entry")
        return _file_entry(entry) if entry else None

    async def list_dir(self, path: str = ".") -> list[FileEntry]:
        reply = await self._runner().call("listdir", {"path": path}, timeout=self.op_deadline)
        return [_file_entry(raw) for raw in reply["entries"]]

    async def ping(self) -> None:
        """Round-trip a no-op through the runner (raises ``SandboxError`` when it is gone)."""
        await self._runner().call("ping", {}, timeout=self.op_deadline)
