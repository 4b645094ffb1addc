"""The README's testing snippet runs as written, and leaves no connection open.

Warnings are errors in this suite, so an unclosed client (a ResourceWarning when it is
collected) fails the test.
"""

from __future__ import annotations

import gc
import re
from pathlib import Path
from typing import Any

import sandloop

README = Path(__file__).resolve().parents[2] / "README.md"


def _block_after(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading) :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, f"no python block after {heading!r}"
    return found.group(1)


def test_the_testing_snippet_runs_and_closes_what_it_opens() -> None:
    @sandloop.tool
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: First addend.
            b: Second addend.
        """
        return a + b

    agent = sandloop.Agent(model="gpt-test", tools=[add])
    scope: dict[str, Any] = {"sandloop": sandloop, "agent": agent}
    exec(compile(_block_after("## Testing your agent"), "README.md", "exec"), scope)
    assert scope["result"].final_output == "3"
    scope.clear()
    gc.collect()  # an unclosed client's socket would warn here
