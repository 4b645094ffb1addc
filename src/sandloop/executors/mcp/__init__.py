"""sandloop.executors.mcp: MCP servers whose tools the model calls as function tools.

Importing this package does not import the ``mcp`` SDK; a run connecting a server does
(install it with ``pip install 'sandloop[mcp]'``).
"""

from sandloop.executors.mcp.server import DEFAULT_TIMEOUT, MCPServer

__all__ = ("DEFAULT_TIMEOUT", "MCPServer")
