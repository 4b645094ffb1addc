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
from bisect import bisect_left
from collections.abc import Iterable, Mapping
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
        fields: The term sets of its name, description and parameters, with their weights.
    """

    key: tuple[str | None, str]
    label: str
    fields: tuple[tuple[int, frozenset[str]], ...]


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

    Every term of every field points at the tools that have it (with the field's weight), and
    the sorted vocabulary finds the terms a query term is a prefix of: a search costs about
    the matches it finds, not the number of tools.

    Args:
        tools: ``(key, definition)`` of each deferred tool.
    """

    def __init__(self, tools: Iterable[tuple[tuple[str | None, str], Mapping[str, Any]]]) -> None:
        self.tools = [index_tool(key, definition) for key, definition in tools]
        self._postings: dict[str, list[tuple[int, int]]] = {}
        for number, tool in enumerate(self.tools):
            for weight, words in tool.fields:
                for word in words:
                    self._postings.setdefault(word, []).append((number, weight))
        self._vocabulary = sorted(self._postings)

    def scores(self, query: str) -> dict[tuple[str | None, str], int]:
        """The score of every tool that matches ``query`` (see the module's rule)."""
        totals: dict[int, int] = {}
        for term in _query_terms(query):
            for number, score in self._term_scores(term).items():
                totals[number] = totals.get(number, 0) + score
        whole = " ".join(query.split()).lower()
        for number, tool in enumerate(self.tools):
            if whole and whole in (tool.label, tool.key[1].lower()):
                totals[number] = totals.get(number, 0) + EXACT_NAME_BONUS
        return {self.tools[n].key: score for n, score in totals.items() if score > 0}

    def _term_scores(self, term: str) -> dict[int, int]:
        """Each matching tool's best score for one query term."""
        best: dict[int, int] = {}

        def hit(word: str, factor: int) -> None:
            for number, weight in self._postings.get(word, ()):
                best[number] = max(best.get(number, 0), factor * weight)

        hit(term, 2)
        if len(term) >= _MIN_PREFIX:  # words that start with the term
            at = bisect_left(self._vocabulary, term)
            while at < len(self._vocabulary) and self._vocabulary[at].startswith(term):
                if self._vocabulary[at] != term:
                    hit(self._vocabulary[at], 1)
                at += 1
        for end in range(_MIN_PREFIX, len(term)):  # words the term starts with
            hit(term[:end], 1)
        return best

    def search(
        self,
        query: str,
        *,
        limit: int,
        exclude: frozenset[tuple[str | None, str]] | set[tuple[str | None, str]] = frozenset(),
    ) -> list[tuple[str | None, str]]:
        """The keys of the best matching tools (not in ``exclude``), at most ``limit``."""
        labels = {tool.key: tool.label for tool in self.tools}
        ranked = sorted(
            ((score, labels[key], key) for key, score in self.scores(query).items()),
            key=lambda entry: (-entry[0], entry[1]),
        )
        return [key for _, _, key in ranked if key not in exclude][:limit]


def _query_terms(query: str) -> list[str]:
    seen: dict[str, None] = {}
    for term in terms(query):
        if term not in STOP_WORDS:
            seen.setdefault(term)
        if len(seen) >= MAX_QUERY_TERMS:
            break
    return list(seen)
