"""The tool registry: which tool executes which call, and the request's ``tools`` list.

Part of ``dispatch`` (``loop → dispatch → executors``). Function and custom tools are keyed by
``(namespace, name)``; the other families (shell, apply_patch, local_shell, computer) by their
call type, one tool each. Hosted tools (web search, MCP, file search, ...) are plain definitions
passed through to the API. Tool servers (client-side MCP servers) are kept aside: their tools
are known once a run connects them, and :meth:`ToolRegistry.with_tools` makes the run's
registry with them. Conflicts are found when the agent is built (or, for a server's tools, when
the run connects it), never mid-run.

A function or custom tool whose definition says ``"defer_loading": true`` is *deferred*: it is
left out of the ``tools`` list, which carries the client ``tool_search`` tool instead
(:mod:`sandloop.dispatch.tool_search`). Any tool source can defer a tool that way (an MCP
server with ``defer_loading=True`` does it for each of its tools).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sandloop.dispatch.tool_search import tool_search_definition
from sandloop.errors import ConfigError
from sandloop.executors.base import Tool, ToolServer
from sandloop.items import CLIENT_CALL_CLASSES, CallItem

__all__ = ("NAMED_CALL_TYPES", "ToolRegistry", "call_tool_key", "is_deferred")

#: Call types routed by tool name (and namespace); every other call type is routed by type.
NAMED_CALL_TYPES = frozenset(k for k, cls in CLIENT_CALL_CLASSES.items() if cls.routed_by_name)

ToolKey = tuple[str | None, str]


def call_tool_key(call: CallItem) -> ToolKey | str:
    """The registry key a call item is routed by: ``(namespace, name)`` or its call type."""
    return call.tool_key


class ToolRegistry:
    """Tools by routing key, plus the cached wire ``tools`` list.

    Args:
        tools: Executable tools (anything implementing :class:`~sandloop.executors.base.Tool`),
            tool servers (:class:`~sandloop.executors.base.ToolServer`, e.g. ``MCPServer``) and
            hosted tool definitions (dicts or ``sandloop.items`` tool params) to pass through.
        namespaces: Descriptions of the ``namespace`` tools that group namespaced functions.

    Raises:
        ConfigError: two tools share a name (within a namespace), two tools execute the same call
            type, two tool servers share a name, or an entry is neither a tool, a server nor a
            definition.
    """

    def __init__(
        self, tools: Iterable[Any], *, namespaces: Mapping[str, str] | None = None
    ) -> None:
        self._tools: dict[ToolKey | str, Tool] = {}
        self._hosted: list[dict[str, Any]] = []
        self._order: list[Tool] = []
        self._servers: list[ToolServer] = []
        self._entries = list(tools)
        for entry in self._entries:
            self._add(entry)
        self._namespaces = dict(namespaces or {})
        self._deferred = [t for t in self._order if is_deferred(t)]
        self._check_deferred()
        self._definitions = self._build_definitions()

    @property
    def servers(self) -> list[ToolServer]:
        """The tool servers a run connects before its first request, in the order given."""
        return list(self._servers)

    def with_tools(self, tools: Iterable[Tool]) -> ToolRegistry:
        """This registry plus ``tools`` (a run's connected servers' tools), servers left out.

        Raises:
            ConfigError: one of ``tools`` has the name of another tool.
        """
        kept = [e for e in self._entries if not isinstance(e, ToolServer)]
        return ToolRegistry([*kept, *tools], namespaces=self._namespaces)

    def _add(self, entry: Any) -> None:
        if isinstance(entry, Tool):
            key = _tool_key(entry)
            if key in self._tools:
                raise ConfigError(_duplicate_message(key, self._tools[key], entry))
            self._tools[key] = entry
            self._order.append(entry)
        elif isinstance(entry, ToolServer):
            taken = [s for s in self._servers if s.name == entry.name]
            if taken:
                raise ConfigError(
                    f"two tool servers are named {entry.name!r} ({taken[0]!r} and {entry!r}): "
                    "give one of them another name with MCPServer...(name=...)"
                )
            self._servers.append(entry)
        elif isinstance(entry, Mapping):
            self._hosted.append(dict(entry))
        elif callable(getattr(entry, "to_wire", None)):
            self._hosted.append(entry.to_wire())
        else:
            raise ConfigError(
                f"{entry!r} is not a tool: decorate functions with @sandloop.tool, or pass a "
                "tool object (ShellTool(), ApplyPatchTool(), ...) or a hosted tool definition dict"
            )

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Any:
        return iter(self._order)

    def lookup(self, call: CallItem) -> Tool | None:
        """The tool that executes ``call``, or ``None`` when no tool matches."""
        tool = self._tools.get(call_tool_key(call))
        if tool is not None and tool.call_type != call.type:
            return None
        return tool

    def names(self) -> list[str]:
        """Readable names of the executable tools sent up front, for messages to the model
        (the deferred ones are found through tool search)."""
        return [_display(_tool_key(t)) for t in self._order if not is_deferred(t)]

    def definitions(self) -> list[dict[str, Any]]:
        """The request's ``tools`` list (built once; do not modify it): the tools that are not
        deferred, then the ``tool_search`` tool when some are, then the hosted definitions."""
        return self._definitions

    def deferred(self) -> list[Tool]:
        """The deferred tools, in the order they were given."""
        return list(self._deferred)

    def key_of(self, tool: Tool) -> ToolKey | str:
        """The routing key of ``tool``: ``(namespace, name)`` or its call type."""
        return _tool_key(tool)

    def tool_search_tool(self) -> dict[str, Any] | None:
        """The client ``tool_search`` tool offered for the deferred tools (``None``: none)."""
        if not self._deferred:
            return None
        spaces = sorted({t.namespace for t in self._deferred if t.namespace is not None})
        return tool_search_definition(len(self._deferred), spaces)

    def grouped_definitions(self, tools: Iterable[Tool]) -> list[dict[str, Any]]:
        """The definitions of ``tools``, namespaced ones inside their ``namespace`` tool."""
        return self._group(tools)

    def _check_deferred(self) -> None:
        for tool in self._deferred:
            if tool.call_type not in NAMED_CALL_TYPES:
                raise ConfigError(
                    f"{tool!r} cannot be deferred (defer_loading): only function and custom "
                    "tools are loaded through tool search"
                )
        searches = [h for h in self._hosted if h.get("type") == "tool_search"]
        if self._deferred and searches:
            raise ConfigError(
                "some tools are deferred (defer_loading=True), which gives the run a client "
                "tool_search tool: leave out the tool_search definition you passed"
            )

    def _build_definitions(self) -> list[dict[str, Any]]:
        out = self._group(t for t in self._order if not is_deferred(t))
        search = self.tool_search_tool()
        return out + ([search] if search else []) + self._hosted

    def _group(self, tools: Iterable[Tool]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        grouped: dict[str, dict[str, Any]] = {}
        for tool in tools:
            definition = tool.definition()
            if tool.namespace is None:
                out.append(definition)
                continue
            group = grouped.get(tool.namespace)
            if group is None:
                description = self._namespaces.get(
                    tool.namespace, f"Tools of the {tool.namespace} namespace."
                )
                group = {
                    "type": "namespace",
                    "name": tool.namespace,
                    "description": description,
                    "tools": [],
                }
                grouped[tool.namespace] = group
                out.append(group)
            group["tools"].append(definition)
        return out


def is_deferred(tool: Tool) -> bool:
    """Whether ``tool`` is loaded through tool search (its definition says ``defer_loading``)."""
    return tool.definition().get("defer_loading") is True


def _tool_key(tool: Tool) -> ToolKey | str:
    if tool.call_type in NAMED_CALL_TYPES:
        if not tool.name:
            raise ConfigError(f"{tool!r} has no name")
        return (tool.namespace, tool.name)
    return tool.call_type


def _display(key: ToolKey | str) -> str:
    if isinstance(key, str):
        return key.removesuffix("_call")
    namespace, name = key
    return f"{namespace}.{name}" if namespace else name


def _duplicate_message(key: ToolKey | str, first: Tool, second: Tool) -> str:
    if isinstance(key, str):
        return f"two tools execute {key} items ({first!r} and {second!r}); keep one"
    return (
        f"duplicate tool name {_display(key)!r} ({first!r} and {second!r}); "
        "give one of them another name with @sandloop.tool(name=...) (an MCP server's tools "
        "are named for the server: MCPServer...(name=...))"
    )
