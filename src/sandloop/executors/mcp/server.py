"""MCPServer: an MCP server whose tools the model can call, as plain data.

Part of ``executors.mcp``. An ``MCPServer`` goes into ``Agent(tools=[...])``; it holds only its
options (no process, no connection), so an agent stays a value that can be described and
rebuilt. A run connects it (:meth:`MCPServer.connect`, in :mod:`._connection`): a stdio server
is started, on the host or inside the run's sandbox, an HTTP server is connected over
Streamable HTTP; its tools are listed and offered as function tools named
``<server>__<tool>``; it is closed when the run ends. Importing this module does not import
the ``mcp`` SDK (the ``sandloop[mcp]`` extra); connecting does.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal

from sandloop.errors import ConfigError
from sandloop.executors.mcp._names import default_name, server_name
from sandloop.executors.mcp._refs import refuse_literal_secret

if TYPE_CHECKING:
    from sandloop.executors.base import Tool
    from sandloop.sandboxes.base import Sandbox

__all__ = ("DEFAULT_MAX_MESSAGE", "DEFAULT_STARTUP_TIMEOUT", "DEFAULT_TIMEOUT", "MCPServer")

#: Seconds one call may take by default.
DEFAULT_TIMEOUT = 60.0
#: Seconds a server may take by default to start, complete the handshake and list its tools.
DEFAULT_STARTUP_TIMEOUT = 60.0
#: Bytes one JSON-RPC message from a stdio server may have (images travel base64 in one line).
DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024

Transport = Literal["stdio", "http"]


class MCPServer:
    """An MCP server whose tools the model can call. Make one with :meth:`stdio` or
    :meth:`http` and put it in ``Agent(tools=[...])``.

    Every string option may hold ``${NAME}`` references to environment variables, expanded
    where and when the run connects the server: write credentials that way
    (``headers={"Authorization": "Bearer ${GITHUB_TOKEN}"}``), so that a described agent
    (``RunSpec.to_dict()``, the run's journal) holds the reference, not the secret.

    Attributes:
        name: The server's name; tool ``t`` is offered as ``<name>__t``.
        transport: ``"stdio"`` or ``"http"``.
        needs_sandbox: The server runs inside the run's sandbox (``in_sandbox=True``).
        needs_approval: ``True`` (every tool asks the run's approval callback), or the MCP tool
            names that do.
    """

    def __init__(
        self,
        *,
        transport: Transport,
        name: str | None = None,
        command: str | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        in_sandbox: bool = False,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        defer_loading: bool = False,
        needs_approval: bool | Collection[str] = False,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        if transport == "stdio":
            if not command or url is not None or headers:
                raise ConfigError("a stdio MCP server needs a command (and takes no url/headers)")
        elif transport == "http":
            if not url or command is not None or args or env or cwd or in_sandbox:
                raise ConfigError("an HTTP MCP server needs a url (and takes no command options)")
            if not url.startswith(("http://", "https://", "${")):
                raise ConfigError(f"an HTTP MCP server's url is http(s)://..., not {url!r}")
        else:
            raise ConfigError(f"an MCP server's transport is 'stdio' or 'http', not {transport!r}")
        if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
            raise ConfigError(f"an MCP server's timeout is seconds > 0 or None, not {timeout!r}")
        if not (startup_timeout > 0 and math.isfinite(startup_timeout)):
            raise ConfigError(
                f"an MCP server's startup_timeout is seconds > 0: {startup_timeout!r}"
            )
        if max_message_bytes < 1024:
            raise ConfigError("an MCP server's max_message_bytes must be at least 1024")
        self.transport: Transport = transport
        self.command = command
        self.args = tuple(str(a) for a in args)
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.cwd = cwd
        self.in_sandbox = bool(in_sandbox)
        self.url = url
        self.headers = {str(k): str(v) for k, v in (headers or {}).items()}
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self.defer_loading = bool(defer_loading)
        self.needs_approval: bool | frozenset[str] = (
            needs_approval if isinstance(needs_approval, bool) else frozenset(needs_approval)
        )
        self.max_message_bytes = max_message_bytes
        self.name = server_name(name) if name else default_name(command, self.args, url)

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        in_sandbox: bool = False,
        timeout: float | None = DEFAULT_TIMEOUT,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        name: str | None = None,
        defer_loading: bool = False,
        needs_approval: bool | Collection[str] = False,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE,
    ) -> MCPServer:
        """A server run as a process, speaking newline-delimited JSON-RPC on its stdio.

        Args:
            command: The program to run.
            args: Its arguments.
            env: Environment variables for it. On the host it also gets ``HOME``, ``PATH``,
                ``LOGNAME``, ``SHELL``, ``TERM`` and ``USER`` from this process, nothing else
                (the API key never reaches it).
            cwd: Its working directory.
            in_sandbox: Run it inside the run's sandbox, through the sandbox's runner (its
                stdio travels over the runner's channel); its tools then touch only the
                container. The run needs a sandbox.
            timeout: Seconds each call may take (past it the call gets a timed-out output);
                ``None`` for no limit.
            startup_timeout: Seconds to start, complete the handshake and list the tools
                (past it the run stops with ``MCPStartError``).
            name: The server's name (its tools are ``<name>__<tool>``); default the script,
                package or command it runs.
            defer_loading: Mark every tool of the server ``defer_loading`` (loaded through
                tool search instead of sent up front).
            needs_approval: ``True`` to ask the run's approval callback before every call of
                the server's tools, or the names of the MCP tools that need it.
            max_message_bytes: The longest JSON-RPC line the server may write; past it the
                connection is treated as broken.
        """
        return cls(
            transport="stdio",
            command=command,
            args=args,
            env=env,
            cwd=cwd,
            in_sandbox=in_sandbox,
            timeout=timeout,
            startup_timeout=startup_timeout,
            name=name,
            defer_loading=defer_loading,
            needs_approval=needs_approval,
            max_message_bytes=max_message_bytes,
        )

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        name: str | None = None,
        defer_loading: bool = False,
        needs_approval: bool | Collection[str] = False,
    ) -> MCPServer:
        """A server reached over Streamable HTTP, from the host (credentials stay here).

        Args:
            url: The server's MCP endpoint (``https://host/mcp``).
            headers: Sent with every request; write credentials as ``${NAME}`` references.
            timeout: As for :meth:`stdio`.
            startup_timeout: As for :meth:`stdio`.
            name: The server's name; default the URL's host.
            defer_loading: As for :meth:`stdio`.
            needs_approval: As for :meth:`stdio`.
        """
        return cls(
            transport="http",
            url=url,
            headers=headers,
            timeout=timeout,
            startup_timeout=startup_timeout,
            name=name,
            defer_loading=defer_loading,
            needs_approval=needs_approval,
        )

    @property
    def needs_sandbox(self) -> bool:
        """Whether the server runs inside the run's sandbox."""
        return self.in_sandbox

    def tool_needs_approval(self, tool: str) -> bool:
        """Whether calls of this server's MCP tool ``tool`` ask the approval callback."""
        if isinstance(self.needs_approval, bool):
            return self.needs_approval
        return tool in self.needs_approval

    def __repr__(self) -> str:
        where = self.url if self.transport == "http" else self.command
        return f"MCPServer({self.name!r}, {self.transport}: {where})"

    def options(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this server (``MCPServer(**server.options())``),
        JSON-ready, ``${NAME}`` references kept as written.

        Raises:
            ConfigError: a header or env var that looks like a credential holds a literal
                value (write it as a ``${NAME}`` reference).
        """
        for key, value in self.headers.items():
            refuse_literal_secret(key, value, what=f"MCP server {self.name!r}: header")
        for key, value in self.env.items():
            refuse_literal_secret(key, value, what=f"MCP server {self.name!r}: env var")
        out: dict[str, Any] = {"transport": self.transport, "name": self.name}
        if self.transport == "stdio":
            out.update(command=self.command, args=list(self.args), env=dict(self.env))
            out.update(cwd=self.cwd, in_sandbox=self.in_sandbox)
            out["max_message_bytes"] = self.max_message_bytes
        else:
            out.update(url=self.url, headers=dict(self.headers))
        approval = self.needs_approval
        out["needs_approval"] = approval if isinstance(approval, bool) else sorted(approval)
        out.update(timeout=self.timeout, startup_timeout=self.startup_timeout)
        out["defer_loading"] = self.defer_loading
        return out

    def connect(self, sandbox: Sandbox | None) -> AbstractAsyncContextManager[Sequence[Tool]]:
        """Start (stdio) or connect to (HTTP) the server; enter to get its tools, exit to close
        it (the process is stopped, also when the run was cancelled).

        Raises:
            ConfigError: the ``mcp`` SDK is not installed, a ``${NAME}`` is not set, or an
                in-sandbox server has no sandbox that can run processes.
            MCPStartError: the server would not start, or not list its tools in time.
        """
        try:
            from sandloop.executors.mcp._connection import connected
        except ModuleNotFoundError as exc:
            if exc.name is None or not exc.name.startswith("mcp"):
                raise
            raise ConfigError(
                f"MCP server {self.name!r} needs the mcp SDK: pip install 'sandloop[mcp]'"
            ) from exc
        return connected(self, sandbox)
