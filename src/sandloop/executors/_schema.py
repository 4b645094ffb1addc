"""From a Python function to a function tool's JSON schema and argument validator.

Part of ``executors``: :mod:`sandloop.executors.function` asks :func:`function_schema` for the
``parameters`` it sends and for the pydantic model that validates what the model sends back.
Type hints give the types (anything pydantic understands: scalars, ``Optional``, ``Literal``,
``Enum``, containers, nested models, dataclasses, TypedDicts); the Google-style docstring gives
the descriptions. A parameter annotated with :class:`~sandloop.executors.base.ToolContext` is
injected at call time and never shown to the model.
"""

from __future__ import annotations

import enum
import inspect
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from sandloop.errors import ConfigError, ToolArgumentsError
from sandloop.executors._schema_doc import parse_docstring
from sandloop.executors._schema_strict import decode_strict, to_strict
from sandloop.executors.base import ToolContext
from sandloop.items import replace_lone_surrogates

__all__ = ("FunctionSchema", "function_schema", "is_context_annotation")

_ARGS_CONFIG = ConfigDict(extra="forbid", populate_by_name=False, arbitrary_types_allowed=False)


@dataclass(frozen=True, slots=True)
class FunctionSchema:
    """Everything needed to describe a function to the model and to call it.

    Attributes:
        name: The tool name.
        description: The tool description (docstring summary and body), or ``None``.
        parameters: The JSON schema sent as ``parameters`` (strict form when ``strict``).
        plain_parameters: The schema before the strict rewrite (used to decode arguments).
        model: The pydantic model that validates the arguments.
        strict: Whether ``parameters`` is the strict form.
        context_param: The parameter that receives the :class:`ToolContext`, if any.
        positional: Names of positional-only parameters, in order.
        fields: Parameter name → model field name (they differ when a name needed an alias).
    """

    name: str
    description: str | None
    parameters: dict[str, Any]
    plain_parameters: dict[str, Any]
    model: type[BaseModel]
    strict: bool
    context_param: str | None
    positional: tuple[str, ...]
    fields: dict[str, str]

    def validate(self, arguments: str) -> BaseModel:
        """Parse and validate the call's ``arguments`` JSON text.

        Raises:
            ToolArgumentsError: the text is not a JSON object or does not fit the schema; the
                message is written for the model to fix its call.
        """
        try:
            # A lone "\ud800" escape decodes to text nothing can encode: made U+FFFD here.
            data = replace_lone_surrogates(json.loads(arguments)) if arguments.strip() else {}
        except ValueError as exc:
            raise ToolArgumentsError(
                f"Invalid arguments for {self.name}: not valid JSON ({exc}). "
                "Send the arguments as one JSON object."
            ) from exc
        if not isinstance(data, dict):
            raise ToolArgumentsError(
                f"Invalid arguments for {self.name}: expected a JSON object, got "
                f"{type(data).__name__}."
            )
        if self.strict:
            data = decode_strict(data, self.plain_parameters)
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            raise ToolArgumentsError(_explain(self.name, exc)) from exc

    def call_args(self, values: BaseModel, ctx: ToolContext) -> tuple[list[Any], dict[str, Any]]:
        """Split validated values into the positional and keyword arguments of the function."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for param, field_name in self.fields.items():
            value = getattr(values, field_name)
            if param in self.positional:
                args.append(value)
            else:
                kwargs[param] = value
        if self.context_param is not None:
            if self.context_param in self.positional:
                args.insert(self._context_position(), ctx)
            else:
                kwargs[self.context_param] = ctx
        return args, kwargs

    def _context_position(self) -> int:
        assert self.context_param is not None
        return self.positional.index(self.context_param)


def _explain(name: str, exc: ValidationError) -> str:
    lines = [f"Invalid arguments for {name}:"]
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        lines.append(f"- {where}: {err['msg']}")
    lines.append("Fix the arguments and call the tool again.")
    return "\n".join(lines)


def is_context_annotation(annotation: Any) -> bool:
    """True when a parameter annotation asks for the run's :class:`ToolContext`."""
    if annotation is ToolContext:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return len(args) == 1 and args[0] is ToolContext
    return False


def function_schema(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = True,
) -> FunctionSchema:
    """Build the schema and validator of a function tool.

    Args:
        func: The function (sync or async).
        name: The tool name; default the function's ``__name__``.
        description: The tool description; default the docstring's text before its sections.
        strict: Produce the strict-mode schema.

    Raises:
        ConfigError: the function cannot be described (``*args``, a missing annotation in
            strict mode, a type pydantic cannot handle).
    """
    tool_name = name or func.__name__
    doc = parse_docstring(inspect.getdoc(func))
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise ConfigError(f"tool {tool_name!r}: cannot resolve type hints ({exc})") from exc
    spec = _collect(func, tool_name, hints, doc.params, strict=strict)
    try:
        model = create_model(f"{tool_name}_args", __config__=_ARGS_CONFIG, **spec.definitions)
        plain = _clean(model.model_json_schema(by_alias=True))
    except Exception as exc:
        raise ConfigError(f"tool {tool_name!r}: cannot build a JSON schema ({exc})") from exc
    return FunctionSchema(
        name=tool_name,
        description=description if description is not None else doc.description,
        parameters=to_strict(plain) if strict else plain,
        plain_parameters=plain,
        model=model,
        strict=strict,
        context_param=spec.context_param,
        positional=spec.positional,
        fields=spec.fields,
    )


@dataclass(frozen=True, slots=True)
class _Collected:
    definitions: dict[str, Any]
    context_param: str | None
    positional: tuple[str, ...]
    fields: dict[str, str]


def _collect(
    func: Callable[..., Any],
    tool_name: str,
    hints: dict[str, Any],
    docs: dict[str, str],
    *,
    strict: bool,
) -> _Collected:
    definitions: dict[str, Any] = {}
    fields: dict[str, str] = {}
    positional: list[str] = []
    context_param: str | None = None
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(f"tool {tool_name!r}: *args and **kwargs cannot be tool parameters")
        if param.kind is param.POSITIONAL_ONLY:
            positional.append(param.name)
        annotation = hints.get(param.name, inspect.Parameter.empty)
        if is_context_annotation(annotation):
            context_param = param.name
            continue
        if annotation is inspect.Parameter.empty:
            if strict:
                raise ConfigError(
                    f"tool {tool_name!r}: parameter {param.name!r} needs a type annotation"
                )
            annotation = Any
        field_name = _field_name(param.name)
        default = ... if param.default is inspect.Parameter.empty else param.default
        text = docs.get(param.name)
        if strict and default is not ...:
            # Strict schemas cannot carry ``default``; tell the model in words instead.
            text = _with_default(text, default)
        info = Field(default, description=text, alias=param.name)
        definitions[field_name] = (annotation, info)
        fields[param.name] = field_name
    return _Collected(definitions, context_param, tuple(positional), fields)


def _with_default(text: str | None, default: Any) -> str | None:
    try:
        shown = json.dumps(default.value if isinstance(default, enum.Enum) else default)
    except (TypeError, ValueError):
        return text
    note = f"Default: {shown}; send null to use it."
    return f"{text} {note}" if text else note


def _field_name(param: str) -> str:
    # Names pydantic reserves or treats as private get a safe field name; the alias keeps the
    # name the model sees.
    if param.startswith("_") or param.startswith("model_") or hasattr(BaseModel, param):
        return f"field_{param.lstrip('_')}_"
    return param


def _clean(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop the ``title`` keywords pydantic adds: the model reads names and descriptions."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key in ("properties", "$defs"):
            out[key] = {k: _clean(v) for k, v in value.items()}
        elif isinstance(value, dict):
            out[key] = _clean(value)
        elif isinstance(value, list):
            out[key] = [_clean(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out
