"""Google-style docstring parsing for function tools.

Part of ``executors``: :mod:`sandloop.executors._schema` turns a function's signature into a JSON
schema and takes the words from here. A function tool's docstring *is* what the model reads, so
the summary becomes the tool description and each ``Args:`` entry its parameter's description.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ("ParsedDoc", "parse_docstring")

# Section headers that end the ``Args:`` block (Google style). Anything else indented under
# ``Args:`` is a parameter entry or its continuation.
_SECTIONS = frozenset(
    {
        "args",
        "arguments",
        "parameters",
        "params",
        "returns",
        "return",
        "yields",
        "yield",
        "raises",
        "examples",
        "example",
        "note",
        "notes",
        "attributes",
        "see also",
        "warning",
        "warnings",
        "todo",
    }
)
_ARG_SECTIONS = frozenset({"args", "arguments", "parameters", "params"})
# ``name (type, optional): text`` or ``name: text``; ``*args``/``**kwargs`` names allowed.
_ENTRY = re.compile(r"^\*{0,2}(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(\([^)]*\))?\s*:\s*(?P<text>.*)$")


@dataclass(frozen=True, slots=True)
class ParsedDoc:
    """What a docstring says about a function.

    Attributes:
        description: The text before the first section (summary and body), or ``None``.
        params: Parameter name → description, from the ``Args:`` section.
    """

    description: str | None
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> ParsedDoc:
    """Split a Google-style docstring into a description and per-parameter descriptions.

    Args:
        doc: The raw ``__doc__`` (it may be ``None``).

    Returns:
        The parsed description and parameter texts; continuation lines are joined with spaces.
    """
    if not doc:
        return ParsedDoc(description=None)
    body: list[str] = []
    args = _ArgsBlock()
    section: str | None = None
    for line in inspect.cleandoc(doc).splitlines():
        header = line.strip().rstrip(":").lower()
        if line and not line[0].isspace() and line.rstrip().endswith(":") and header in _SECTIONS:
            section = header
            continue
        if section is None:
            body.append(line)
        elif section in _ARG_SECTIONS:
            args.feed(line)
    description = "\n".join(body).strip() or None
    return ParsedDoc(description=description, params=args.result())


class _ArgsBlock:
    """Collects ``name: text`` entries; deeper-indented lines continue the previous entry."""

    def __init__(self) -> None:
        self._params: dict[str, list[str]] = {}
        self._current: str | None = None
        self._indent: int | None = None

    def feed(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        indent = len(line) - len(line.lstrip())
        match = _ENTRY.match(text)
        if match and (self._indent is None or indent <= self._indent):
            self._indent = indent
            self._current = match.group("name")
            self._params[self._current] = [match.group("text").strip()]
        elif self._current is not None:
            self._params[self._current].append(text)

    def result(self) -> dict[str, str]:
        return {k: " ".join(v).strip() for k, v in self._params.items()}
