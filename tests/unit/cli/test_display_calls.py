"""How the terminal display shows tool calls: honest exit statuses, one line per command, a
running clock while waiting, and no wrapping when the output is not a terminal."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from sandloop.cli.display import Elapsed, RichDisplay, describe_call, succeeded
from sandloop.items import parse_item
from sandloop.loop import events as ev


def _shell(commands: list[str], codes: list[int]) -> tuple[Any, Any]:
    call = parse_item(
        {
            "type": "shell_call",
            "call_id": "c1",
            "action": {"commands": commands},
            "status": "completed",
        }
    )
    output = parse_item(
        {
            "type": "shell_call_output",
            "call_id": "c1",
            "output": [
                {"stdout": "", "stderr": "", "outcome": {"type": "exit", "exit_code": code}}
                for code in codes
            ],
        }
    )
    return call, output


def _show(call: Any, output: Any, width: int = 200) -> str:
    out = io.StringIO()
    display = RichDisplay(Console(file=out, width=width, highlight=False))
    display.event(ev.ToolCallStarted("r", 1, "c1", "shell", call))
    finished = ev.ToolCallFinished("r", 1, "c1", "shell", "completed", 0.5, output)
    display.event(finished)
    return out.getvalue()


def test_a_command_that_exits_1_is_not_shown_as_a_success() -> None:
    call, output = _shell(["python3 -m pytest -q"], [1])
    text = _show(call, output)
    assert text.startswith("✗ shell python3 -m pytest -q  exit 1")
    assert "✓" not in text
    ok_call, ok_output = _shell(["true"], [0])
    assert _show(ok_call, ok_output).startswith("✓ shell true  exit 0")


def test_each_command_of_a_shell_call_gets_its_own_line_and_status() -> None:
    call, output = _shell(["make build", "make test"], [0, 2])
    lines = _show(call, output).splitlines()
    assert lines[0].startswith("✗ shell 2 commands")
    assert lines[1].strip() == "make build  exit 0"
    assert lines[2].strip() == "make test  exit 2"
    assert "&&" not in describe_call(call)  # they do not depend on each other


def test_the_spinner_text_carries_a_running_clock() -> None:
    now = [100.0]
    shown = Elapsed("running shell: sleep 30", clock=lambda: now[0])
    now[0] += 12.4
    assert shown.__rich__() == "running shell: sleep 30 [dim]12s[/]"


def test_not_a_terminal_long_lines_and_paths_are_not_wrapped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    path = "src/" + "/".join(["deeply_nested_directory"] * 6) + "/module.py"
    call, output = _shell([f"cat {path}"], [0])
    display = RichDisplay()  # stdout is captured here: not a terminal
    display.event(ev.ToolCallStarted("r", 1, "c1", "shell", call))
    display.event(ev.ToolCallFinished("r", 1, "c1", "shell", "completed", 0.5, output))
    (line,) = capsys.readouterr().out.splitlines()
    assert path in line


def test_a_failed_patch_output_is_not_a_success() -> None:
    output = parse_item({"type": "apply_patch_call_output", "call_id": "c1", "status": "failed"})
    event = ev.ToolCallFinished("r", 1, "c1", "apply_patch", "completed", 0.1, output)
    assert not succeeded(event)


def test_a_failed_command_shows_the_last_lines_it_printed() -> None:
    call = parse_item({"type": "shell_call", "call_id": "c1", "status": "completed",
                       "action": {"commands": ["pytest -q", "true"]}})  # fmt: skip
    errors = (
        "collected 3\n\nFAILED test_a.py::test_x\nFAILED test_b.py::test_y\n1 failed, 2 passed\n"
    )
    output = parse_item(
        {"type": "shell_call_output", "call_id": "c1", "output": [
            {"stdout": errors, "stderr": "", "outcome": {"type": "exit", "exit_code": 1}},
            {"stdout": "not shown", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}},
        ]}
    )  # fmt: skip
    lines = _show(call, output).splitlines()
    assert lines[-3:] == [
        "    │ FAILED test_a.py::test_x",
        "    │ FAILED test_b.py::test_y",
        "    │ 1 failed, 2 passed",
    ]
    assert "not shown" not in "\n".join(lines)
