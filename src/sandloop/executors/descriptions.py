"""Tools as data: ``{"tool": kind, "options": {...}}`` and back, for every tool family.

Part of ``executors``; ``Agent.to_dict`` / ``Agent.from_dict`` (``loop``) describe their tools
here so an agent can be rebuilt in another process (DESIGN §7). The built-in kinds are
``function``, ``custom``, ``shell``, ``local_shell``, ``apply_patch``, ``computer`` and
``mcp`` (an :class:`~sandloop.executors.mcp.MCPServer`, its ``${NAME}`` references kept); a
function or custom tool names its Python function by import path (``module:qualname``),
checked when the description is written. A hosted tool's definition (a dict such as
``{"type": "web_search"}``) is its own description. A tool class of your own is described by
its import path when it has an ``options()`` method returning the keyword arguments that
rebuild it. Anything else — a closure, a lambda, a ``ComputerTool`` over your own ``Computer``
— raises ``ConfigError`` naming the tool: a description is never a lossy reference.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from sandloop._import_path import import_path_of, resolve_import_path
from sandloop.errors import ConfigError
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.base import Tool
from sandloop.executors.computer import ComputerTool
from sandloop.executors.custom import CustomTool
from sandloop.executors.function import FunctionTool
from sandloop.executors.local_shell import LocalShellTool
from sandloop.executors.mcp import MCPServer
from sandloop.executors.shell import ShellTool

__all__ = ("describe_tool", "tool_from_dict")

#: The built-in kinds whose every option is plain data (rebuilt as ``cls(**options)``).
_PLAIN: dict[str, type[Any]] = {
    "shell": ShellTool,
    "local_shell": LocalShellTool,
    "apply_patch": ApplyPatchTool,
    "computer": ComputerTool,
}
#: The kinds wrapping a Python function, named by the ``function`` option.
_OVER_FUNCTION: dict[str, type[FunctionTool[Any, Any] | CustomTool]] = {
    "function": FunctionTool,
    "custom": CustomTool,
}


def describe_tool(tool: Any) -> dict[str, Any]:
    """The JSON-ready description of one entry of ``Agent.tools``.

    Raises:
        ConfigError: the tool cannot be described (named in the message).
    """
    if isinstance(tool, Mapping):
        if "tool" in tool or "type" not in tool:
            raise ConfigError(f"a hosted tool definition needs 'type' and no 'tool' key: {tool!r}")
        return dict(tool)
    if type(tool) is MCPServer:
        return {"tool": "mcp", "options": tool.options()}
    for kind, cls in _OVER_FUNCTION.items():
        if type(tool) is cls:
            return _describe_over_function(kind, tool)
    for kind, cls in _PLAIN.items():
        if type(tool) is cls:
            return {"tool": kind, "options": tool.options()}
    options = getattr(tool, "options", None)
    if not callable(options):
        raise ConfigError(
            f"tool {_label(tool)} cannot be described: give its class an options() method "
            "returning the keyword arguments that rebuild it"
        )
    path = import_path_of(type(tool), what=f"tool {_label(tool)}")
    return {"tool": path, "options": dict(options())}


def _describe_over_function(kind: str, tool: FunctionTool[Any, Any] | CustomTool) -> dict[str, Any]:
    func = tool.func
    path = import_path_of(
        func,
        what=f"{kind} tool {tool.name!r}",
        # A decorated function's name leads to its tool: any tool over this same function.
        leads_back=lambda found: getattr(found, "func", None) is func,
    )
    return {"tool": kind, "options": {"function": path, **tool.options()}}


def tool_from_dict(data: Any) -> Any:
    """Rebuild a tool from :func:`describe_tool` output (a hosted definition comes back as is).

    Raises:
        ConfigError: the description is malformed, names an unknown kind or option, or its
            function or class cannot be imported.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(
            "a tool description is {'tool': kind, 'options': {...}} or a hosted tool's "
            f"definition dict, not {data!r}"
        )
    if "tool" not in data:
        return describe_tool(data)  # a hosted definition: checked, then kept as it is
    kind = data["tool"]
    options = data.get("options") or {}
    if not isinstance(kind, str) or not isinstance(options, Mapping):
        raise ConfigError(f"malformed tool description: {dict(data)!r}")
    if kind == "mcp":
        return _mcp_server(dict(options))
    if kind in _OVER_FUNCTION:
        return _over_function(kind, dict(options))
    if kind in _PLAIN:
        return _build(_PLAIN[kind], kind, dict(options))
    if ":" not in kind:
        known = ", ".join([*_OVER_FUNCTION, *_PLAIN, "mcp"])
        raise ConfigError(f"unknown tool kind {kind!r} (known: {known}, or 'module:Class')")
    cls = resolve_import_path(kind, what="tool")
    if not isinstance(cls, type):
        raise ConfigError(f"tool {kind!r} is not a class: a tool kind names a tool class")
    return _build(cls, kind, dict(options), by_position=True)


def _over_function(kind: str, options: dict[str, Any]) -> Any:
    path = options.pop("function", None)
    if not isinstance(path, str):
        raise ConfigError(f"a {kind} tool description needs its 'function' import path")
    target = resolve_import_path(path, what=f"{kind} tool")
    cls = _OVER_FUNCTION[kind]
    if type(target) is cls and target.options() == options:
        return target  # the module's own tool (a decorated function): the very same object
    func = getattr(target, "func", target)
    if not callable(func):
        raise ConfigError(f"{kind} tool {path!r} is not a function")
    return _build(cls, kind, options, func)


def _mcp_server(options: dict[str, Any]) -> MCPServer:
    try:
        return MCPServer(**options)
    except TypeError as exc:  # an unknown or missing option
        raise ConfigError(f"tool 'mcp': bad options: {exc}") from exc


def _build(
    cls: type[Any], kind: str, options: dict[str, Any], *args: Any, by_position: bool = False
) -> Any:
    """``cls(*args, **options)``, refusing options the class does not take by keyword (the
    built-in tools take every option keyword-only; a class of yours may take them either way)."""
    kinds: set[inspect._ParameterKind] = {inspect.Parameter.KEYWORD_ONLY}
    if by_position:
        kinds.add(inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = inspect.signature(cls).parameters
    keyword = {n for n, p in params.items() if p.kind in kinds}
    unknown = sorted(set(options) - keyword)
    if unknown:
        raise ConfigError(f"tool {kind!r} has no option(s) {', '.join(unknown)}")
    try:
        tool = cls(*args, **options)
    except (TypeError, ValueError, AttributeError, LookupError) as exc:  # wrongly typed values
        raise ConfigError(f"tool {kind!r}: bad option value: {exc}") from exc
    if not isinstance(tool, Tool):
        raise ConfigError(f"{kind!r} did not make a tool (it has no definition()/execute())")
    return tool


def _label(tool: Any) -> str:
    name = getattr(tool, "name", None)
    return f"{name!r} ({type(tool).__qualname__})" if name else repr(tool)
