"""Assemble a streamed response's output from its events and check it against the final one.

The ``response.completed`` payload stays authoritative; the assembled items fill it in when a
server sends it without ``output``, and a disagreement between the two is reported instead of
silently picking one.
"""

from __future__ import annotations

from typing import Any

from sandloop.errors import InvalidResponseError
from sandloop.items import (
    Item,
    Response,
    ResponseCustomToolCallInputDeltaEvent,
    ResponseCustomToolCallInputDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    StreamEvent,
)

__all__ = ("OutputAssembler",)

_DeltaEvent = (
    ResponseTextDeltaEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseCustomToolCallInputDeltaEvent,
)


class OutputAssembler:
    """Collects output items and deltas; ``finish`` checks them against the final Response."""

    __slots__ = ("_deltas", "_done", "_started")

    def __init__(self) -> None:
        self._started: dict[int, Item] = {}
        self._done: dict[int, Item] = {}
        self._deltas: dict[tuple[int, int], list[str]] = {}

    def add(self, event: StreamEvent) -> None:
        """Account for one non-terminal event."""
        if isinstance(event, ResponseOutputItemAddedEvent):
            self._started[_index(event.output_index, len(self._started))] = event.item
        elif isinstance(event, ResponseOutputItemDoneEvent):
            self._done[_index(event.output_index, len(self._done))] = event.item
        elif isinstance(event, _DeltaEvent):
            key = (event.output_index or 0, getattr(event, "content_index", None) or 0)
            self._deltas.setdefault(key, []).append(event.delta)
        elif isinstance(event, ResponseTextDoneEvent):
            self._check_deltas(event.output_index, event.content_index, event.text, "text")
        elif isinstance(event, ResponseFunctionCallArgumentsDoneEvent):
            self._check_deltas(event.output_index, 0, event.arguments, "arguments")
        elif isinstance(event, ResponseCustomToolCallInputDoneEvent):
            self._check_deltas(event.output_index, 0, event.input, "input")

    def _check_deltas(self, index: int | None, part: int | None, full: str, what: str) -> None:
        pieces = self._deltas.pop((index or 0, part or 0), None)
        if pieces is not None and "".join(pieces) != full:
            raise InvalidResponseError(
                f"the {what} deltas of output item {index} do not add up to its final {what}"
            )

    def finish(self, response: Response) -> Response:
        """The final Response, checked against the items seen in ``output_item.done`` events."""
        assembled = [self._done[i] for i in sorted(self._done)]
        if not response.output and assembled:
            return response.model_copy(update={"output": assembled})
        if not assembled:
            return response
        if len(assembled) != len(response.output):
            raise InvalidResponseError(
                f"response {response.id}: the stream delivered {len(assembled)} output items "
                f"but the final response lists {len(response.output)}"
            )
        for index, (seen, final) in enumerate(zip(assembled, response.output, strict=True)):
            if _fingerprint(seen) != _fingerprint(final):
                raise InvalidResponseError(
                    f"response {response.id}: output item {index} in output_item.done "
                    f"({_fingerprint(seen)[:2]}) differs from the final response "
                    f"({_fingerprint(final)[:2]})"
                )
        return response


def _index(value: int | None, fallback: int) -> int:
    return value if value is not None else fallback


def _fingerprint(item: Item) -> tuple[Any, ...]:
    """What must agree between a streamed item and the final one (cheap, no serialisation)."""
    content = getattr(item, "content", None)
    texts = (
        tuple(getattr(part, "text", None) for part in content) if isinstance(content, list) else ()
    )
    return (
        getattr(item, "type", None),
        getattr(item, "id", None),
        getattr(item, "call_id", None),
        getattr(item, "arguments", None),
        getattr(item, "input", None),
        texts,
    )
