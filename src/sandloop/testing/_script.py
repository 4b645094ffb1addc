"""The script a ScriptedResponsesServer plays: turns, faults, and the requests it recorded."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = (
    "Fault",
    "RecordedRequest",
    "ScriptedServerError",
    "Turn",
    "TurnLike",
    "bad_request",
    "delay",
    "drop_connection",
    "malformed_stream",
    "rate_limited",
    "server_error",
)


class ScriptedServerError(AssertionError):
    """The code under test broke the script: a protocol error, an extra request, unused turns.

    Attributes:
        problems: Every problem found, in the order they happened.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"scripted Responses server: {len(self.problems)} problem(s):\n{lines}")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request the server received.

    Attributes:
        method: ``GET`` or ``POST``.
        path: The path without the base (``/responses``, ``/responses/resp_1/cancel``, ...).
        headers: Header names lower-cased.
        body: The parsed JSON body (``None`` when there was none).
        received_at: ``time.monotonic()`` when the request line arrived.
        connection: Number of the TCP connection it came on (1, 2, ...): requests that share
            a number reused a pooled keep-alive connection.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    received_at: float
    connection: int = 0


FaultKind = Literal["status", "drop", "malformed", "delay"]


@dataclass(frozen=True, slots=True)
class Fault:
    """Something the server does to one request instead of (or before) serving the turn.

    Build faults with :func:`rate_limited`, :func:`server_error`, :func:`bad_request`,
    :func:`drop_connection`, :func:`malformed_stream` and :func:`delay`.
    """

    kind: FaultKind
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    after_events: int = 0
    seconds: float = 0.0


def rate_limited(retry_after: float | None = 1.0, *, retry_after_ms: float | None = None) -> Fault:
    """A 429 with ``Retry-After`` (seconds) and/or ``retry-after-ms`` headers."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    if retry_after_ms is not None:
        headers["retry-after-ms"] = f"{retry_after_ms:g}"
    return Fault(
        "status",
        status=429,
        headers=headers,
        body=_error_body("Rate limit reached (scripted).", "rate_limit_exceeded", "requests"),
    )


def server_error(status: int = 500, message: str = "The server had an error (scripted).") -> Fault:
    """A 5xx answer with an API error body."""
    return Fault("status", status=status, body=_error_body(message, "server_error", "server_error"))


def bad_request(
    message: str, *, code: str | None = None, param: str | None = None, status: int = 400
) -> Fault:
    """A 4xx with an API error body (``{"error": {"message", "type", "code", "param"}}``)."""
    body = _error_body(message, code, "invalid_request_error")
    body["error"]["param"] = param
    return Fault("status", status=status, body=body)


def drop_connection(*, after_events: int = 0) -> Fault:
    """Close the connection without finishing the answer.

    Args:
        after_events: For a streamed answer, how many SSE events to send first. For a JSON
            answer the connection is closed before any byte of the response.
    """
    return Fault("drop", after_events=after_events)


def malformed_stream(*, after_events: int = 1) -> Fault:
    """Send ``after_events`` good SSE events, then an event whose data is not JSON, then end."""
    return Fault("malformed", after_events=after_events)


def delay(seconds: float) -> Fault:
    """Wait before answering; the request is then served normally (by the next fault or turn)."""
    return Fault("delay", seconds=seconds)


def _error_body(message: str, code: str | None, type_: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code, "param": None}}


ItemLike: TypeAlias = Mapping[str, Any] | Any
TurnFunction: TypeAlias = Callable[[RecordedRequest], "Sequence[ItemLike] | Turn"]


@dataclass(frozen=True, slots=True)
class Turn:
    """One model call of the script.

    Args:
        items: The output items (dicts or pydantic item models), a callable that receives the
            :class:`RecordedRequest` and returns items (or a ``Turn``), or ``None`` for a turn
            that consists only of its faults (e.g. a 400 the client must not retry).
        status: ``completed``, ``incomplete`` or ``failed``.
        incomplete_reason: ``incomplete_details.reason`` for an incomplete turn.
        error: ``error`` object for a failed turn (default ``server_error``).
        usage: The usage object; a rough count from the request and output size when left out.
        faults: Served first, one per request, each consuming one HTTP request (except
            :func:`delay`, which only waits). Use them to test retries.
        new_conversation: Do not check this request against the previous response: it starts a
            new conversation (another run against the same server).
        background_polls: For ``background=True``: how many retrieves see ``in_progress``
            before the completed response (the create itself answers ``queued``).
    """

    items: Sequence[ItemLike] | TurnFunction | None = ()
    status: Literal["completed", "incomplete", "failed"] = "completed"
    incomplete_reason: str = "max_output_tokens"
    error: Mapping[str, Any] | None = None
    usage: Mapping[str, Any] | None = None
    faults: Sequence[Fault] = ()
    new_conversation: bool = False
    background_polls: int = 1


TurnLike: TypeAlias = Turn | Sequence[ItemLike] | TurnFunction


def as_turn(turn: TurnLike) -> Turn:
    """A script entry as a :class:`Turn`."""
    if isinstance(turn, Turn):
        return turn
    if callable(turn):
        return Turn(turn)
    return Turn(list(turn))


def turn_fields(turn: Turn) -> dict[str, Any]:
    """The fields of ``turn``, to build a modified copy."""
    return {name: getattr(turn, name) for name in Turn.__slots__}


def item_dict(item: Any) -> dict[str, Any]:
    """An output item as a wire dict (dicts pass through; pydantic models are dumped)."""
    if isinstance(item, dict):
        return item
    # sandloop.items models serialise with to_wire(); any other pydantic model with model_dump.
    to_wire = getattr(item, "to_wire", None)
    if to_wire is not None:
        wire: dict[str, Any] = to_wire()
        return wire
    dump = getattr(item, "model_dump", None)
    if dump is None:
        raise TypeError(f"a scripted output item must be a dict or a pydantic model, not {item!r}")
    result: dict[str, Any] = dump(mode="json", by_alias=True, exclude_none=True)
    return result


def turn_error(turn: Turn) -> dict[str, Any] | None:
    """The ``error`` object of a failed turn."""
    if turn.status != "failed":
        return None
    if turn.error is not None:
        return dict(turn.error)
    return {"code": "server_error", "message": "The model failed (scripted)."}
