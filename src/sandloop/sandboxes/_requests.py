"""Runner requests and replies as Sandbox values: an ``exec`` request from a command, an
``ExecResult`` or a ``FileEntry`` from a reply, the desktop operation as a ``DesktopChannel``."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from sandloop.errors import ConfigError
from sandloop.sandboxes._protocol import RunnerClient
from sandloop.sandboxes.base import ExecResult, FileEntry

__all__ = ("RunnerDesktop", "exec_request", "exec_result", "file_entry")


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


class RunnerDesktop:
    """Desktop requests as the runner's ``desktop`` operation: one round trip each."""

    def __init__(self, client: RunnerClient) -> None:
        self._client = client

    async def request(self, do: str, args: Mapping[str, Any], *, timeout: float) -> dict[str, Any]:
        return await self._client.call("desktop", {"do": do, **args}, timeout=timeout)


def file_entry(raw: Mapping[str, Any]) -> FileEntry:
    return FileEntry(path=raw["path"], kind=raw["kind"], size=int(raw["size"]), mode=raw["mode"])
