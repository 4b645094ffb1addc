"""After Ctrl-C the terminal display draws no spinner again: the cancelled call's line is the
last thing shown live (a captured Rich console that claims to be a terminal)."""

from __future__ import annotations

import io

from rich.console import Console

from sandloop.cli.display import RichDisplay
from sandloop.items import ShellCall
from sandloop.loop import events as ev

CALL = ShellCall.model_validate(
    {"type": "shell_call", "call_id": "c1", "action": {"commands": ["sleep 30"]},
     "status": "completed"}
)  # fmt: skip


def spinning(display: RichDisplay) -> bool:
    return display._status is not None


def test_a_cancelled_call_stops_the_spinner_for_good() -> None:
    out = io.StringIO()
    display = RichDisplay(Console(file=out, width=100, force_terminal=True, highlight=False))
    display.event(ev.TurnStarted("r", 1))
    display.event(ev.ToolCallStarted("r", 1, "c1", "shell", CALL))
    assert spinning(display)  # "running shell: sleep 30" with its clock
    cancelled = ev.ToolCallFinished("r", 1, "c1", "shell", "cancelled", 2.5, None,
                                    error="the run stopped while the call ran")  # fmt: skip
    display.event(cancelled)
    assert not spinning(display)
    after = out.getvalue().rsplit("cancelled", 1)[1]
    assert "running shell" not in after  # the old spinner line is not drawn again
    assert "waiting for the model" not in after
    display.note("interrupted: the sandbox was removed")
    display.event(ev.TurnStarted("r", 2))  # nothing revives it
    assert not spinning(display)
