"""MCPTool: one tool of a connected MCP server, as a function tool of the run.

Part of ``executors.mcp``. The registry holds it like any function tool (keyed by its name,
``<server>__<tool>``), so routing, approvals (``needs_approval`` and the run's policy),
timeouts and failed outputs work as for ``@sandloop.tool`` functions. Its ``execute`` sends
``tools/call`` over the run's connection and turns the result into the call's output.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sandloop.errors import ToolArgumentsError
from sandloop.executors.mcp._names import tool_name
from sandloop.executors.mcp._results import tool_output
from sandloop.items import FunctionCallOutput

if TYPE_CHECKING:
    import mcp_types

    from sandloop.executors.base import ToolContext
    from sandloop.executors.mcp._connection import MCPConnection
    from sandloop.items import FunctionCall

__all__ = ("MAX_DESCRIPTION", "MCPTool")

#: Characters of a tool's description sent to the model (a server's text is not ours to trust).
MAX_DESCRIPTION = 4096


class MCPTool:
    """A tool listed by an MCP server, callable by the model as ``<server>__<tool>``.

    Attributes:
        mcp_name: The tool's name on its server.
        server: The server's name.
        defer_loading: Sent in the definition: the tool is loaded through tool search.
    """

    call_type = "function_call"
    namespace: str | None = None
    sequential = False

    def __init__(self, connection: MCPConnection, listed: mcp_types.Tool) -> None:
        server = connection.server
        self._connection = connection
        self.mcp_name = listed.name
        self.server = server.name
        self.name: str | None = tool_name(server.name, listed.name)
        self.needs_approval = server.tool_needs_approval(listed.name)
        self.timeout = server.timeout
        self.needs_sandbox = server.needs_sandbox
        self.defer_loading = server.defer_loading
        self._definition = _definition(self.name, listed, defer_loading=self.defer_loading)

    def __repr__(self) -> str:
        return f"MCPTool({self.name!r}: tool {self.mcp_name!r} of MCP server {self.server!r})"

    def definition(self) -> dict[str, Any]:
        """The ``{"type": "function", ...}`` entry of the request's ``tools``."""
        return self._definition

    async def execute(self, call: FunctionCall, ctx: ToolContext) -> FunctionCallOutput:
        """Call the tool on its server; the result becomes the output.

        Raises:
            ToolArgumentsError: the arguments are not a JSON object.
            MCPServerError: the server failed the call (exited, broke the protocol, errored).
            ToolError: the server reported the call failed (``isError``).
        """
        arguments = _arguments(call.arguments)
        result = await self._connection.call(self.mcp_name, arguments)
        return FunctionCallOutput(call_id=call.call_id, output=tool_output(result))


def _arguments(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ToolArgumentsError(f"the arguments are not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ToolArgumentsError("the arguments must be a JSON object")
    return value


def _definition(name: str, listed: mcp_types.Tool, *, defer_loading: bool) -> dict[str, Any]:
    parameters = dict(listed.input_schema)
    parameters["type"] = "object"
    parameters.setdefault("properties", {})
    description = listed.description or listed.title or ""
    out: dict[str, Any] = {"type": "function", "name": name}
    if description:
        out["description"] = description[:MAX_DESCRIPTION]
    out["parameters"] = parameters
    # MCP schemas are not written for strict mode (optional properties, open objects).
    out["strict"] = False
    if defer_loading:
        out["defer_loading"] = True
    return out
