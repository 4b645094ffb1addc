"""Custom tools: free-text input, optionally constrained by a Lark or regex grammar.

Part of ``executors``: the dispatcher hands a ``custom_tool_call`` to :meth:`CustomTool.execute`,
which passes the raw ``input`` text to the user's function and returns a
``custom_tool_call_output``. The grammar (when given) travels in the tool definition; the API
makes the model's input match it, so the function receives text it can parse.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from sandloop.errors import ConfigError
from sandloop.executors._schema import is_context_annotation
from sandloop.executors._schema_doc import parse_docstring
from sandloop.executors.base import ToolContext
from sandloop.executors.function import call_function, to_tool_output
from sandloop.items import CustomToolCallOutput

if TYPE_CHECKING:
    from sandloop.items import CustomToolCall

__all__ = ("CustomTool",)


class CustomTool:
    """A tool whose input is raw text rather than JSON arguments.

    The function takes the input text as its first parameter and, optionally, a parameter
    annotated :class:`~sandloop.executors.base.ToolContext`. It may be sync (run in a worker
    thread) or async. Its return value is converted like a function tool's (``str`` as is, images
    as content parts, anything else as JSON).

    Example::

        def run_sql(query: str) -> str:
            \"\"\"Run one read-only SQL query against the orders database.\"\"\"
            ...

        sql = CustomTool(run_sql, grammar='start: "SELECT " /[^;]+/', syntax="lark")

    Args:
        func: The function receiving the input text.
        name: The tool name; default the function name.
        description: What the tool does, for the model; default the function's docstring text.
        grammar: A grammar definition constraining the input, or ``None`` for free text.
        syntax: ``"lark"`` or ``"regex"``: the grammar's language.
        sequential: Run calls of this tool alone.
        needs_approval: Ask the run's approval callback before each call.
        timeout: Seconds a call may take.
        namespace: Group the tool under a ``namespace`` tool of this name.
        defer_loading: Load the tool through tool search instead of sending it up front.
    """

    call_type = "custom_tool_call"

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        grammar: str | None = None,
        syntax: Literal["lark", "regex"] = "lark",
        sequential: bool = False,
        needs_approval: bool = False,
        timeout: float | None = None,
        namespace: str | None = None,
        defer_loading: bool = False,
    ) -> None:
        if syntax not in ("lark", "regex"):
            raise ConfigError(
                f"custom tool grammar syntax must be 'lark' or 'regex', not {syntax!r}"
            )
        if grammar is not None and not grammar.strip():
            raise ConfigError("custom tool grammar is empty; pass grammar=None for free text")
        self.func = func
        self.name: str | None = name or func.__name__
        self.description = description or parse_docstring(inspect.getdoc(func)).description
        self.grammar = grammar
        self.syntax = syntax
        self.namespace = namespace
        self.sequential = sequential
        self.needs_approval = needs_approval
        self.timeout = timeout
        self.defer_loading = defer_loading
        self._context_param = _context_param(func)
        self._is_async = inspect.iscoroutinefunction(func)
        self._definition = self._build_definition()

    def __repr__(self) -> str:
        return f"CustomTool({self.name!r})"

    def options(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this tool over its function
        (``CustomTool(tool.func, **tool.options())``)."""
        return {
            "name": self.name,
            "description": self.description,
            "grammar": self.grammar,
            "syntax": self.syntax,
            "sequential": self.sequential,
            "needs_approval": self.needs_approval,
            "timeout": self.timeout,
            "namespace": self.namespace,
            **({"defer_loading": True} if self.defer_loading else {}),
        }

    def definition(self) -> dict[str, Any]:
        """The ``{"type": "custom", ...}`` entry of the request's ``tools`` (built once)."""
        return self._definition

    def _build_definition(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "custom", "name": self.name}
        if self.description:
            out["description"] = self.description
        if self.grammar is None:
            out["format"] = {"type": "text"}
        else:
            out["format"] = {"type": "grammar", "syntax": self.syntax, "definition": self.grammar}
        if self.defer_loading:
            out["defer_loading"] = True
        return out

    async def execute(self, call: CustomToolCall, ctx: ToolContext) -> CustomToolCallOutput:
        """Run the function on the call's input text and wrap its result."""
        kwargs: dict[str, Any] = {}
        if self._context_param is not None:
            kwargs[self._context_param] = ctx
        result = await call_function(self.func, [call.input], kwargs, is_async=self._is_async)
        return CustomToolCallOutput(call_id=call.call_id, output=to_tool_output(result))


def _context_param(func: Callable[..., Any]) -> str | None:
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise ConfigError(f"custom tool {func.__name__!r}: cannot resolve type hints") from exc
    params = list(inspect.signature(func).parameters.values())
    if not params:
        raise ConfigError(f"custom tool {func.__name__!r} must take the input text as a parameter")
    for param in params[1:]:
        if is_context_annotation(hints.get(param.name)):
            return param.name
    return None
