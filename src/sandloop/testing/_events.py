"""Response objects and realistic SSE event sequences for the scripted server."""

from __future__ import annotations

import copy
import json
import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ("Chunker", "build_response", "encode_event", "rough_usage", "stream_events")

_ECHOED = (
    "instructions", "model", "tools", "tool_choice", "parallel_tool_calls", "temperature",
    "top_p", "previous_response_id", "reasoning", "text", "truncation", "max_output_tokens",
    "metadata", "store", "background", "service_tier", "prompt_cache_key",
)  # fmt: skip
_DEFAULTS: Mapping[str, Any] = {
    "model": "scripted-model", "tools": [], "tool_choice": "auto", "parallel_tool_calls": True,
    "temperature": 1.0, "top_p": 1.0, "truncation": "disabled", "metadata": {}, "store": True,
    "background": False, "service_tier": "default",
}  # fmt: skip
_MAX_DELTAS = 8


def build_response(
    *,
    response_id: str,
    request: Mapping[str, Any],
    output: Sequence[Mapping[str, Any]],
    status: str,
    usage: Mapping[str, Any] | None,
    error: Mapping[str, Any] | None = None,
    incomplete_reason: str | None = None,
) -> dict[str, Any]:
    """A full Response object answering ``request`` with ``output``."""
    now = int(time.time())
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": now,
        "status": status,
        "completed_at": now if status == "completed" else None,
        "error": dict(error) if error is not None else None,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "output": [dict(item) for item in output],
        "usage": dict(usage) if usage is not None else None,
    }
    for key in _ECHOED:
        response[key] = request.get(key, _DEFAULTS.get(key))
    return response


def rough_usage(input_bytes: int, output: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """About one token per four bytes of request body and output, so budgets can be tested.

    Counting the raw request size keeps this O(1) in the length of a replayed history.
    """
    inp = max(1, input_bytes // 4)
    out = max(1, len(json.dumps(list(output))) // 4)
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": inp + out,
    }


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One SSE frame: an ``event:`` line, a ``data:`` line and a blank line."""
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


def stream_events(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The event sequence a streamed ``response`` produces, numbered from 0."""
    start = dict(response, status="in_progress", output=[], usage=None, completed_at=None)
    start.update(error=None, incomplete_details=None)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
    ]
    for index, item in enumerate(response["output"]):
        events.extend(_item_events(index, item))
    final = {
        "completed": "response.completed",
        "failed": "response.failed",
        "incomplete": "response.incomplete",
    }[response["status"]]
    events.append({"type": final, "response": response})
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


def _item_events(index: int, item: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    kind = item.get("type")
    item_id = item.get("id", "")
    at = {"item_id": item_id, "output_index": index}
    yield {"type": "response.output_item.added", "output_index": index, "item": _skeleton(item)}
    if kind == "message":
        for content_index, part in enumerate(item.get("content") or []):
            yield from _part_events(dict(at, content_index=content_index), part)
    elif kind == "function_call":
        for piece in _pieces(item.get("arguments", "")):
            yield {"type": "response.function_call_arguments.delta", **at, "delta": piece}
        done = {"arguments": item.get("arguments", ""), "name": item.get("name")}
        yield {"type": "response.function_call_arguments.done", **at, **done}
    elif kind == "custom_tool_call":
        for piece in _pieces(item.get("input", "")):
            yield {"type": "response.custom_tool_call_input.delta", **at, "delta": piece}
        yield {"type": "response.custom_tool_call_input.done", **at, "input": item.get("input")}
    yield {"type": "response.output_item.done", "output_index": index, "item": dict(item)}


def _part_events(at: dict[str, Any], part: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    if part.get("type") != "output_text":
        yield {"type": "response.content_part.added", **at, "part": dict(part)}
        yield {"type": "response.content_part.done", **at, "part": dict(part)}
        return
    text = part.get("text", "")
    empty = dict(part, text="", annotations=[])
    yield {"type": "response.content_part.added", **at, "part": empty}
    for piece in _pieces(text):
        yield {"type": "response.output_text.delta", **at, "delta": piece, "logprobs": []}
    yield {"type": "response.output_text.done", **at, "text": text, "logprobs": []}
    yield {"type": "response.content_part.done", **at, "part": dict(part)}


def _skeleton(item: Mapping[str, Any]) -> dict[str, Any]:
    skeleton = copy.deepcopy(dict(item))
    kind = skeleton.get("type")
    if "status" in skeleton:
        skeleton["status"] = "in_progress"
    if kind == "message":
        skeleton["content"] = []
    elif kind == "function_call":
        skeleton["arguments"] = ""
    elif kind == "custom_tool_call":
        skeleton["input"] = ""
    return skeleton


def _pieces(text: str) -> list[str]:
    # A few deltas per field, like a real model, without paying for one event per character.
    if not text:
        return []
    size = max(1, -(-len(text) // _MAX_DELTAS))
    return [text[i : i + size] for i in range(0, len(text), size)]


class Chunker:
    """Cuts a streamed body into the pieces the server flushes one by one.

    Args:
        chunking: ``None`` (one piece per event), a fixed size, or ``(low, high)`` for random
            sizes drawn from a generator seeded with ``seed``.
    """

    __slots__ = ("_chunking", "_lock", "_random")

    def __init__(self, chunking: int | tuple[int, int] | None, *, seed: int = 0) -> None:
        self._chunking = chunking
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def off(self) -> bool:
        """Whether bodies are sent as they are, without re-chunking."""
        return self._chunking is None

    def events(self, events: Sequence[Mapping[str, Any]]) -> list[bytes]:
        """Encode ``events`` and cut them into pieces."""
        encoded = [encode_event(e) for e in events]
        return encoded if self._chunking is None else self.split(b"".join(encoded))

    def split(self, data: bytes) -> list[bytes]:
        """Cut ``data`` into pieces (one piece when chunking is off)."""
        if self._chunking is None:
            return [data]
        pieces: list[bytes] = []
        pos = 0
        while pos < len(data):
            size = max(1, self._next_size(self._chunking))
            pieces.append(data[pos : pos + size])
            pos += size
        return pieces

    def _next_size(self, chunking: int | tuple[int, int]) -> int:
        if isinstance(chunking, int):
            return chunking
        with self._lock:  # handler threads share the generator
            return self._random.randint(*chunking)
