"""Strict-mode JSON schemas, and the matching decoding of arguments the model sends back.

Part of ``executors``: :mod:`sandloop.executors._schema` generates a plain JSON schema with
pydantic; :func:`to_strict` rewrites it into the subset the Responses API accepts with
``strict: true``: ``additionalProperties: false`` on every object, every property required
(the optional ones made nullable), no unsupported keywords, ``$ref`` siblings inlined.

Two rewrites change the shape of the arguments, so :func:`decode_strict` undoes them before
pydantic validates: a ``null`` for an optional, non-nullable property means "use the default" and
is dropped; a ``dict[str, X]`` (an open object, which strict mode forbids) travels as a list of
``{"key", "value"}`` pairs and is turned back into a dict.
"""

from __future__ import annotations

from typing import Any

__all__ = ("decode_strict", "to_strict")

# Keywords strict mode rejects (or that mean nothing to the model); dropped from every node.
_DROP = frozenset(
    {
        "title",
        "default",
        "examples",
        "minLength",
        "maxLength",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "patternProperties",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
        "contains",
        "minContains",
        "maxContains",
        "discriminator",
        "readOnly",
        "writeOnly",
        "deprecated",
    }
)

Schema = dict[str, Any]


def to_strict(schema: Schema) -> Schema:
    """Return the strict-mode form of an object schema made by pydantic.

    Args:
        schema: A JSON schema whose root is an object (it is not modified).

    Returns:
        A new schema the API accepts with ``strict: true``.
    """
    defs = schema.get("$defs", {})
    out = _node(schema, defs)
    if defs:
        out["$defs"] = {name: _node(d, defs) for name, d in defs.items()}
    return out


def _node(schema: Schema, defs: dict[str, Schema]) -> Schema:
    schema = _inline(schema, defs)
    out: Schema = {}
    for key, value in schema.items():
        if key in _DROP or key == "$defs":
            continue
        if key == "properties":
            out[key] = {name: _node(sub, defs) for name, sub in value.items()}
        elif key in ("anyOf", "oneOf"):
            out["anyOf"] = [_node(sub, defs) for sub in value]
        elif key == "items" and isinstance(value, dict):
            out[key] = _node(value, defs)
        elif key == "prefixItems":
            out["items"] = _tuple_items(value, defs)
        else:
            out[key] = value
    if _is_map(schema):
        return _map_as_pairs(schema, defs)
    if out.get("type") == "object" or "properties" in out:
        _close_object(out, schema)
    return out


def _inline(schema: Schema, defs: dict[str, Schema]) -> Schema:
    """Merge a single ``allOf`` and resolve a ``$ref`` that has sibling keywords."""
    if "allOf" in schema and len(schema["allOf"]) == 1:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        return _inline({**schema["allOf"][0], **merged}, defs)
    if "$ref" in schema and len(schema) > 1:
        target = _resolve(schema["$ref"], defs)
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return _inline({**target, **rest}, defs)
    return schema


def _resolve(ref: str, defs: dict[str, Schema]) -> Schema:
    prefix = "#/$defs/"
    if not ref.startswith(prefix) or ref[len(prefix) :] not in defs:
        raise ValueError(f"cannot resolve JSON schema reference {ref!r}")
    return defs[ref[len(prefix) :]]


def _close_object(out: Schema, original: Schema) -> None:
    props: dict[str, Schema] = out.setdefault("properties", {})
    required = set(original.get("required", ()))
    for name, sub in props.items():
        if name not in required:
            props[name] = _nullable(sub)
    out["required"] = list(props)
    out["additionalProperties"] = False


def _tuple_items(items: list[Schema], defs: dict[str, Schema]) -> Schema:
    # Strict mode has no prefixItems: accept any of the element types; pydantic still checks
    # each position and the length (minItems/maxItems are kept).
    branches: list[Schema] = []
    for sub in items:
        node = _node(sub, defs)
        if node not in branches:
            branches.append(node)
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _is_map(schema: Schema) -> bool:
    extra = schema.get("additionalProperties")
    is_object = schema.get("type") == "object" and "properties" not in schema
    return is_object and extra not in (None, False)


def _map_as_pairs(schema: Schema, defs: dict[str, Schema]) -> Schema:
    extra = schema["additionalProperties"]
    value = _node(extra, defs) if isinstance(extra, dict) and extra else {"type": "string"}
    pair = {
        "type": "object",
        "properties": {"key": {"type": "string"}, "value": value},
        "required": ["key", "value"],
        "additionalProperties": False,
    }
    text = "A list of key/value pairs."
    desc = schema.get("description")
    return {"type": "array", "items": pair, "description": f"{desc} ({text})" if desc else text}


def _nullable(schema: Schema) -> Schema:
    if _allows_null(schema):
        return schema
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema and "anyOf" not in schema:
        out = {**schema, "type": [kind, "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    desc = schema.get("description")
    inner = {k: v for k, v in schema.items() if k != "description"}
    out = {"anyOf": [inner, {"type": "null"}]}
    return {**out, "description": desc} if desc else out


def _allows_null(schema: Schema) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(sub) for sub in schema.get("anyOf", ()))


def decode_strict(value: Any, schema: Schema, defs: dict[str, Schema] | None = None) -> Any:
    """Turn arguments written against the strict schema back into the plain schema's shape.

    Args:
        value: The decoded JSON arguments (not modified).
        schema: The *plain* (non-strict) schema node the value belongs to.
        defs: The plain schema's ``$defs`` (taken from ``schema`` at the root).

    Returns:
        The value with defaulted ``null`` properties removed and key/value pair lists as dicts.
    """
    defs = schema.get("$defs", {}) if defs is None else defs
    schema = _deref(schema, defs)
    if _is_map(schema) and isinstance(value, list):
        extra = schema["additionalProperties"]
        sub = extra if isinstance(extra, dict) else {}
        return {
            p["key"]: decode_strict(p.get("value"), sub, defs)
            for p in value
            if isinstance(p, dict) and "key" in p
        }
    if isinstance(value, dict) and "properties" in schema:
        return _decode_object(value, schema, defs)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [decode_strict(v, schema["items"], defs) for v in value]
    if isinstance(value, list) and "prefixItems" in schema:
        subs = schema["prefixItems"]
        return [decode_strict(v, s, defs) for v, s in zip(value, subs, strict=False)] + value[
            len(subs) :
        ]
    branch = _pick_branch(value, schema, defs)
    return value if branch is None else decode_strict(value, branch, defs)


def _decode_object(value: dict[str, Any], schema: Schema, defs: dict[str, Schema]) -> Any:
    props: dict[str, Schema] = schema["properties"]
    required = set(schema.get("required", ()))
    out: dict[str, Any] = {}
    for key, item in value.items():
        sub = props.get(key)
        if sub is None:
            out[key] = item
        elif item is None and key not in required and not _allows_null(_deref(sub, defs)):
            continue
        else:
            out[key] = decode_strict(item, sub, defs)
    return out


def _deref(schema: Schema, defs: dict[str, Schema]) -> Schema:
    seen = 0
    while seen < 32 and ("$ref" in schema or ("allOf" in schema and len(schema["allOf"]) == 1)):
        schema = _inline(schema, defs) if len(schema) > 1 else _resolve(schema["$ref"], defs)
        seen += 1
    return schema


def _pick_branch(value: Any, schema: Schema, defs: dict[str, Schema]) -> Schema | None:
    branches = schema.get("anyOf") or schema.get("oneOf")
    if not branches or value is None:
        return None
    want = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else None
    if want is None:
        return None
    for sub in branches:
        node = _deref(sub, defs)
        if want == "array" and _is_map(node):
            return node
        if node.get("type") == want or (want == "object" and "properties" in node):
            return node
    return None
