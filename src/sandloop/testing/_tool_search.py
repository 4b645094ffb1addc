"""The scripted server's checks of client-side tool search (spec §3.7).

Private to ``testing``; pure functions over wire dicts, used by :mod:`._protocol` (the outputs
a request sends) and by the server (the calls a turn is about to serve):

* a ``tool_search_output`` lists tool definitions (objects with a ``type``; function and custom
  tools named, namespaces holding a list), says ``execution: "client"`` when it says anything,
  and loads no tool twice (not one the request offers up front, not one loaded before);
* when a request carries a client ``tool_search`` tool, every function or custom call the
  script serves must name a tool the request offers (in ``tools`` without ``defer_loading``) or
  one a ``tool_search_output`` of the conversation loaded: a deferred tool is callable only
  once it was loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ("check_calls_offered", "check_search_outputs")

Key = tuple[str | None, str]

_NAMED = ("function", "custom")
_CALLS = ("function_call", "custom_tool_call")


def _show(key: Key) -> str:
    return f"{key[0]}.{key[1]}" if key[0] else key[1]


def _keys(tools: Any, *, deferred: bool | None = None) -> set[Key]:
    """Keys of the named tools in a ``tools`` list (namespaces opened); ``deferred`` keeps only
    the tools whose ``defer_loading`` is (``True``) or is not (``False``) set."""
    found: set[Key] = set()
    for tool, namespace in _named(tools, None):
        is_deferred = tool.get("defer_loading") is True
        if deferred is None or deferred == is_deferred:
            found.add((namespace, str(tool["name"])))
    return found


def _named(tools: Any, namespace: str | None) -> Iterable[tuple[Mapping[str, Any], str | None]]:
    if not isinstance(tools, list):
        return
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        if tool.get("type") in _NAMED and isinstance(tool.get("name"), str):
            yield tool, namespace
        elif tool.get("type") == "namespace" and isinstance(tool.get("name"), str):
            yield from _named(tool.get("tools"), tool["name"])


def _loaded(history: Iterable[Mapping[str, Any]]) -> set[Key]:
    keys: set[Key] = set()
    for item in history:
        if item.get("type") == "tool_search_output":
            keys |= _keys(item.get("tools"))
    return keys


def _client_search(tools: Any) -> bool:
    return isinstance(tools, list) and any(
        isinstance(t, Mapping) and t.get("type") == "tool_search" and t.get("execution") == "client"
        for t in tools
    )


def check_search_outputs(
    new: Sequence[Mapping[str, Any]], earlier: Sequence[Mapping[str, Any]], tools: Any
) -> list[str]:
    """Problems of the ``tool_search_output`` items among a request's new items ``new``.

    Args:
        new: The items the request adds to the conversation.
        earlier: The conversation before them.
        tools: The request's ``tools``.
    """
    problems: list[str] = []
    known = _keys(tools, deferred=False) | _loaded(earlier)
    for item in new:
        if item.get("type") != "tool_search_output":
            continue
        where = f"tool_search_output {item.get('call_id')!r}"
        problems += _shape(where, item)
        for tool, namespace in _named(item.get("tools"), None):
            key = (namespace, str(tool["name"]))
            if key in known:
                problems.append(
                    f"{where} loads {_show(key)!r}, which is already offered or loaded: "
                    "load each deferred tool once"
                )
            known.add(key)
    return problems


def _shape(where: str, item: Mapping[str, Any]) -> list[str]:
    tools = item.get("tools")
    if not isinstance(tools, list):
        return [f"{where} needs a 'tools' list"]
    problems = []
    if item.get("execution", "client") != "client":
        problems.append(f"{where} answers a client tool search: execution must be 'client'")
    for index, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        if not isinstance(kind, str):
            problems.append(f"{where} tools[{index}] is not a tool definition with a type")
        elif kind in (*_NAMED, "namespace") and not isinstance(tool.get("name"), str):
            problems.append(f"{where} tools[{index}] ({kind}) has no name")
        elif kind == "namespace" and not isinstance(tool.get("tools"), list):
            problems.append(f"{where} tools[{index}] (namespace) has no tools list")
    return problems


def check_calls_offered(
    body: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    output: Sequence[Mapping[str, Any]],
) -> list[str]:
    """Problems of a turn's function and custom calls, for a request with client tool search.

    Args:
        body: The request being answered.
        history: The conversation the request ends (chained history and its input).
        output: The output items the script is about to serve.
    """
    tools = body.get("tools")
    if not _client_search(tools):
        return []
    available = _keys(tools, deferred=False) | _loaded(history)
    problems = []
    for item in output:
        if item.get("type") not in _CALLS or not isinstance(item.get("name"), str):
            continue
        namespace = item.get("namespace")
        key = (namespace if isinstance(namespace, str) else None, item["name"])
        if key not in available:
            problems.append(
                f"the script calls {_show(key)!r} ({item['type']} {item.get('call_id')!r}), "
                "which this request neither offers in tools nor loaded with a "
                "tool_search_output: a deferred tool is callable only after a search loaded it"
            )
    return problems
