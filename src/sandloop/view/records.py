"""What a page shows: a run (its turns, their items and calls) and a batch (its tasks).

Part of ``view``, between the loaders (:mod:`.run_source`, :mod:`.batch_source`), which read the
record formats, and the pages (:mod:`.run_page`, :mod:`.batch_page`), which only format. Wire
items stay the dicts they were on disk: the pages read them defensively, as hostile data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ("BatchView", "CallView", "RunView", "TaskRow", "TurnView")


@dataclass(slots=True)
class CallView:
    """One tool call and how it ended.

    Attributes:
        call_id: The call's id.
        item: The call item (wire dict).
        output: Its output item, ``None`` while it has none.
        status: How the dispatcher says it ended (``completed``, ``failed``, ``denied``,
            ``timed_out``, ...), when the record says so.
        error: The dispatcher's error text, when any.
        duration: Seconds it ran, when the record says so.
    """

    call_id: str
    item: dict[str, Any]
    output: dict[str, Any] | None = None
    status: str | None = None
    error: str | None = None
    duration: float | None = None

    @property
    def kind(self) -> str:
        """The call item's wire type (``shell_call``, ``computer_call``, ...)."""
        kind = self.item.get("type")
        return kind if isinstance(kind, str) else "call"

    @property
    def failed(self) -> bool:
        """Whether the call went wrong: denied, failed, timed out, or without an output."""
        if self.status is not None:
            return self.status != "completed"
        return self.output is None or self.output.get("status") in ("failed", "incomplete")


@dataclass(slots=True)
class TurnView:
    """One model call: what it answered and the calls it made.

    Attributes:
        number: 1 for the first model call.
        items: The response's output items, in order (wire dicts).
        calls: The calls among them, by call id.
        model: The model the response names.
        status: The response's status.
        usage: The response's usage (wire dict).
        cost: Dollars, ``None`` when unknown.
        started: When the request went out (epoch seconds), when known.
        duration: Seconds from the request to the last output of the turn, when known.
        error: The response's error message, when it failed.
    """

    number: int
    items: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, CallView] = field(default_factory=dict)
    model: str | None = None
    status: str | None = None
    usage: dict[str, Any] | None = None
    cost: float | None = None
    started: float | None = None
    duration: float | None = None
    error: str | None = None

    @property
    def tokens(self) -> int:
        """Total tokens of the turn (0 when the usage is unknown)."""
        value = (self.usage or {}).get("total_tokens")
        return value if isinstance(value, int) else 0


@dataclass(slots=True)
class RunView:
    """A whole run, as one page shows it.

    Attributes:
        source: The file or directory it was read from.
        kind: ``transcript``, ``journal`` or ``cassette``.
        run_id: The run's id, when known.
        task: The task (the first user message).
        model: The agent's model.
        settings: Other facts worth a line at the top (label, text), in order.
        instructions: The agent's instructions.
        tools: The tools offered, as short names.
        turns: Every model call, in order.
        status: How the run ended (``None``: it has not ended, or the record does not say).
        final_output: The final answer.
        error: Why the run failed, when it did.
        diff: The changes of the whole run as a unified diff, when recorded.
        wall_time: Seconds from start to end, when known.
        live: The run has not ended yet (a page served live keeps refreshing).
        extra: More files of the run worth showing (name, text), e.g. a batch task's test log.
    """

    source: Path
    kind: str
    run_id: str | None = None
    task: str = ""
    model: str | None = None
    settings: list[tuple[str, str]] = field(default_factory=list)
    instructions: str | None = None
    tools: list[str] = field(default_factory=list)
    turns: list[TurnView] = field(default_factory=list)
    status: str | None = None
    final_output: str = ""
    error: str | None = None
    diff: str | None = None
    wall_time: float | None = None
    live: bool = False
    extra: list[tuple[str, str]] = field(default_factory=list)

    @property
    def calls(self) -> list[CallView]:
        """Every call of the run, in order."""
        return [call for turn in self.turns for call in turn.calls.values()]

    @property
    def tokens(self) -> int:
        """Tokens over every turn."""
        return sum(t.tokens for t in self.turns)

    @property
    def cost(self) -> float | None:
        """Dollars over every turn; ``None`` when a turn's cost is unknown."""
        if any(t.cost is None for t in self.turns):
            return None
        return sum(t.cost or 0.0 for t in self.turns)


@dataclass(slots=True)
class TaskRow:
    """One task of a batch.

    Attributes:
        task_id: The task's id.
        status: Its final status, ``running`` (a journal, no result yet) or ``pending``.
        solved: Whether its test passed.
        turns: Model calls.
        tokens: Tokens used.
        cost: Dollars (``None``: unpriced or unknown).
        wall_time: Seconds of its last attempt.
        reason: Why it stopped, when it did not solve.
        page: The file name of its run page, relative to the batch page.
    """

    task_id: str
    status: str
    solved: bool = False
    turns: int = 0
    tokens: int = 0
    cost: float | None = None
    wall_time: float | None = None
    reason: str | None = None
    page: str | None = None


@dataclass(slots=True)
class BatchView:
    """A batch's output directory.

    Attributes:
        source: The directory.
        rows: One per task, in task-id order.
        live: Some task has not finished yet.
    """

    source: Path
    rows: list[TaskRow] = field(default_factory=list)
    live: bool = False
