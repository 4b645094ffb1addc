"""Module-level functions and classes the RunSpec / description tests name by import path."""

from __future__ import annotations

from typing import Any

from sandloop.executors.function import tool
from sandloop.sandboxes.local import LocalSandbox


@tool(sequential=True, timeout=9.0)
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    return a + b


def shout(text: str, times: int = 1) -> str:
    """Shout a text.

    Args:
        text: What to shout.
        times: How many times.
    """
    return " ".join([text.upper()] * times)


def echo(text: str) -> str:
    """Echo the raw input back."""
    return f"echo:{text}"


def make_local_sandbox() -> LocalSandbox:
    """A pool factory by import path."""
    return LocalSandbox(".")


class CountingTool:
    """A tool class of a user's own that describes itself with options()."""

    call_type = "function_call"
    namespace: str | None = None
    sequential = False
    needs_approval = False
    timeout: float | None = None

    def __init__(self, *, name: str = "count", start: int = 0) -> None:
        self.name: str | None = name
        self.start = start

    def options(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start}

    def definition(self) -> dict[str, Any]:
        return {"type": "function", "name": self.name, "parameters": {"type": "object"}}

    async def execute(self, call: Any, ctx: Any) -> Any:
        raise NotImplementedError
