"""Transcript: the run's history, its wire form, and what the next request must send.

Part of ``loop``. Each item is dumped to its wire dict once, when it is added, and that dict is
reused for every later request: chained mode (``previous_response_id``) sends only the items
added since the last response, stateless mode resends every dict in order (reasoning items
verbatim, next to their calls, ``created_by`` stripped). Compaction replaces the history with
the compacted items.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sandloop.dispatch.outputs import call_id_of, failure_note, failure_output, output_key
from sandloop.errors import ConfigError, InvalidResponseError
from sandloop.items import (
    CallItem,
    InvalidCall,
    McpApprovalRequest,
    McpApprovalResponse,
    Message,
    UnknownItem,
    dump_item,
    is_call_item,
    parse_item,
    replace_lone_surrogates,
    strip_created_by,
)

__all__ = ("Transcript", "client_calls", "to_items")


def to_items(value: str | Iterable[Any]) -> list[Any]:
    """The run input as items: a string is one user message; dicts are parsed.

    Raises:
        ConfigError: an input dict is not a valid item (says which one and why).
    """
    if isinstance(value, str):
        return [Message(role="user", content=replace_lone_surrogates(value))]
    items: list[Any] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            items.append(item)
            continue
        try:
            parsed = parse_item(item)
        except InvalidResponseError as exc:
            # The caller's input, not the server's answer: a usage error.
            raise ConfigError(f"input item {index}: {exc}") from exc
        if isinstance(parsed, InvalidCall):
            raise ConfigError(f"input item {index}: {parsed.problem}")
        items.append(parsed)
    return items


def _wire(item: Any) -> dict[str, Any]:
    data = dump_item(item)
    # Unknown items are kept as they came, except ``created_by``, which no input form allows.
    if isinstance(item, UnknownItem) and "created_by" in data:
        stripped: dict[str, Any] = strip_created_by(data)
        return stripped
    return data


def client_calls(output: Sequence[Any]) -> tuple[list[CallItem], list[McpApprovalRequest]]:
    """The calls in ``output`` the client must answer, and the MCP approval requests.

    A call is the client's when it says it ``runs_locally`` (a hosted shell's call, a server-run
    tool search and an invalid call without a ``call_id`` do not). A call already answered inside
    the same output (a hosted shell, for one) is left out.
    """
    answered = {key for item in output if (key := output_key(item)) is not None}
    calls = [
        i for i in output if is_call_item(i) and i.runs_locally and call_id_of(i) not in answered
    ]
    approvals = [i for i in output if isinstance(i, McpApprovalRequest) and i.id not in answered]
    return calls, approvals


class Transcript:
    """The history of a run and the request input built from it.

    Args:
        items: The run's input items.
        stateless: Resend the whole history each turn instead of chaining.
        previous_response_id: Chain the first request onto this stored response.
    """

    def __init__(
        self, items: Iterable[Any], *, stateless: bool, previous_response_id: str | None = None
    ) -> None:
        self.stateless = stateless
        self.previous_response_id = None if stateless else previous_response_id
        #: The stored conversation the history continues (until compaction summarises it).
        self.base_response_id = self.previous_response_id
        self.history: list[Any] = []
        self._wire: list[dict[str, Any]] = []
        self._known = 0  # items the server already has (chained mode)
        self._turn_start = 0  # where the last response's output begins
        self.log: list[Any] = []  # every item of the run, compaction or not
        self._unseen = 0  # where the items the last response has not seen begin, in ``log``
        self.add(items)

    def add(self, items: Iterable[Any]) -> None:
        """Append items (inputs or outputs the client produced)."""
        for item in items:
            self.history.append(item)
            self._wire.append(_wire(item))
            self.log.append(item)

    def add_response(self, response_id: str | None, output: Sequence[Any]) -> None:
        """Append a response's output; in chained mode the server now knows everything."""
        self._turn_start = len(self.history)
        self.add(output)
        self._unseen = len(self.log)
        if not self.stateless and response_id is not None:
            self.previous_response_id = response_id
            self._known = len(self.history)

    @property
    def pending(self) -> list[Any]:
        """The items added after the last response's output: what it has not seen.

        Before any response, the run's whole input. A run that chains onto the last response
        (``previous_response_id``) must send these first: they answer its calls.
        """
        return self.log[self._unseen :]

    def request_input(self) -> list[dict[str, Any]]:
        """The ``input`` of the next request (wire dicts, shared: do not modify them)."""
        if self.stateless or self.previous_response_id is None:
            return list(self._wire)
        return self._wire[self._known :]

    def compactable(self) -> list[Any]:
        """The history before the last response: what compaction may summarise.

        The last response's output and the answers to its calls stay as they are, after the
        compacted items, so every call keeps its output next to it. When the run continues a
        stored conversation, that conversation (:attr:`base_response_id`) comes before these
        items and must be compacted with them.
        """
        return self.history[: self._turn_start]

    def compact(self, compacted: Sequence[Any]) -> None:
        """Put the compacted items in place of :meth:`compactable`; the chain restarts."""
        tail = self.history[self._turn_start :]
        wire_tail = self._wire[self._turn_start :]
        self.history = [*compacted, *tail]
        self._wire = [*(_wire(i) for i in compacted), *wire_tail]
        self._turn_start = len(compacted)
        self._known = 0
        self.previous_response_id = None
        self.base_response_id = None  # the compacted items summarise it now

    def unanswered(self) -> tuple[list[CallItem], list[McpApprovalRequest]]:
        """Calls and MCP approval requests in the history that have no answer yet."""
        return client_calls(self.history)

    def settle(self, message: str) -> int:
        """Answer every unanswered call with a failure output saying ``message``.

        Keeps the history valid to send again after a run stopped mid-turn.

        Returns:
            How many items were added (outputs, and notes for outputs without text).
        """
        calls, approvals = self.unanswered()
        outputs: list[Any] = [failure_output(c, message) for c in calls]
        outputs += [
            McpApprovalResponse(approval_request_id=a.id, approve=False, reason=message)
            for a in approvals
        ]
        # Words for the outputs that cannot hold them (a computer call's screenshot), last.
        outputs += [n for c in calls if (n := failure_note(c, message)) is not None]
        self.add(outputs)
        return len(outputs)
