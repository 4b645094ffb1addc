"""Python function tools: the ``@sandloop.tool`` decorator and :class:`FunctionTool`.

Part of ``executors``: the dispatcher hands a ``function_call`` item to
:meth:`FunctionTool.execute`, which validates the arguments against the schema built from the
function's type hints and docstring (:mod:`sandloop.executors._schema`), runs the function (sync
ones in a worker thread, async ones on the event loop) and turns its return value into a
``function_call_output``.
"""

from __future__ import annotations

import base64
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

import anyio.to_thread
from pydantic import BaseModel
from pydantic_core import to_json

from sandloop.executors._schema import FunctionSchema, function_schema
from sandloop.executors.base import ToolContext
from sandloop.items import FunctionCallOutput, InputImage, InputText

if TYPE_CHECKING:
    from sandloop.items import FunctionCall

__all__ = ("FunctionTool", "ToolImage", "ToolOutput", "call_function", "to_tool_output", "tool")

P = ParamSpec("P")
R = TypeVar("R")

#: What a function or custom tool's output becomes on the wire: text, or content parts.
ToolOutput = str | list[InputText | InputImage]


@dataclass(frozen=True, slots=True)
class ToolImage:
    """An image a tool returns; sent to the model as an ``input_image`` part.

    Attributes:
        data: The encoded image bytes (PNG, JPEG, ...). Leave empty when giving ``url``.
        media_type: The MIME type of ``data``.
        url: An ``https:`` or ``data:`` URL instead of ``data``.
        detail: ``low``, ``high``, ``auto`` or ``original``.
    """

    data: bytes = b""
    media_type: str = "image/png"
    url: str | None = None
    detail: str = "auto"

    def to_part(self) -> InputImage:
        """The ``input_image`` content part for this image."""
        url = self.url or f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"
        return InputImage(image_url=url, detail=self.detail)


def to_tool_output(value: Any) -> ToolOutput:
    """Convert a tool's return value into the ``output`` of its output item.

    ``str`` is sent as is; a :class:`ToolImage`, an ``InputText``/``InputImage`` part or a list
    containing any of them becomes a content list (strings in the list become ``input_text``);
    everything else (pydantic models, dataclasses, dicts, lists, numbers, ``None``) becomes JSON.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, ToolImage | InputText | InputImage):
        return [_part(value)]
    if isinstance(value, list | tuple) and any(
        isinstance(v, ToolImage | InputText | InputImage) for v in value
    ):
        return [_part(v) for v in value]
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return to_json(value, fallback=repr).decode()


def _part(value: Any) -> InputText | InputImage:
    if isinstance(value, ToolImage):
        return value.to_part()
    if isinstance(value, InputText | InputImage):
        return value
    return InputText(text=value if isinstance(value, str) else str(to_tool_output(value)))


class FunctionTool(Generic[P, R]):
    """A Python function the model can call. Made by ``@sandloop.tool``; still callable.

    Attributes:
        func: The wrapped function.
        schema: Its generated schema and argument validator.
    """

    call_type = "function_call"

    def __init__(
        self,
        func: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool = True,
        sequential: bool = False,
        needs_approval: bool = False,
        timeout: float | None = None,
        namespace: str | None = None,
        idempotent: bool = False,
        defer_loading: bool = False,
    ) -> None:
        self.func = func
        self.schema: FunctionSchema = function_schema(
            func, name=name, description=description, strict=strict
        )
        self.name: str | None = self.schema.name
        self.namespace = namespace
        self.sequential = sequential
        self.needs_approval = needs_approval
        self.timeout = timeout
        #: Safe to run twice: a call cut short by a crash is run again on resume.
        self.idempotent = idempotent
        #: Left out of the request's tools until the model finds it with tool search.
        self.defer_loading = defer_loading
        self._is_async = inspect.iscoroutinefunction(func)
        self._definition = self._build_definition()
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"FunctionTool({self.import_path})"

    @property
    def import_path(self) -> str:
        """``module:qualname`` of the function, so an agent can be described as plain data."""
        return f"{self.func.__module__}:{self.func.__qualname__}"

    def options(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this tool over its function
        (``FunctionTool(tool.func, **tool.options())``)."""
        return {
            "name": self.schema.name,
            "description": self.schema.description,
            "strict": self.schema.strict,
            "sequential": self.sequential,
            "needs_approval": self.needs_approval,
            "timeout": self.timeout,
            "namespace": self.namespace,
            "idempotent": self.idempotent,
            # Only when set: descriptions written before the option existed stay equal.
            **({"defer_loading": True} if self.defer_loading else {}),
        }

    def definition(self) -> dict[str, Any]:
        """The ``{"type": "function", ...}`` entry of the request's ``tools`` (built once)."""
        return self._definition

    def _build_definition(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "function", "name": self.schema.name}
        if self.schema.description:
            out["description"] = self.schema.description
        out["parameters"] = self.schema.parameters
        out["strict"] = self.schema.strict
        if self.defer_loading:
            out["defer_loading"] = True
        return out

    async def execute(self, call: FunctionCall, ctx: ToolContext) -> FunctionCallOutput:
        """Validate the call's arguments, run the function and wrap its result.

        Raises:
            ToolArgumentsError: the arguments are not valid JSON or do not fit the schema.
            Exception: whatever the function raises (the dispatcher reports it to the model).
        """
        values = self.schema.validate(call.arguments)
        args, kwargs = self.schema.call_args(values, ctx)
        result = await self.invoke(args, kwargs)
        return FunctionCallOutput(call_id=call.call_id, output=to_tool_output(result))

    async def invoke(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Call the function: async ones on the loop, sync ones in a worker thread."""
        return await call_function(self.func, args, kwargs, is_async=self._is_async)


async def call_function(
    func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], *, is_async: bool
) -> Any:
    """Call a tool's function: async ones on the loop, sync ones in a worker thread.

    An awaitable that a sync-looking callable returns (an object with an async ``__call__``)
    is awaited on the loop, so its result, not a coroutine object, goes to the model.
    """
    if is_async:
        result = func(*args, **kwargs)
    else:
        # A timed-out or cancelled sync tool cannot be interrupted; the run moves on without it.
        call = functools.partial(func, *args, **kwargs)
        result = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    return await result if inspect.isawaitable(result) else result


@overload
def tool(func: Callable[P, R], /) -> FunctionTool[P, R]: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = True,
    sequential: bool = False,
    needs_approval: bool = False,
    timeout: float | None = None,
    namespace: str | None = None,
    idempotent: bool = False,
    defer_loading: bool = False,
) -> Callable[[Callable[P, R]], FunctionTool[P, R]]: ...


def tool(
    func: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = True,
    sequential: bool = False,
    needs_approval: bool = False,
    timeout: float | None = None,
    namespace: str | None = None,
    idempotent: bool = False,
    defer_loading: bool = False,
) -> FunctionTool[P, R] | Callable[[Callable[P, R]], FunctionTool[P, R]]:
    """Turn a function into a tool the model can call; usable bare or with options.

    Args:
        func: The function (when used bare, ``@tool``).
        name: The tool name; default the function name.
        description: The description; default the docstring text before its sections.
        strict: Send a strict-mode schema (the API then guarantees schema-valid arguments).
        sequential: Run calls of this tool alone, never beside another call.
        needs_approval: Ask the run's approval callback before each call.
        timeout: Seconds a call may take; past it the model is told the call timed out.
        namespace: Group the tool under a ``namespace`` tool of this name.
        idempotent: Running a call twice does no harm: when a run crashed while a call ran,
            :func:`sandloop.resume` runs it again instead of telling the model its effect is
            unknown.
        defer_loading: Leave the tool out of the request's tools: the model finds it with the
            client ``tool_search`` tool the run sends instead, and can call it once a search
            loaded it (see the README, "Tool search (deferred tools)").

    Returns:
        A :class:`FunctionTool` (still callable like the function), or a decorator making one.
    """

    def wrap(f: Callable[P, R]) -> FunctionTool[P, R]:
        return FunctionTool(
            f,
            name=name,
            description=description,
            strict=strict,
            sequential=sequential,
            needs_approval=needs_approval,
            timeout=timeout,
            namespace=namespace,
            idempotent=idempotent,
            defer_loading=defer_loading,
        )

    return wrap(func) if func is not None else wrap
