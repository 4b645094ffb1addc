"""A run's tool servers (MCP servers): connected before the first request, closed at its end.

Part of ``loop``. The agent's registry holds the servers as options; the run enters
:func:`connected_registry`, which connects each server in turn and makes the run's registry:
the agent's tools plus every server's tools (a name clash is a ``ConfigError`` here, before
any model request). Leaving it closes the servers, in reverse order, also on errors and
cancellation, before the run releases its sandbox (an in-sandbox server runs there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from sandloop.dispatch import ToolRegistry
from sandloop.executors.base import Tool
from sandloop.sandboxes.base import Sandbox

__all__ = ("connected_registry",)


@asynccontextmanager
async def connected_registry(
    registry: ToolRegistry, sandbox: Sandbox | None
) -> AsyncIterator[ToolRegistry]:
    """The run's registry with its servers' tools, for the length of the ``async with``.

    Raises:
        ConfigError: a server's tool has the name of another tool, or a server's options
            cannot be used.
        MCPStartError: a server would not start or list its tools.
    """
    servers = registry.servers
    if not servers:
        yield registry
        return
    async with AsyncExitStack() as stack:
        tools: list[Tool] = []
        for server in servers:
            tools.extend(await stack.enter_async_context(server.connect(sandbox)))
        yield registry.with_tools(tools)
