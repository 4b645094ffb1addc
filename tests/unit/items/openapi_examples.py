"""The openapi.yaml examples, loaded once per session (``functools.cache``).

``conftest.py`` parametrizes the tests that ask for ``request_example``, ``response_example`` or
``event_example`` over every matching example of the official document. The module has a
distinctive name because test directories have no ``__init__.py`` (imports are by basename).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

OPENAPI = Path("/work/shared/openapi/openapi.yaml")
# The only example that is not valid JSON (documented in /work/shared/openapi/README.md).
INVALID_JSON_EVENT_EXAMPLES = frozenset({"ResponseFunctionCallArgumentsDeltaEvent"})


@dataclass(frozen=True, slots=True)
class Example:
    """One example body, named after where it was found."""

    name: str
    body: Any


@functools.cache
def openapi() -> dict[str, Any]:
    """The parsed openapi.yaml (3 MB: parsed once per session)."""
    if not OPENAPI.exists():
        pytest.skip(f"{OPENAPI} is not present", allow_module_level=True)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with OPENAPI.open("rb") as f:
        document: dict[str, Any] = yaml.load(f, Loader=loader)
    return document


def _path_examples() -> list[tuple[str, str, dict[str, Any]]]:
    """(operation name, path, example) for every x-oaiMeta example under /responses."""
    found = []
    for path, operations in openapi()["paths"].items():
        if not path.startswith("/responses"):
            continue
        for method, op in operations.items():
            if not isinstance(op, dict) or "x-oaiMeta" not in op:
                continue
            examples = op["x-oaiMeta"].get("examples") or []
            for i, example in enumerate([examples] if isinstance(examples, dict) else examples):
                title = example.get("title") or str(i)
                found.append((f"{method.upper()} {path} [{title}]", path, example))
    return found


@functools.cache
def request_examples() -> list[Example]:
    """Every JSON request body sent with ``curl -d`` in the /responses examples."""
    out = []
    for name, _path, example in _path_examples():
        curl = example.get("request", {}).get("curl", "")
        match = re.search(r"-d '(.*)'", curl, re.S)
        if match:
            out.append(Example(name, json.loads(match.group(1))))
    return out


@functools.cache
def response_examples() -> list[Example]:
    """Every JSON response body and every SSE ``data:`` payload of the /responses examples.

    Left out: the DELETE result and the ``/responses/input_tokens`` count, which are not
    Response-shaped and have no model of ours.
    """
    out = []
    for name, path, example in _path_examples():
        text = example.get("response", "")
        if name.startswith("DELETE") or path.startswith("/responses/input_tokens"):
            continue
        if text.lstrip().startswith("{"):
            out.append(Example(name, json.loads(text)))
            continue
        data_lines = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
        out.extend(Example(f"{name} data#{i}", json.loads(d)) for i, d in enumerate(data_lines))
    return out


@functools.cache
def event_examples() -> list[Example]:
    """The x-oaiMeta example of every ResponseStreamEvent schema that has one (raw text)."""
    schemas = openapi()["components"]["schemas"]
    out = []
    for ref in schemas["ResponseStreamEvent"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        example = schemas[name].get("x-oaiMeta", {}).get("example")
        if example:
            out.append(Example(name, example))
    return out
