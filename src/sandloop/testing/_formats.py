"""The scripted server's check of a request's ``text.format`` (structured output).

Pure functions over the request body. A ``json_schema`` format must have a valid name and an
object schema; with ``strict: true`` the schema must keep to the subset the API accepts
(spec §``text``): every object closed (``additionalProperties: false``) with every property
required, and every ``$ref`` pointing into ``$defs``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ("text_format_problems",)

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_KINDS = frozenset({"text", "json_schema", "json_object"})
_SUBSCHEMAS = ("anyOf", "allOf", "oneOf")


def text_format_problems(body: Mapping[str, Any]) -> list[str]:
    """What is wrong with the body's ``text.format``; empty when it is absent or fine."""
    text = body.get("text")
    if text is None:
        return []
    if not isinstance(text, dict):
        return [f"text must be an object, not {text!r}"]
    fmt = text.get("format")
    if fmt is None:
        return []
    if not isinstance(fmt, dict) or fmt.get("type") not in _KINDS:
        return [f"text.format.type must be one of {sorted(_KINDS)}: {fmt!r}"]
    if fmt["type"] != "json_schema":
        return []
    return _json_schema_problems(fmt)


def _json_schema_problems(fmt: dict[str, Any]) -> list[str]:
    name, schema, strict = fmt.get("name"), fmt.get("schema"), fmt.get("strict", False)
    problems: list[str] = []
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(f"text.format.name must be 1-64 of [a-zA-Z0-9_-]: {name!r}")
    if not isinstance(strict, bool):
        problems.append(f"text.format.strict must be a boolean: {strict!r}")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        problems.append("text.format.schema must be a JSON schema whose root is an object")
        return problems
    if strict:
        defs = schema.get("$defs") or {}
        problems += [f"text.format.schema (strict) {p}" for p in _strict_problems(schema, defs)]
    return problems


def _strict_problems(schema: dict[str, Any], defs: Mapping[str, Any]) -> Iterator[str]:
    for path, node in _nodes(schema, "#"):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.removeprefix("#/$defs/") not in defs:
            yield f"at {path}: $ref {ref!r} does not point into $defs"
        if node.get("type") != "object" and "properties" not in node:
            continue
        props = node.get("properties") or {}
        if node.get("additionalProperties") is not False:
            yield f"at {path}: an object needs additionalProperties: false"
        missing = sorted(set(props) - set(node.get("required") or ()))
        if missing:
            yield f"at {path}: every property must be required (missing: {', '.join(missing)})"


def _nodes(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node under ``node`` with its JSON-pointer-like path."""
    if not isinstance(node, dict):
        return
    yield path, node
    for name, sub in (node.get("properties") or {}).items():
        yield from _nodes(sub, f"{path}/properties/{name}")
    for name, sub in (node.get("$defs") or {}).items():
        yield from _nodes(sub, f"{path}/$defs/{name}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}/items")
    for key in _SUBSCHEMAS:
        for index, sub in enumerate(node.get(key) or ()):
            yield from _nodes(sub, f"{path}/{key}/{index}")
