"""The tool output one response may hold: a budget its command calls draw from.

Part of ``executors``. The dispatcher makes one :class:`OutputBudget` per response and hands it
to every call in :attr:`ToolContext.output_budget <sandloop.executors.base.ToolContext>`. Before
a command runs, its executor claims the characters it may keep (its cap); the sandbox is asked
for no more than that, and what the command did not use is given back when it ends. A response
of 40 commands each printing 10 MiB therefore holds the budget, not 400 MiB and its copies.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("BUDGET_NOTE", "DEFAULT_MAX_TOOL_OUTPUT", "MIN_GRANT", "OutputBudget")

#: Characters of tool output one response may hold, all its calls together (16 MiB).
DEFAULT_MAX_TOOL_OUTPUT = 16 * 1024 * 1024
#: A command that could keep fewer characters than this is not run at all.
MIN_GRANT = 1024
#: Appended to a command's stderr when the budget, not its own cap, cut its output.
BUDGET_NOTE = "\n[output cut: this response's tool output budget is used up]\n"


@dataclass(slots=True)
class OutputBudget:
    """Characters of tool output a response may still hold.

    Attributes:
        total: The budget.
        held: Characters claimed by running commands or kept by finished ones.
    """

    total: int
    held: int = 0

    @property
    def remaining(self) -> int:
        """Characters not claimed yet."""
        return max(0, self.total - self.held)

    def claim(self, want: int) -> int:
        """Take up to ``want`` characters; return how many were granted (maybe 0)."""
        granted = min(max(want, 0), self.remaining)
        self.held += granted
        return granted

    def refund(self, unused: int) -> None:
        """Give back characters that were claimed and not kept."""
        self.held -= min(max(unused, 0), self.held)

    def refusal(self) -> str:
        """Why a command was not run."""
        return (
            f"not run: this response's tool output budget ({self.total} characters for all "
            "its calls) is used up. Run it again in a later response, or print less."
        )
