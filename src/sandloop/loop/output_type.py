"""Typed final output: a pydantic model, dataclass or TypedDict as the answer of a run.

Part of ``loop``. ``Agent(output_type=T)`` builds an :class:`OutputSchema` once: the strict JSON
schema the request sends as ``text.format`` (the same strict rewrite function tools get,
:mod:`sandloop.executors._schema_strict`) and the parser that turns the final answer's text
back into a ``T``. Each run keeps a :class:`FinalOutput`: the value once the answer validated,
and how many times the model may still be told what was wrong and asked again
(``output_retries``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from sandloop.errors import ConfigError, OutputValidationError
from sandloop.executors._schema_strict import decode_strict, to_strict
from sandloop.items import Message, replace_lone_surrogates

__all__ = ("FinalOutput", "OutputSchema")

_NAME = re.compile(r"[^a-zA-Z0-9_-]")
#: Characters of the invalid answer quoted back to the model in a retry message.
_QUOTE = 2000


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """The strict JSON schema of an output type, and its parser.

    Attributes:
        type: The output type (a pydantic model, dataclass or TypedDict).
        name: The ``text.format`` name (the type's name, ``[a-zA-Z0-9_-]``, at most 64).
        schema: The strict schema sent as ``text.format.schema``.
        plain: The schema before the strict rewrite (used to decode the answer).
    """

    type: Any
    name: str
    schema: dict[str, Any]
    plain: dict[str, Any]
    adapter: TypeAdapter[Any] = dataclasses.field(repr=False, compare=False)

    @classmethod
    def of(cls, output_type: Any) -> OutputSchema:
        """The schema of ``output_type``.

        Raises:
            ConfigError: not a pydantic model, dataclass or TypedDict, or pydantic cannot make
                a JSON schema of it.
        """
        if not _is_record_type(output_type):
            raise ConfigError(
                f"output_type must be a pydantic model, a dataclass or a TypedDict, not "
                f"{output_type!r}"
            )
        label = getattr(output_type, "__name__", "output")
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(output_type)
            plain = adapter.json_schema(by_alias=True)
            strict = to_strict(plain)
        except Exception as exc:  # pydantic's schema errors have no common base
            raise ConfigError(f"output_type {label}: cannot build a JSON schema ({exc})") from exc
        name = _NAME.sub("_", label)[:64] or "output"
        return cls(output_type, name, strict, plain, adapter)

    def text_format(self) -> dict[str, Any]:
        """The request's ``text.format``: ``{"type": "json_schema", "name", "schema",
        "strict": true}``."""
        return {"type": "json_schema", "name": self.name, "schema": self.schema, "strict": True}

    def request_text(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The request's ``text`` object: ``given`` (e.g. ``verbosity``) plus the format.

        Raises:
            ConfigError: ``given`` already has a ``format``.
        """
        text = dict(given or {})
        if "format" in text:
            raise ConfigError(
                "output_type sets text.format: remove 'format' from request_options['text']"
            )
        text["format"] = self.text_format()
        return text

    def parse(self, text: str) -> Any:
        """The answer as an instance of the output type.

        Raises:
            OutputValidationError: the text is not JSON or does not fit (``result`` unset).
        """
        try:
            data = replace_lone_surrogates(json.loads(text))
        except ValueError as exc:
            problem = _error(f"not valid JSON ({exc})", "json_invalid")
            raise _invalid(self.name, text, [problem]) from exc
        except RecursionError:  # JSON nested deeper than the parser goes: hostile or broken
            raise _invalid(self.name, text, [_error("nested too deeply", "json_invalid")]) from None
        try:
            return self.adapter.validate_python(decode_strict(data, self.plain))
        except ValidationError as exc:
            errors = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False)
            ]
            raise _invalid(self.name, text, errors) from exc
        except RecursionError:
            raise _invalid(self.name, text, [_error("nested too deeply", "too_deep")]) from None


class FinalOutput:
    """One run's typed answer: the value once it validated, and the retries left.

    Args:
        schema: The agent's output schema.
        retries: How many invalid answers are answered with a retry message.
    """

    __slots__ = ("_text", "_value", "retries_left", "schema")

    def __init__(self, schema: OutputSchema, retries: int) -> None:
        self.schema = schema
        self.retries_left = retries
        self._text: str | None = None
        self._value: Any = None

    def check(self, text: str) -> Message | None:
        """Validate a final answer: ``None`` when it fits, else the user message that asks
        again (one retry used).

        Raises:
            OutputValidationError: it does not fit and no retry is left.
        """
        try:
            self._value = self.schema.parse(text)
        except OutputValidationError as exc:
            if self.retries_left <= 0:
                raise
            self.retries_left -= 1
            return Message(role="user", content=retry_message(text, exc.errors))
        self._text = text
        return None

    def value(self, text: str) -> Any:
        """The instance ``text`` validated to (parsed now if it was not checked in this
        process, e.g. a finished journal); the text itself when it does not validate."""
        if text == self._text:
            return self._value
        try:
            value = self.schema.parse(text)
        except OutputValidationError:
            return text
        self._text, self._value = text, value
        return value


def retry_message(text: str, errors: list[dict[str, Any]]) -> str:
    """What the model is told when its answer did not validate."""
    lines = ["Your answer does not match the required JSON schema:"]
    for err in errors:
        where = ".".join(str(p) for p in err["loc"]) or "(the answer)"
        lines.append(f"- {where}: {err['msg']}")
    quoted = text if len(text) <= _QUOTE else text[:_QUOTE] + "..."
    lines.append(f"Your answer was: {quoted}")
    lines.append("Answer again with only a JSON value that matches the schema.")
    return "\n".join(lines)


def _error(msg: str, kind: str) -> dict[str, Any]:
    return {"loc": [], "msg": msg, "type": kind}


def _invalid(name: str, text: str, errors: list[dict[str, Any]]) -> OutputValidationError:
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "the answer"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = f"the final answer is not a valid {name}: {where}: {first['msg']}{more}"
    return OutputValidationError(message, text=text, errors=errors)


def _is_record_type(tp: Any) -> bool:
    if not isinstance(tp, type):
        return False
    return issubclass(tp, BaseModel) or dataclasses.is_dataclass(tp) or _is_typeddict(tp)


def _is_typeddict(tp: type) -> bool:
    # typing.is_typeddict misses typing_extensions.TypedDict, which pydantic needs before 3.12.
    return issubclass(tp, dict) and hasattr(tp, "__required_keys__")
