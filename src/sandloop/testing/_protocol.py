"""The protocol checks the scripted server runs on every ``POST /responses``.

Pure functions over wire dicts: every client-executable call of the previous response answered
by exactly one output of the right type, ``previous_response_id`` known, and (stateless) the
whole history replayed in order with ``created_by`` stripped; tool search outputs well formed
and loading each deferred tool once (:mod:`._tool_search`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandloop.testing._tool_search import check_search_outputs

__all__ = ("CALL_OUTPUT_TYPES", "Conversation", "RequestCheck", "check_request", "pending_calls")

#: Client-executable call type → the output type that answers it.
CALL_OUTPUT_TYPES: Mapping[str, str] = {
    "function_call": "function_call_output",
    "custom_tool_call": "custom_tool_call_output",
    "shell_call": "shell_call_output",
    "apply_patch_call": "apply_patch_call_output",
    "local_shell_call": "local_shell_call_output",
    "computer_call": "computer_call_output",
    "tool_search_call": "tool_search_output",
    "mcp_approval_request": "mcp_approval_response",
}
_OUTPUT_TYPES = frozenset(CALL_OUTPUT_TYPES.values())


@dataclass(frozen=True, slots=True)
class Conversation:
    """What the server knows about one served response: its full input and its output."""

    history: tuple[dict[str, Any], ...]
    output: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class RequestCheck:
    """The outcome of checking one request: problems found and the request's full history."""

    problems: tuple[str, ...]
    history: tuple[dict[str, Any], ...]


def normalize_input(value: Any, *, deep: bool = False) -> list[dict[str, Any]]:
    """The request's ``input`` as a list of comparable item dicts.

    Args:
        value: A string or a list of items.
        deep: Strip ``created_by`` at every level (done once for the server's own output);
            otherwise only at the top level, which keeps the per-request cost low: items are
            copied only when they need a change.
    """
    if value is None:
        return []
    if isinstance(value, str):
        value = [{"type": "message", "role": "user", "content": value}]
    return [_normalize_item(item, deep) for item in value]


def _normalize_item(raw: Any, deep: bool) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {"type": "<not an object>", "value": raw}
    item: dict[str, Any] = raw
    if deep:
        item = _strip_created_by(raw)
    elif "created_by" in item:
        item = {k: v for k, v in item.items() if k != "created_by"}
    untyped = "type" not in item and "role" in item
    text = isinstance(item.get("content"), str) and (untyped or item.get("type") == "message")
    if not (untyped or text):
        return item
    clean = dict(item)
    if untyped:
        clean["type"] = "message"
    if text:
        part = "output_text" if clean.get("role") == "assistant" else "input_text"
        clean["content"] = [{"type": part, "text": clean["content"]}]
    return clean


def _strip_created_by(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_created_by(v) for k, v in value.items() if k != "created_by"}
    if isinstance(value, list):
        return [_strip_created_by(v) for v in value]
    return value


def _call_key(item: Mapping[str, Any]) -> str | None:
    if item.get("type") == "mcp_approval_request":
        return item.get("id")
    return item.get("call_id")


def _output_key(item: Mapping[str, Any]) -> str | None:
    kind = item.get("type")
    if kind == "local_shell_call_output":
        return item.get("id")
    if kind == "mcp_approval_response":
        return item.get("approval_request_id")
    return item.get("call_id")


def _client_executable(item: Mapping[str, Any]) -> bool:
    kind = item.get("type")
    if kind == "shell_call":
        env = item.get("environment") or {}
        return bool(env.get("type", "local") == "local")
    if kind == "tool_search_call":
        return item.get("execution") == "client"
    return kind in CALL_OUTPUT_TYPES


def pending_calls(output: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The client-executable calls in ``output`` that the same output does not answer."""
    calls = {
        key: item
        for item in output
        if _client_executable(item) and (key := _call_key(item)) is not None
    }
    for item in output:
        if item.get("type") in _OUTPUT_TYPES:
            calls.pop(_output_key(item) or "", None)
    return calls


def check_request(
    body: Mapping[str, Any],
    *,
    responses: Mapping[str, Conversation],
    last: Conversation | None,
    compactions: Sequence[Sequence[dict[str, Any]]] = (),
) -> RequestCheck:
    """Check one ``POST /responses`` body against what the server served before.

    Args:
        body: The parsed request body.
        responses: Every served response by id.
        last: The response served last, or ``None`` for the first request of a conversation.
        compactions: Outputs of ``/responses/compact``; a stateless input may start with one of
            them instead of the full history.
    """
    items = normalize_input(body.get("input"))
    stripped = _check_created_by(body.get("input"))
    prev_id = body.get("previous_response_id")
    if prev_id is not None:
        prev = responses.get(prev_id)
        if prev is None:
            known = ", ".join(responses) or "none yet"
            msg = f"previous_response_id {prev_id!r} is unknown (served: {known})"
            return RequestCheck((msg,), tuple(items))
        chained = prev.history + prev.output
        problems = stripped + _check_not_resent(items, chained)
        problems += _check_outputs(items, pending_calls(prev.output))
        problems += check_search_outputs(items, chained, body.get("tools"))
        return RequestCheck(tuple(problems), chained + tuple(items))
    if last is None:
        return RequestCheck(tuple(stripped), tuple(items))
    new, problems = _split_replay(items, last, compactions)
    if new is not None:
        problems += _check_outputs(new, pending_calls(last.output))
        earlier = items[: len(items) - len(new)]
        problems += check_search_outputs(new, earlier, body.get("tools"))
    return RequestCheck(tuple(stripped + problems), tuple(items))


def _check_created_by(raw: Any) -> list[str]:
    """``created_by`` belongs to the output form of items only: replays must strip it."""
    if not isinstance(raw, list):
        return []
    return [
        f"input item {i} carries created_by: strip it when replaying output items"
        for i, item in enumerate(raw)
        if isinstance(item, dict) and "created_by" in item
    ]


def _split_replay(
    items: list[dict[str, Any]], last: Conversation, compactions: Sequence[Sequence[dict[str, Any]]]
) -> tuple[list[dict[str, Any]] | None, list[str]]:
    expected = list(last.history + last.output)
    # A replay of the last conversation first: it may itself start with a compaction, which a
    # request turns later still replays (with the items after it) before its new outputs.
    if items[: len(expected)] == expected:
        return items[len(expected) :], []
    for compacted in compactions:
        if compacted and items[: len(compacted)] == list(compacted):
            return items[len(compacted) :], []
    for index, want in enumerate(expected):
        if index >= len(items):
            return None, [
                "stateless request (no previous_response_id) must replay the whole history: "
                f"input has {len(items)} items, the history has {len(expected)}; "
                f"first missing: item {index} {_show(want)}"
            ]
        if items[index] != want:
            return None, [
                "stateless request (no previous_response_id) must replay the history in order "
                f"(created_by stripped): input item {index} is {_show(items[index])}, "
                f"expected {_show(want)}"
            ]
    return items[len(expected) :], []


def _check_not_resent(items: list[dict[str, Any]], chained: Sequence[dict[str, Any]]) -> list[str]:
    known = {item.get("id") for item in chained if item.get("id")}
    return [
        f"input item {i} ({item.get('type')} {item.get('id')!r}) is already in the conversation "
        "of previous_response_id: send only new items"
        for i, item in enumerate(items)
        if item.get("id") in known and item.get("type") not in _OUTPUT_TYPES
    ]


def _check_outputs(
    new: list[dict[str, Any]], pending: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    problems: list[str] = []
    answered: set[str] = set()
    for item in new:
        kind = item.get("type")
        if kind not in _OUTPUT_TYPES:
            continue
        key = _output_key(item)
        field = "id" if kind == "local_shell_call_output" else "call_id"
        call = pending.get(key or "")
        if call is None:
            waiting = ", ".join(pending) or "none"
            problems.append(
                f"{kind} with {field} {key!r} answers no pending call (pending: {waiting})"
            )
        elif key in answered:
            problems.append(f"call {key!r} is answered more than once")
        elif CALL_OUTPUT_TYPES[call["type"]] != kind:
            want = CALL_OUTPUT_TYPES[call["type"]]
            problems.append(f"call {key!r} is a {call['type']}: expected {want}, got {kind}")
        answered.add(key or "")
    for key, call in pending.items():
        if key not in answered:
            name = f" {call['name']!r}" if "name" in call else ""
            want = CALL_OUTPUT_TYPES[call["type"]]
            problems.append(f"{call['type']}{name} {key!r} has no {want} in this request")
    return problems


def _show(item: Any, limit: int = 240) -> str:
    text = json.dumps(item, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
