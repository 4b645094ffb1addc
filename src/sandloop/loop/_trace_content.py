"""Prompts, answers and tool calls in the OpenTelemetry GenAI message form, for tracing.

Private to ``loop``: :mod:`sandloop.loop.tracing` records these only when the agent has
``trace_content=True``. Items (wire dicts) become ``{"role", "parts": [...]}`` messages as the
GenAI semantic conventions' message schemas describe them (``text``, ``tool_call``,
``tool_call_response``, ``reasoning`` parts; other items as a part named for their type). Each
text is cut to :data:`MAX_TEXT` characters, and images are left out: a trace is no copy of the
run (the journal is).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = (
    "MAX_TEXT",
    "arguments",
    "cut",
    "input_messages",
    "output_messages",
    "result",
    "to_json",
    "tool_call_part",
)

#: Characters of one text recorded on a span; the rest is replaced by a note.
MAX_TEXT = 16_000
_OUTPUT_SUFFIX = "_output"


def cut(text: str) -> str:
    """``text``, or its first :data:`MAX_TEXT` characters and how many were left out."""
    if len(text) <= MAX_TEXT:
        return text
    return f"{text[:MAX_TEXT]}... [{len(text) - MAX_TEXT} more characters not recorded]"


def to_json(value: Any) -> str:
    """The attribute value: JSON text (spans hold no nested structures)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def input_messages(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The request's input items as GenAI input messages, in order."""
    return [_message(item) for item in items]


def output_messages(items: Iterable[Mapping[str, Any]], finish_reason: str) -> list[dict[str, Any]]:
    """A response's output as one GenAI output message (one choice)."""
    parts = [part for item in items for part in _message(item)["parts"]]
    return [{"role": "assistant", "parts": parts, "finish_reason": finish_reason}]


def _message(item: Mapping[str, Any]) -> dict[str, Any]:
    kind = str(item.get("type") or "message")
    if kind == "message":
        return {"role": item.get("role", "user"), "parts": _text_parts(item.get("content"))}
    if kind == "reasoning":
        summary = " ".join(str(p.get("text", "")) for p in item.get("summary") or ())
        return {"role": "assistant", "parts": [{"type": "reasoning", "content": cut(summary)}]}
    if kind.endswith(_OUTPUT_SUFFIX):
        part = {"type": "tool_call_response", "id": _call_id(item), "result": result(item)}
        return {"role": "tool", "parts": [part]}
    if kind.endswith("_call"):
        return {"role": "assistant", "parts": [tool_call_part(item)]}
    return {"role": "assistant", "parts": [{"type": kind}]}


def tool_call_part(item: Mapping[str, Any]) -> dict[str, Any]:
    """A call item as a ``tool_call`` part: id, name (or call type), arguments."""
    kind = str(item.get("type"))
    name = item.get("name") or kind.removesuffix("_call")
    return {"type": "tool_call", "id": _call_id(item), "name": name, "arguments": arguments(item)}


def arguments(item: Mapping[str, Any]) -> Any:
    """What a call asks for: decoded JSON arguments, a custom tool's input, or its action."""
    if isinstance(item.get("arguments"), str):
        try:
            return json.loads(item["arguments"])
        except ValueError:
            return cut(item["arguments"])
    if isinstance(item.get("input"), str):
        return cut(item["input"])
    action = item.get("action") if "action" in item else item.get("actions")
    return _shorten(action)


def result(item: Mapping[str, Any]) -> Any:
    """What an output item hands back: its text, or its JSON value (images left out)."""
    output = item.get("output")
    if isinstance(output, str):
        return cut(output)
    return _shorten(output)


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": cut(content)}]
    parts: list[dict[str, Any]] = []
    for part in content or ():
        text = part.get("text") if isinstance(part, Mapping) else None
        if isinstance(text, str):
            parts.append({"type": "text", "content": cut(text)})
        elif isinstance(part, Mapping):
            parts.append({"type": str(part.get("type", "part"))})  # an image, a file: no data
    return parts


def _shorten(value: Any) -> Any:
    """A JSON value with long strings cut and image data left out."""
    if isinstance(value, str):
        return "[image]" if value.startswith("data:") else cut(value)
    if isinstance(value, Mapping):
        return {k: _shorten(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_shorten(v) for v in value]
    return value


def _call_id(item: Mapping[str, Any]) -> Any:
    return item.get("call_id") or item.get("id")
