"""One run's connection to one MCP server, kept by a task of its own.

Part of ``executors.mcp``; the only module that drives the ``mcp`` SDK's client (imported when
a run connects a server, never by ``import sandloop``). :func:`connected` starts the server (a
host process, a process in the sandbox, or a Streamable HTTP session), waits for the handshake
and the tool listing under the server's timeout, yields its tools, and closes it on exit,
shielded, also when the run was cancelled (a stdio server's process group is killed).

The SDK's session lives in a keeper task, not in the run's task: whatever goes wrong inside
it (a crashed process, a broken stream) ends that task only, and the connection turns it into
a :class:`~sandloop.errors.MCPServerError` for the calls in flight and the calls after. The run
goes on; the model reads why each call failed.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import anyio
import httpx2
import mcp
import mcp_types
from mcp.client.streamable_http import streamable_http_client
from pydantic import ValidationError

from sandloop.errors import MCPServerError, MCPStartError
from sandloop.executors.mcp._jsonrpc import byte_stream_transport
from sandloop.executors.mcp._process import local_process, sandbox_process
from sandloop.executors.mcp._refs import expand
from sandloop.executors.mcp._tool import MCPTool

if TYPE_CHECKING:
    from sandloop.executors.mcp.server import MCPServer
    from sandloop.sandboxes.base import Sandbox

__all__ = ("MAX_SCHEMA", "MAX_TOOLS", "MCPConnection", "connected")

#: Seconds closing a server may take before its keeper task is cancelled.
_CLOSE_TIMEOUT = 10.0
#: Pages of ``tools/list`` read at most (a server paging forever cannot hang the start).
_MAX_PAGES = 100
#: Tools one server may offer (each one is sent with every request).
MAX_TOOLS = 512
#: Characters of one tool's input schema (JSON).
MAX_SCHEMA = 64 * 1024


def _client_info() -> mcp_types.Implementation:
    try:
        version = importlib.metadata.version("sandloop")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return mcp_types.Implementation(name="sandloop", version=version)


_CLIENT_INFO = _client_info()


@contextlib.asynccontextmanager
async def connected(server: MCPServer, sandbox: Sandbox | None) -> AsyncIterator[Sequence[MCPTool]]:
    """Start or connect to ``server`` for the length of the ``async with``; yield its tools.

    Raises:
        ConfigError: a ``${NAME}`` is not set, or an in-sandbox server has no sandbox for it.
        MCPStartError: the server would not start, or not list its tools within its timeout.
    """
    connection = MCPConnection(server, sandbox)
    transport = connection.transport()  # options expanded here: a ConfigError comes first
    error: Exception | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(connection.serve, transport)
        try:
            error = await connection.started()
            if error is None:
                try:
                    yield [MCPTool(connection, listed) for listed in connection.listed]
                except Exception as exc:
                    # Raised again below, outside the task group, which would wrap it in an
                    # ExceptionGroup: the run's own errors must reach the run as they are.
                    error = exc
        finally:
            await connection.aclose()
    if error is not None:
        raise error


class MCPConnection:
    """The keeper of one server's session: calls go through it, failures are kept in it.

    Attributes:
        server: The server's options.
        listed: The tools it listed.
        ready: Set once the tools are listed, or the start failed.
        failure: Why the connection is unusable (words for the model), or ``None``.
    """

    def __init__(self, server: MCPServer, sandbox: Sandbox | None) -> None:
        self.server = server
        self._sandbox = sandbox
        self.listed: list[mcp_types.Tool] = []
        self.ready = anyio.Event()
        self.failure: str | None = None
        self._client: mcp.Client | None = None
        self._scope = anyio.CancelScope()
        self._stop = anyio.Event()
        self._closed = anyio.Event()
        self._closing = False
        self._calls: set[anyio.CancelScope] = set()

    def transport(self) -> AbstractAsyncContextManager[Any]:
        """The SDK transport for the server, its options expanded.

        Raises:
            ConfigError: a ``${NAME}`` reference is not set.
        """
        s = self.server
        what = f"MCP server {s.name!r}"
        if s.transport == "http":
            assert s.url is not None
            url = expand(s.url, what=f"{what}: url")
            headers = {k: expand(v, what=f"{what}: header {k!r}") for k, v in s.headers.items()}
            return _http_transport(url, headers)
        assert s.command is not None
        argv = [expand(a, what=f"{what}: command") for a in (s.command, *s.args)]
        env = {k: expand(v, what=f"{what}: env var {k!r}") for k, v in s.env.items()}
        cwd = expand(s.cwd, what=f"{what}: cwd") if s.cwd is not None else None
        process: AbstractAsyncContextManager[Any] = (
            sandbox_process(self._sandbox, argv, cwd=cwd, env=env)
            if s.in_sandbox
            else local_process(argv, cwd=cwd, env=env)
        )
        return byte_stream_transport(
            process, on_broken=self._broken, max_message_bytes=s.max_message_bytes
        )

    async def serve(self, transport: AbstractAsyncContextManager[Any]) -> None:
        """The keeper task: open the session, list the tools, hold it until closed or broken.

        Never raises: a failure is kept in :attr:`failure` (the run's task group is not hurt).
        """
        try:
            with self._scope:
                client = mcp.Client(transport, mode="auto", cache=None, client_info=_CLIENT_INFO)
                async with client:
                    self.listed = await _list_tools(client)
                    self._client = client
                    self.ready.set()
                    await self._stop.wait()
        except Exception as exc:
            self._broken(_describe(exc))
        finally:  # also when the run's cancellation ends this task
            self._client = None
            self._broken("the connection was closed")
            self.ready.set()
            self._closed.set()

    async def started(self) -> MCPStartError | None:
        """Wait for the handshake and the listing (under the server's timeout); the error
        saying why the server did not start, or ``None``."""
        timeout = self.server.startup_timeout
        with anyio.move_on_after(timeout):
            await self.ready.wait()
        if self.failure is None and self.ready.is_set():
            return None
        reason = self.failure or (
            f"it did not complete the handshake and list its tools in {timeout:g} s"
        )
        return MCPStartError(
            f"MCP server {self.server.name!r} did not start: {reason}", server=self.server.name
        )

    async def aclose(self) -> None:
        """Close the session and stop the server (bounded, shielded)."""
        self._closing = True
        self._stop.set()
        if not self.ready.is_set():
            self._scope.cancel()  # still in the handshake, which would not see the stop
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(_CLOSE_TIMEOUT):
                await self._closed.wait()
            self._scope.cancel()

    def _broken(self, reason: str) -> None:
        """The connection cannot be used any more: fail the calls in flight, stop the keeper."""
        if self.failure is None and not self._closing:
            self.failure = reason
        for scope in self._calls:
            scope.cancel()
        self._stop.set()
        if not self.ready.is_set():
            self._scope.cancel()  # still starting: the handshake would wait for its timeout

    async def call(self, name: str, arguments: dict[str, Any]) -> mcp_types.CallToolResult:
        """Send ``tools/call``; the result as the SDK parsed it.

        Raises:
            MCPServerError: the server is gone or broke the protocol, or answered with an error.
        """
        client = self._client
        if client is None or self.failure is not None:
            raise self._error("is not running", self.failure or "it was closed")
        with anyio.CancelScope() as scope:
            self._calls.add(scope)
            try:
                return await client.call_tool(name, arguments)
            except mcp.MCPError as exc:
                if self.failure is not None:
                    raise self._error("stopped during the call", self.failure) from exc
                if exc.code == mcp_types.CONNECTION_CLOSED:
                    raise self._error("could not be reached", str(exc)) from exc
                raise self._error("answered with an error", str(exc)) from exc
            except ValidationError as exc:
                raise self._error("sent a result that is not valid", _first(exc)) from exc
            except Exception as exc:
                if self.failure is not None:
                    raise self._error("stopped during the call", self.failure) from exc
                raise self._error("failed the call", _describe(exc)) from exc
            finally:
                self._calls.discard(scope)
        raise self._error("stopped during the call", self.failure or "it was closed")

    def _error(self, what: str, why: str) -> MCPServerError:
        return MCPServerError(
            f"the MCP server {self.server.name!r} {what}: {why}", server=self.server.name
        )


class _ListingError(Exception):
    """The server's tool listing is more than a run can offer the model."""


async def _list_tools(client: mcp.Client) -> list[mcp_types.Tool]:
    """Every tool the server lists, page by page, within the caps.

    Raises:
        _ListingError: more than :data:`MAX_TOOLS` tools, or a schema past :data:`MAX_SCHEMA`.
    """
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        if len(tools) > MAX_TOOLS:
            raise _ListingError(f"it lists more than {MAX_TOOLS} tools")
        cursor = page.next_cursor
        if not cursor:
            break
    for listed in tools:
        size = len(json.dumps(listed.input_schema))
        if size > MAX_SCHEMA:
            raise _ListingError(
                f"the input schema of its tool {listed.name[:100]!r} has {size} characters, "
                f"over the {MAX_SCHEMA} a tool may send"
            )
    return tools


@contextlib.asynccontextmanager
async def _http_transport(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    timeout = httpx2.Timeout(30.0, read=300.0)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return _describe(exc.exceptions[0])
    if isinstance(exc, _ListingError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return f"it sent a message that is not valid: {_first(exc)}"
    text = str(exc) or "(no message)"
    return f"{type(exc).__name__}: {text}"


def _first(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "the result"
    return f"{where}: {first.get('msg', 'invalid')} ({exc.error_count()} problem(s))"
