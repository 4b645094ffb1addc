"""Function tools a RunSpec run in another process imports by name (tests/e2e/test_run_spec.py)."""

from __future__ import annotations

import os
from pathlib import Path

from sandloop.executors.function import tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    return a + b


@tool(name="note_pid")
def note_pid(path: str) -> str:
    """Append the running process id to a file, and say which it was.

    Args:
        path: The file to append to.
    """
    pid = str(os.getpid())
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(pid + "\n")
    return pid
