"""Client-side tool search: deferred tools, the ``tool_search`` tool, and a run's loaded tools.

Part of ``dispatch``. A tool whose definition says ``"defer_loading": true`` (``@tool(
defer_loading=True)``, ``CustomTool(..., defer_loading=True)``, or any tool source that sets it,
such as an MCP server's tools) is left out of the request's ``tools``; the registry sends the
``tool_search`` tool with ``execution: "client"`` instead (:func:`tool_search_definition`). When
the model emits a client ``tool_search_call``, :class:`ToolSearchSession` answers it with a
``tool_search_output`` carrying the definitions of the best matches
(:mod:`sandloop.dispatch.tool_ranking`). That output item is what loads them (spec §3.7): it
stays in the conversation, chained or replayed, so the tools stay callable for the rest of the
run. Which tools are loaded is read back from the history's ``tool_search_output`` items, so a
resumed run, a replayed history and a ``RunSpec`` input all carry it.

A call to a deferred tool that no ``tool_search_output`` loaded is not run: the model is told
to search for it first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sandloop.dispatch.tool_ranking import ToolIndex
from sandloop.errors import ToolArgumentsError
from sandloop.items import (
    CustomToolParam,
    FunctionToolParam,
    NamespaceToolParam,
    ToolSearchCall,
    ToolSearchOutput,
    parse_tool,
)

if TYPE_CHECKING:
    from sandloop.dispatch.registry import ToolRegistry
    from sandloop.executors.base import Tool, ToolContext

__all__ = (
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_QUERY_CHARS",
    "ToolSearchSession",
    "loaded_keys",
    "parse_search_arguments",
    "tool_search_definition",
)

#: Tools one search loads when the model gives no ``limit``; the most it may ask for.
DEFAULT_LIMIT, MAX_LIMIT = 5, 20
#: The longest query searched; a longer one is refused (the model is told so).
MAX_QUERY_CHARS = 1000

ToolKey = tuple[str | None, str]

_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {
            "type": "string",
            "description": "Words describing the tool you need, or its exact name.",
        },
        "limit": {
            "type": "integer",
            "description": f"How many tools to load at most (1-{MAX_LIMIT}, default "
            f"{DEFAULT_LIMIT}).",
        },
    },
    "required": ["query"],
    "additionalProperties": False,
}


def tool_search_definition(deferred: int, namespaces: Sequence[str]) -> dict[str, Any]:
    """The ``tool_search`` tool (``execution: "client"``) sent in place of deferred tools."""
    where = f" (namespaces: {', '.join(namespaces)})" if namespaces else ""
    description = (
        f"Search {deferred} more tools that are not loaded yet{where}. The best matches are "
        "loaded and can be called from then on; tools already loaded are not returned again."
    )
    return {
        "type": "tool_search",
        "execution": "client",
        "description": description,
        "parameters": _PARAMETERS,
    }


def parse_search_arguments(arguments: Any) -> tuple[str, int]:
    """``(query, limit)`` from a ``tool_search_call``'s ``arguments`` (an object, or JSON text).

    Raises:
        ToolArgumentsError: not an object, an unknown field, no string ``query``, a query over
            :data:`MAX_QUERY_CHARS` characters, or a ``limit`` that is not an integer.
    """
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            raise ToolArgumentsError(
                'tool_search arguments are not valid JSON: send {"query": "..."}'
            ) from None
    if not isinstance(arguments, Mapping):
        raise ToolArgumentsError(
            f'tool_search arguments must be an object like {{"query": "..."}}, not '
            f"{type(arguments).__name__}"
        )
    unknown = sorted(str(k)[:64] for k in arguments if k not in ("query", "limit"))
    if unknown:
        raise ToolArgumentsError(
            f"tool_search has no argument(s) {', '.join(unknown[:5])}: send only query and limit"
        )
    query = arguments.get("query")
    if not isinstance(query, str):
        raise ToolArgumentsError("tool_search needs a string 'query'")
    if len(query) > MAX_QUERY_CHARS:
        raise ToolArgumentsError(
            f"tool_search query has {len(query)} characters, over the {MAX_QUERY_CHARS} "
            "allowed: search with a few words"
        )
    limit = arguments.get("limit", DEFAULT_LIMIT)
    if limit is None:
        limit = DEFAULT_LIMIT
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise ToolArgumentsError(f"tool_search 'limit' must be an integer 1-{MAX_LIMIT}")
    return query, min(max(limit, 1), MAX_LIMIT)


def loaded_keys(items: Iterable[Any]) -> set[ToolKey]:
    """The ``(namespace, name)`` of every function and custom tool a ``tool_search_output`` in
    ``items`` loaded."""
    keys: set[ToolKey] = set()
    for item in items:
        if isinstance(item, ToolSearchOutput):
            for tool in item.tools:
                _add_keys(tool, None, keys)
    return keys


def _add_keys(tool: Any, namespace: str | None, keys: set[ToolKey]) -> None:
    if isinstance(tool, FunctionToolParam | CustomToolParam):
        keys.add((namespace, tool.name))
    elif isinstance(tool, NamespaceToolParam):
        for inner in tool.tools:
            _add_keys(inner, tool.name, keys)


class ToolSearchSession:
    """One run's tool search: answers its client ``tool_search_call`` items and keeps calls to
    deferred tools waiting until a search loaded them.

    It is the tool the dispatcher runs ``tool_search_call`` items with (a searcher runs alone,
    in call order, so two searches of one response never load the same tool).

    Args:
        registry: The run's tools.
        history: The run's items so far (its transcript log), read for what is loaded.
        continues: The run continues a stored conversation it did not see (a
            ``previous_response_id`` passed in): tools may have been loaded there, so calls to
            deferred tools are not refused.
    """

    call_type = "tool_search_call"

    def __init__(
        self, registry: ToolRegistry, history: Sequence[Any], *, continues: bool = False
    ) -> None:
        self.continues = continues
        self.name: str | None = None
        self.namespace: str | None = None
        self.sequential = True
        self.needs_approval = False
        self.timeout: float | None = None
        self.registry = registry
        self._history = history
        self._deferred: dict[ToolKey, Tool] = {}
        for tool in registry.deferred():
            key = registry.key_of(tool)
            if isinstance(key, tuple):  # always: only named tools can be deferred
                self._deferred[key] = tool
        self._index = ToolIndex((key, t.definition()) for key, t in self._deferred.items())
        #: Loaded by this session's searches (in the history too once their turn is answered).
        self._answered: set[ToolKey] = set()

    @classmethod
    def for_run(
        cls, registry: ToolRegistry, history: Sequence[Any], *, continues: bool = False
    ) -> ToolSearchSession | None:
        """The session of a run over ``registry``, or ``None`` when no tool is deferred."""
        return cls(registry, history, continues=continues) if registry.deferred() else None

    def loaded(self) -> set[ToolKey]:
        """The deferred tools loaded so far (by the history's ``tool_search_output`` items)."""
        return loaded_keys(self._history) & set(self._deferred)

    def definition(self) -> dict[str, Any]:
        """The ``tool_search`` tool's definition."""
        return self.registry.tool_search_tool() or {}

    def route(self, call: Any, tool: Tool | None) -> tuple[Any, str | None]:
        """The tool that answers ``call`` (``tool`` as the registry found it), and the words
        refusing it when it is a deferred tool not loaded yet."""
        if isinstance(call, ToolSearchCall):
            return self, None
        key = self.registry.key_of(tool) if tool is not None else None
        if key not in self._deferred or self.continues or key in self.loaded():
            return tool, None
        return None, (
            f"Tool {call.label!r} is not loaded: find it with tool_search first, then call it."
        )

    async def execute(self, call: ToolSearchCall, ctx: ToolContext) -> ToolSearchOutput:
        """Search the deferred tools and load the best matches.

        Raises:
            ToolArgumentsError: the arguments are malformed (see :func:`parse_search_arguments`).
        """
        query, limit = parse_search_arguments(call.arguments)
        exclude = self.loaded() | self._answered
        found = self._index.search(query, limit=limit, exclude=exclude)
        self._answered |= set(found)
        definitions = self.registry.grouped_definitions(self._deferred[k] for k in found)
        return ToolSearchOutput(
            call_id=call.call_id,
            execution="client",
            status="completed",
            tools=[parse_tool(d) for d in definitions],
        )
