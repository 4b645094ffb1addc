"""Server-side lifecycles of a scripted response: background polling, cancel, compaction."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

__all__ = ("BackgroundResponse", "compaction_output", "not_found")

_TERMINAL = frozenset({"completed", "failed", "incomplete", "cancelled"})


class BackgroundResponse:
    """A background response: queued, then in_progress for N retrieves, then final."""

    __slots__ = ("final", "polls_left", "status")

    def __init__(self, final: dict[str, Any], polls: int) -> None:
        self.final = final
        self.polls_left = polls
        self.status = "queued"

    def visible(self) -> dict[str, Any]:
        """The response as a retrieve sees it now."""
        if self.status in _TERMINAL:
            return self.final
        return dict(self.final, status=self.status, output=[], usage=None, completed_at=None,
                    error=None, incomplete_details=None)  # fmt: skip

    def poll(self) -> dict[str, Any]:
        """One retrieve: move one step towards the final status and show the result."""
        if self.status not in _TERMINAL:
            if self.polls_left > 0:
                self.polls_left -= 1
                self.status = "in_progress"
            else:
                self.status = self.final["status"]
        return self.visible()

    def cancel(self) -> dict[str, Any]:
        """Cancel unless already finished; show the result."""
        if self.status not in _TERMINAL:
            self.status = "cancelled"
            self.final = dict(self.final, status="cancelled", output=[], usage=None,
                              completed_at=None)  # fmt: skip
        return self.visible()


def compaction_output(history: Sequence[dict[str, Any]], number: int) -> list[dict[str, Any]]:
    """What ``/responses/compact`` returns: the user messages, then one opaque compaction."""
    users = [i for i in history if i.get("type") == "message" and i.get("role") == "user"]
    secret = base64.b64encode(f"compacted {len(history)} items #{number}".encode()).decode()
    compaction = {
        "type": "compaction",
        "id": f"cmp_scripted_{number:06d}",
        "encrypted_content": secret,
    }
    return [*users, compaction]


def not_found(response_id: str) -> dict[str, Any]:
    """The API's 404 body for an unknown response id."""
    message = f"No response found with id '{response_id}'."
    return {"error": {"message": message, "type": "invalid_request_error", "code": None,
                      "param": None}}  # fmt: skip
