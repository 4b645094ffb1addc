"""What a ScriptedResponsesServer has served: conversations, background responses, compactions.

Private to ``testing``. The server checks each ``POST /responses`` against this record (a known
``previous_response_id``, the history a stateless request must replay, the calls still to
answer) and serves retrieve, cancel and compact from it. Not thread-safe on its own: the server
calls it under its lock.
"""

from __future__ import annotations

from typing import Any

from sandloop.testing._formats import text_format_problems
from sandloop.testing._lifecycle import BackgroundResponse, compaction_output
from sandloop.testing._protocol import Conversation, RequestCheck, check_request, normalize_input

__all__ = ("CancelAnswer", "Ledger")

#: A cancel's answer: the response (background ones), ``"not_background"`` or ``"unknown"``.
CancelAnswer = dict[str, Any] | str


class Ledger:
    """Every response served, and the conversation each one continues."""

    __slots__ = (
        "_background",
        "_compactions",
        "_last",
        "_served",
        "_stored",
        "_summarised",
        "responses",
    )

    def __init__(self) -> None:
        self._stored: dict[str, Conversation] = {}  # can be chained onto
        self._served: dict[str, Conversation] = {}
        self._last: Conversation | None = None
        self._compactions: list[list[dict[str, Any]]] = []
        #: The ``tool_search_output`` items each compaction (by id) summarised.
        self._summarised: dict[str, list[dict[str, Any]]] = {}
        self._background: dict[str, BackgroundResponse] = {}
        #: Every Response object served, by id (final form for background responses).
        self.responses: dict[str, dict[str, Any]] = {}

    def check(self, body: dict[str, Any]) -> RequestCheck:
        """Check a create request against the conversations served so far (and its
        ``text.format``)."""
        check = check_request(
            body, responses=self._stored, last=self._last, compactions=self._compactions
        )
        formats = text_format_problems(body)
        return RequestCheck(check.problems + tuple(formats), check.history) if formats else check

    def history(self, body: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        """The conversation a create request ends: what it chains onto, then its input."""
        return self._chained(body) + tuple(normalize_input(body.get("input")))

    def tool_history(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """:meth:`history`, plus the ``tool_search_output`` items its compactions summarised:
        a compaction keeps the tools they loaded (an assumption; the spec says nothing)."""
        history = self.history(body)
        kept = [
            output
            for item in history
            if item.get("type") == "compaction"
            for output in self._summarised.get(str(item.get("id")), ())
        ]
        return [*kept, *history]

    def record(self, body: dict[str, Any], response: dict[str, Any], *, polls: int = 0) -> None:
        """Remember a served response and the conversation it ends.

        Args:
            body: The create request.
            response: The Response served.
            polls: For a background response, how many retrieves see it ``in_progress``.
        """
        conv = Conversation(
            self.history(body), tuple(normalize_input(response["output"], deep=True))
        )
        self._served[response["id"]] = conv
        if body.get("store", True):
            self._stored[response["id"]] = conv
        self._last = conv
        self.responses[response["id"]] = response
        if body.get("background"):
            self._background[response["id"]] = BackgroundResponse(response, polls)

    def visible(self, response_id: str) -> dict[str, Any]:
        """A background response as the create request's answer shows it."""
        return self._background[response_id].visible()

    def retrieve(self, response_id: str) -> dict[str, Any] | None:
        """The response as a retrieve sees it now (a background one moves on), or ``None``."""
        background = self._background.get(response_id)
        return background.poll() if background else self.responses.get(response_id)

    def cancel(self, response_id: str) -> CancelAnswer:
        """Cancel a background response; a cancelled one delivered no output to answer."""
        background = self._background.get(response_id)
        if background is None:
            return "not_background" if response_id in self.responses else "unknown"
        answer = background.cancel()
        if answer["status"] == "cancelled":
            self._forget_output(response_id)
        return answer

    def compact(self, body: dict[str, Any], number: int) -> list[dict[str, Any]]:
        """The output of ``POST /responses/compact``; a later request may start with it."""
        history = self._chained(body) + tuple(normalize_input(body.get("input")))
        output = compaction_output(history, number)
        self._compactions.append(output)
        summarised = [i for i in history if i.get("type") == "tool_search_output"]
        for item in history:  # what earlier compactions summarised is summarised again
            if item.get("type") == "compaction":
                summarised += self._summarised.get(str(item.get("id")), [])
        self._summarised[str(output[-1]["id"])] = summarised
        return output

    def _chained(self, body: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        prev = self._stored.get(body.get("previous_response_id") or "")
        return prev.history + prev.output if prev else ()

    def _forget_output(self, response_id: str) -> None:
        conv = self._served.get(response_id)
        if conv is None:
            return
        emptied = Conversation(conv.history, ())
        self._served[response_id] = emptied
        if response_id in self._stored:
            self._stored[response_id] = emptied
        if self._last is conv:
            self._last = emptied
