"""The running calls in the terminal: a clock each and the last lines their commands printed.

Part of ``cli`` (used by ``display``). The loop's ``ToolOutputDelta`` events carry what a
command prints, as the sandbox streams it; :class:`RunningCalls` keeps, per running call, its
last few lines (bounded in number and length, whatever the command prints) and renders them
under the call's title with the seconds it has run. Rich renders it afresh at every refresh of
the spinner, so the clocks tick while a command prints nothing.

The output is the command's, that is the model's: hostile. Before it reaches the terminal,
escape sequences (colours, cursor moves, titles, hyperlinks), control characters and bidi
overrides are removed, a carriage return starts the line afresh (as a progress bar means it),
and each line is cut to the terminal's width.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

__all__ = ("LINES_SHOWN", "RunningCalls", "clean_line")

#: Lines shown under each running call.
LINES_SHOWN = 4
#: Characters of one line kept (its end, for a line still growing); the terminal shows fewer.
LINE_KEEP = 1000

# ESC [ ... final (CSI), ESC ] ... BEL or ESC \ (OSC, also unterminated), ESC P/X/^/_ ... ST
# (DCS and kin), then any other ESC + one character; the C1 forms (U+009B CSI, U+009D OSC) too.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b.?"
)
# C0 and C1 controls (tab aside), DEL, and the Unicode marks that reorder or hide text.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_line(raw: str) -> str:
    """One line of command output as plain printable text (see the module docstring)."""
    text = _ESCAPES.sub("", raw).replace("\t", "    ")
    return _CONTROLS.sub("", text)


@dataclass
class _Call:
    title: str
    since: float
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=LINES_SHOWN))
    partial: str = ""  # the unfinished last line, raw (an escape may continue in the next text)

    def feed(self, text: str) -> None:
        pieces = re.split(r"\r\n|\n", self.partial + text)
        self.partial = pieces.pop()[-LINE_KEEP:]
        for piece in pieces[-LINES_SHOWN:]:
            shown = _last_rewrite(piece)
            if shown:
                self.lines.append(shown[-LINE_KEEP:])

    def shown(self) -> list[str]:
        lines = list(self.lines)
        last = _last_rewrite(self.partial)
        if last:
            lines.append(last)
        return lines[-LINES_SHOWN:]


def _last_rewrite(raw: str) -> str:
    """What a terminal would show of a line a command rewrote with carriage returns."""
    for segment in reversed(raw.split("\r")):
        shown = clean_line(segment).rstrip()
        if shown:
            return shown
    return ""


class RunningCalls:
    """The calls running now, for the live display (a rich renderable).

    Args:
        clock: Seconds, monotonic (tests pass their own).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[str, _Call] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def start(self, call_id: str, title: str) -> None:
        self._calls[call_id] = _Call(clean_line(title), self._clock())

    def output(self, call_id: str, text: str) -> None:
        """What a running call printed (ignored once it finished)."""
        call = self._calls.get(call_id)
        if call is not None:
            call.feed(text)

    def finish(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    def lines(self, call_id: str) -> list[str]:
        """The lines shown for a running call now (cleaned, not yet cut to a width)."""
        call = self._calls.get(call_id)
        return call.shown() if call is not None else []

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self._render(options.max_width)

    def _render(self, width: int) -> Iterator[Text]:
        now = self._clock()
        for call in self._calls.values():
            clock = f"  {now - call.since:.0f}s"
            title = Text(call.title)
            title.truncate(max(width - len(clock), 1), overflow="ellipsis")
            title.append(clock, style="dim")
            yield title
            for line in call.shown():
                shown = Text(f"│ {line}", style="dim", no_wrap=True, overflow="ellipsis")
                shown.truncate(width, overflow="ellipsis")
                yield shown
