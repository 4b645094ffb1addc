"""The ranking of client-side tool search: which deferred tools match a query, best first.

Part of ``dispatch`` (used by :mod:`sandloop.dispatch.tool_search`). Pure and deterministic:
the same tools and the same query always give the same list, on any machine.

The rule (also in the README, "Tool search (deferred tools)"):

* Text is split into **terms**: camelCase and ``snake_case`` words are split, letters are
  lower-cased, every run of letters or digits is a term. A few English stop words
  (:data:`STOP_WORDS`) are dropped from the query; the first :data:`MAX_QUERY_TERMS` distinct
  query terms count, the rest are ignored.
* Each tool has three **fields**, each with a weight: its name and namespace (3), its
  description (2), its parameters' names and descriptions, nested ones included (1).
* A query term scores, in the field where it scores best, ``2 × weight`` when it equals a term
  of that field, or ``1 × weight`` when one of the two is a prefix of the other and the shorter
  has at least 3 characters (``mail`` ~ ``mailbox``). A tool's score is the sum over the query's
  terms; a query that is exactly a tool's name (or ``namespace.name``) adds
  :data:`EXACT_NAME_BONUS`, so naming a tool always finds it first.
* Tools scoring 0 do not match. The rest are ordered by score, high first, then by
  ``namespace.name``; the first ``limit`` are returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = (
    "EXACT_NAME_BONUS",
    "MAX_QUERY_TERMS",
    "STOP_WORDS",
    "IndexedTool",
    "ToolIndex",
    "terms",
)

#: Weights of a tool's fields: a term found in the name counts most.
NAME_WEIGHT, DESCRIPTION_WEIGHT, PARAMETER_WEIGHT = 3, 2, 1
#: Added when the whole query is a tool's name: naming a tool always finds it first.
EXACT_NAME_BONUS = 1000
#: Distinct query terms that count; later ones are ignored.
MAX_QUERY_TERMS = 32
#: Shortest term that matches by prefix.
_MIN_PREFIX = 3
#: Parameter nesting read, and parameters read per tool (a schema can be anything).
_MAX_DEPTH, _MAX_PARAMETERS = 4, 256

# fmt: off
#: Words dropped from queries: they would match nearly every description.
STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "how", "i", "in", "is",
    "it", "of", "on", "or", "that", "the", "this", "to", "use", "with",
})
# fmt: on

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_TERM = re.compile(r"[^\W_]+")


def terms(text: str) -> list[str]:
    """The terms of ``text``, in order: camelCase and snake_case split, lower-cased."""
    return _TERM.findall(_CAMEL.sub(" ", text).lower())


@dataclass(frozen=True, slots=True)
class IndexedTool:
    """One deferred tool as the ranking sees it.

    Attributes:
        key: The tool's registry key, ``(namespace, name)``.
        label: ``namespace.name`` (or the name), lower-cased: the tie-breaker.
        fields: The term sets of name, description and parameters, with their weights.
    """

    key: tuple[str | None, str]
    label: str
    fields: tuple[tuple[int, frozenset[str]], ...]

    def score(self, query: Sequence[str], whole: str) -> int:
        """This tool's score for the query terms ``query`` (``whole``: the query, normalised)."""
        total = sum(max(_field_score(t, w, f) for w, f in self.fields) for t in query)
        if whole and whole in (self.label, self.key[1].lower()):
            total += EXACT_NAME_BONUS
        return total


def _field_score(term: str, weight: int, field: frozenset[str]) -> int:
    if term in field:
        return 2 * weight
    for other in field:
        short, long = (term, other) if len(term) <= len(other) else (other, term)
        if len(short) >= _MIN_PREFIX and long.startswith(short):
            return weight
    return 0


def index_tool(key: tuple[str | None, str], definition: Mapping[str, Any]) -> IndexedTool:
    """Index one tool from its registry key and its definition (``function`` or ``custom``)."""
    namespace, name = key
    label = f"{namespace}.{name}" if namespace else name
    description = definition.get("description")
    params: list[str] = []
    _parameter_text(definition.get("parameters"), params, 0)
    fields = (
        (NAME_WEIGHT, frozenset(terms(label))),
        (DESCRIPTION_WEIGHT, frozenset(terms(description if isinstance(description, str) else ""))),
        (PARAMETER_WEIGHT, frozenset(t for text in params for t in terms(text))),
    )
    return IndexedTool(key, label.lower(), fields)


def _parameter_text(schema: Any, out: list[str], depth: int) -> None:
    """Append the names and descriptions of the parameters of a JSON schema to ``out``."""
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        for name, sub in properties.items():
            if len(out) >= 2 * _MAX_PARAMETERS:
                return
            out.append(str(name))
            if isinstance(sub, Mapping) and isinstance(sub.get("description"), str):
                out.append(sub["description"])
            _parameter_text(sub, out, depth + 1)
    _parameter_text(schema.get("items"), out, depth + 1)


class ToolIndex:
    """The deferred tools of a registry, indexed once, searched many times.

    Args:
        tools: ``(key, definition)`` of each deferred tool.
    """

    def __init__(self, tools: Iterable[tuple[tuple[str | None, str], Mapping[str, Any]]]) -> None:
        self.tools = [index_tool(key, definition) for key, definition in tools]

    def search(
        self,
        query: str,
        *,
        limit: int,
        exclude: frozenset[tuple[str | None, str]] | set[tuple[str | None, str]] = frozenset(),
    ) -> list[tuple[str | None, str]]:
        """The keys of the best matching tools (not in ``exclude``), at most ``limit``."""
        query_terms = _query_terms(query)
        whole = " ".join(query.split()).lower()
        if not query_terms and not whole:
            return []
        scored = [
            (score, tool.label, tool.key)
            for tool in self.tools
            if tool.key not in exclude and (score := tool.score(query_terms, whole)) > 0
        ]
        scored.sort(key=lambda entry: (-entry[0], entry[1]))
        return [key for _, _, key in scored[:limit]]


def _query_terms(query: str) -> list[str]:
    seen: dict[str, None] = {}
    for term in terms(query):
        if term not in STOP_WORDS:
            seen.setdefault(term)
        if len(seen) >= MAX_QUERY_TERMS:
            break
    return list(seen)
