"""What the live display shows of running calls, through a captured rich console: a clock that
ticks without output, the last lines as they arrive, and hostile output made harmless (an
endless flood, a huge line, binary, escape sequences)."""

from __future__ import annotations

import io
import unicodedata
from typing import Any

from rich.console import Console

from sandloop.cli.display import RichDisplay
from sandloop.cli.live_output import LINE_KEEP, LINES_SHOWN, RunningCalls, clean_line
from sandloop.items import parse_item
from sandloop.loop import events as ev


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def shown(running: RunningCalls, width: int = 60) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(running)
    return out.getvalue().splitlines()


def test_the_clock_ticks_while_a_command_prints_nothing() -> None:
    clock = Clock()
    running = RunningCalls(clock)
    running.start("c1", "running shell: sleep 100")
    assert shown(running) == ["running shell: sleep 100  0s"]
    clock.now += 12.4
    assert shown(running) == ["running shell: sleep 100  12s"]


def test_the_last_lines_show_under_the_call_as_they_arrive() -> None:
    running = RunningCalls(Clock())
    running.start("c1", "running shell: make")
    running.output("c1", "step 1\nstep 2\nst")
    assert shown(running)[1:] == ["│ step 1", "│ step 2", "│ st"]
    running.output("c1", "ep 3\nstep 4\nstep 5\nstep 6\n")
    assert shown(running)[1:] == [f"│ step {n}" for n in range(3, 3 + LINES_SHOWN)]
    running.finish("c1")
    assert shown(running) == []


def test_each_running_call_has_its_own_clock_and_lines() -> None:
    clock = Clock()
    running = RunningCalls(clock)
    running.start("c1", "running shell: a")
    clock.now += 5
    running.start("c2", "running local_shell: b")
    running.output("c2", "from b\n")
    running.output("gone", "from a call that finished\n")  # ignored
    assert shown(running) == ["running shell: a  5s", "running local_shell: b  0s", "│ from b"]


def test_an_endless_flood_keeps_a_few_short_lines() -> None:
    running = RunningCalls(Clock())
    running.start("c1", "running shell: yes")
    for _ in range(5000):  # 40 MB of output as 8 KiB chunks (what the sandbox sends at most)
        running.output("c1", "y\n" * 4096)
    lines = shown(running)
    assert lines[1:] == ["│ y"] * LINES_SHOWN
    call = running._calls["c1"]
    assert len(call.lines) <= LINES_SHOWN
    assert len(call.partial) <= LINE_KEEP


def test_a_huge_line_is_cut_to_the_terminal_width() -> None:
    running = RunningCalls(Clock())
    running.start("c1", "running shell: " + "x" * 500)  # the title too
    for _ in range(1000):  # 8 MB, no newline
        running.output("c1", "z" * 8192)
    lines = shown(running, width=40)
    assert all(len(line) <= 40 for line in lines)
    assert lines[0].endswith("…  0s")
    assert lines[1].startswith("│ zzz")
    assert lines[1].endswith("…")
    assert len(running._calls["c1"].partial) <= LINE_KEEP


def test_binary_output_shows_no_control_characters() -> None:
    running = RunningCalls(Clock())
    running.start("c1", "running shell: cat /bin/true")
    running.output("c1", bytes(range(256)).decode("utf-8", "replace") * 3 + "\n")
    for line in shown(running)[1:]:
        bad = [c for c in line if unicodedata.category(c) in ("Cc", "Cf") and c != " "]
        assert bad == [], line


def test_escape_sequences_are_removed_not_obeyed() -> None:
    hostile = (
        "\x1b[2J\x1b[H"  # clear the screen, cursor home
        "\x1b[31mred\x1b[0m "  # colour
        "\x1b]0;pwned\x07"  # window title
        "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ "  # hyperlink
        "\x9b2Jc1-csi "  # an 8-bit CSI
        "\u202eevil\u202c "  # a bidi override
        "done\x1b[1A\x1b[2K"  # cursor up, erase the line
    )
    assert clean_line(hostile) == "red link c1-csi evil done"
    running = RunningCalls(Clock())
    running.start("c1", "running shell: \x1b]0;title from the model\x07printf")
    running.output("c1", hostile + "\n")
    assert shown(running) == ["running shell: printf  0s", "│ red link c1-csi evil done"]


def test_an_escape_split_between_two_chunks_is_still_removed() -> None:
    running = RunningCalls(Clock())
    running.start("c1", "t")
    running.output("c1", "before \x1b[3")
    running.output("c1", "1mafter\n")
    assert shown(running)[1:] == ["│ before after"]


def test_a_progress_bar_shows_its_latest_state() -> None:
    running = RunningCalls(Clock())
    running.start("c1", "t")
    running.output("c1", "downloading  10%\rdownloading  50%\rdownloading  90%")
    assert shown(running)[1:] == ["│ downloading  90%"]
    running.output("c1", "\r\ndone\r\n")
    assert shown(running)[1:] == ["│ downloading  90%", "│ done"]


def _shell_call(command: str, call_id: str = "c1") -> Any:
    return parse_item(
        {
            "type": "shell_call",
            "call_id": call_id,
            "action": {"commands": [command]},
            "status": "completed",
        }
    )


def _exited(code: int, stderr: str = "") -> Any:
    return parse_item(
        {
            "type": "shell_call_output",
            "call_id": "c1",
            "output": [
                {"stdout": "", "stderr": stderr, "outcome": {"type": "exit", "exit_code": code}}
            ],
        }
    )


def test_the_display_shows_running_calls_and_drops_them_when_they_end() -> None:
    out = io.StringIO()
    display = RichDisplay(Console(file=out, width=100, color_system=None))
    display.event(ev.ToolCallStarted("r", 1, "c1", "shell", _shell_call("make test")))
    display.event(ev.ToolOutputDelta("r", 1, "c1", "shell", 0, "stdout", "compiling\n"))
    assert display._running.lines("c1") == ["compiling"]
    failed = _exited(1, "\x1b[31mFAILED\x1b[0m test_x\n")
    display.event(ev.ToolCallFinished("r", 1, "c1", "shell", "completed", 2.5, failed))
    assert not display._running
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("✗ shell make test  exit 1 · 2.50s")
    assert lines[1] == "    │ FAILED test_x"  # the failed command's tail, cleaned too
    assert "\x1b" not in out.getvalue()
