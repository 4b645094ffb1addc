"""How a run looks in the terminal: rich live progress, or one JSON object per line.

Part of ``cli``. The session feeds both displays the loop's run events
(:mod:`sandloop.loop.events`) and a :class:`Summary` at the end. :class:`RichDisplay` prints the
model's streamed text, one line per tool call (what it does, how it ended, how long it took) and
a spinner while waiting; :class:`JsonDisplay` prints machine-readable events on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.status import Status
from rich.syntax import Syntax

from sandloop.cli.changes import FileChange
from sandloop.cli.live_output import RunningCalls, clean_line
from sandloop.errors import ApiStatusError, ApiTimeoutError
from sandloop.items import CallItem, Usage
from sandloop.loop import events as ev
from sandloop.pricing import RunCost

__all__ = (
    "Display",
    "Elapsed",
    "JsonDisplay",
    "RichDisplay",
    "RunInfo",
    "Summary",
    "cli_console",
    "command_outcomes",
    "describe_call",
    "failed_output_tail",
    "print_diff",
    "retry_text",
    "succeeded",
)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the display shows when a run starts."""

    run_id: str
    model: str
    sandbox: str
    run_dir: Path
    replay: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """What the display shows when a run ends."""

    status: str
    final_output: str
    usage: Usage
    turns: int
    seconds: float
    run_dir: Path
    changes: list[FileChange] | None = None
    patch: Path | None = None
    diff: str | None = None
    error: str | None = None
    note: str | None = None
    cost: RunCost | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Display(Protocol):
    """What the session needs from a display."""

    def started(self, info: RunInfo) -> None: ...
    def note(self, text: str) -> None: ...
    def event(self, event: ev.RunEvent) -> None: ...
    def paused(self) -> Any: ...
    def finished(self, summary: Summary) -> None: ...


def describe_call(call: CallItem, width: int = 90) -> str:
    """One line saying what a tool call does (its commands, the patched file, its arguments).

    A shell call's commands run one after another whatever each exits with, so they are joined
    with ``;`` (``&&`` would claim the later ones depend on the earlier).
    """
    text = "; ".join(call.arguments_text().splitlines()) or str(call.type)
    return _clip(clean_line(text), width)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def command_outcomes(event: ev.ToolCallFinished) -> list[str]:
    """One outcome per command of a shell call (``exit 0``, ``exit 1``, ``timeout``), else []."""
    entries = getattr(event.output, "output", None)
    if event.status != "completed" or not isinstance(entries, list):
        return []
    return [_exit(e.outcome) for e in entries if hasattr(e, "outcome")]


def failed_output_tail(event: ev.ToolCallFinished, lines: int = 3) -> list[str]:
    """The last lines each failed shell command printed (its stderr, else its stdout).

    While a command runs its last lines show under the spinner (where the sandbox streams
    them); they go when it ends, so these stay under the call's line: it failed, and why.
    """
    entries = getattr(event.output, "output", None)
    if event.status != "completed" or not isinstance(entries, list):
        return []
    tail: list[str] = []
    for entry in entries:
        if not hasattr(entry, "outcome") or _exit(entry.outcome) == "exit 0":
            continue
        text = (getattr(entry, "stderr", "") or getattr(entry, "stdout", "") or "").rstrip()
        cleaned = (clean_line(line) for line in text.splitlines())
        tail += [line for line in cleaned if line.strip()][-lines:]
    return tail


def outcome_text(event: ev.ToolCallFinished) -> str:
    """How a finished call ended: exit codes for shell commands, else the status."""
    codes = command_outcomes(event)
    if codes:
        return ", ".join(codes)
    status = getattr(event.output, "status", None)
    if event.status == "completed" and status == "failed":
        return "failed"
    return event.status.replace("_", " ")


def succeeded(event: ev.ToolCallFinished) -> bool:
    """Whether the call did what it was asked: completed, every command exiting 0."""
    if event.status != "completed" or getattr(event.output, "status", None) == "failed":
        return False
    return all(code == "exit 0" for code in command_outcomes(event))


class Elapsed:
    """Spinner text with a running clock: rich renders it afresh at every refresh."""

    def __init__(self, text: str, clock: Any = time.monotonic) -> None:
        self.text = text
        self._clock = clock
        self._since = clock()

    def __rich__(self) -> str:
        return f"{escape(self.text)} [dim]{self._clock() - self._since:.0f}s[/]"


def retry_reason(error: BaseException) -> str:
    """Why a stream broke, in two words (the full message goes to the JSON display)."""
    return "timed out" if isinstance(error, ApiTimeoutError) else "connection lost"


def retry_text(event: ev.ResponseRetrying) -> str:
    """``retrying in 2 s after HTTP 500 (attempt 2 of 3)``, or for a cut answer
    ``answer cut off (connection lost): retrying in 0.5 s (attempt 2 of 3)``."""
    delay = f"{event.delay:.1f}".removesuffix(".0")
    attempt = f"({_attempt(event)})"
    if event.cut:
        return f"answer cut off ({retry_reason(event.error)}): retrying in {delay} s {attempt}"
    if isinstance(event.error, ApiStatusError):
        why = f"HTTP {event.error.status_code}"
    else:
        why = "a timeout" if isinstance(event.error, ApiTimeoutError) else "no connection"
    return f"retrying in {delay} s after {why} {attempt}"


def _attempt(event: ev.ResponseRetrying) -> str:
    of = f" of {event.max_retries + 1}" if event.max_retries else ""
    return f"attempt {event.attempt + 1}{of}"


def _exit(outcome: Any) -> str:
    if getattr(outcome, "type", None) == "exit":
        return f"exit {outcome.exit_code}"
    return str(getattr(outcome, "type", "?")).replace("_", " ")


def _cost_text(cost: RunCost | None) -> str:
    """`` · $0.0123``, `` · cost unpriced (model)``, or nothing before any model call."""
    if cost is None or not cost.turns:
        return ""
    return f" · {escape(str(cost))}" if cost.total is not None else f" · cost {escape(str(cost))}"


def _usage_text(usage: Usage) -> str:
    details = usage.input_tokens_details
    cached = getattr(details, "cached_tokens", 0) if details is not None else 0
    cached_text = f" ({cached:,} cached)" if cached else ""
    return (
        f"{usage.input_tokens:,} input{cached_text} + {usage.output_tokens:,} output = "
        f"{usage.total_tokens:,} tokens"
    )


def print_diff(console: Console, diff: str) -> None:
    """A unified diff, coloured on a terminal (``sandloop run --diff``, ``sandloop demo``)."""
    console.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))


def cli_console() -> Console:
    """The console the CLI prints to: stdout, wrapped only when it is a terminal (a pipe or a
    log file gets whole lines, not lines cut at 80 columns and paths split)."""
    return Console(highlight=False, soft_wrap=not sys.stdout.isatty())


class RichDisplay:
    """Live progress on a terminal (plain lines when stdout is not one)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or cli_console()
        self._status: Status | None = None
        self._line = ""  # streamed text not yet ended by a newline
        self._turn_text = ""  # all text streamed in the current turn
        self._started: dict[str, tuple[float, Any]] = {}
        self._running = RunningCalls()  # what the spinner shows while calls run
        self._halted = False  # the run was stopped (Ctrl-C): no spinner is drawn again

    def started(self, info: RunInfo) -> None:
        source = f", replaying {info.replay}" if info.replay else ""
        self.console.print(
            f"[bold]sandloop[/] run {info.run_id} · model {escape(info.model)} · "
            f"{escape(info.sandbox)}{escape(source)}"
        )
        self.console.print(f"[dim]transcript: {escape(str(info.run_dir))}[/]")
        self._spin("starting")

    def note(self, text: str) -> None:
        self._flush_text()
        self.console.print(f"[yellow]{escape(text)}[/]")

    def event(self, event: ev.RunEvent) -> None:
        if isinstance(event, ev.TurnStarted):
            self._turn_text = ""
            self._spin(f"waiting for the model (turn {event.turn})")
        elif isinstance(event, ev.TextDelta):
            self._turn_text += event.delta
            self._text(event.delta)
        elif isinstance(event, ev.ResponseRetrying):
            self._retrying(event)
        elif isinstance(event, ev.TurnEnded):
            self._flush_text()
            self._spin("running tools" if event.pending_calls else "finishing")
        elif isinstance(event, ev.ToolCallStarted):
            self._flush_text()
            self._started[event.call_id] = (time.monotonic(), event.call)
            self._running.start(event.call_id, f"running {event.tool}: {describe_call(event.call)}")
            self._show_running()
        elif isinstance(event, ev.ToolOutputDelta):
            self._running.output(event.call_id, event.delta)
        elif isinstance(event, ev.ToolCallFinished):
            self._running.finish(event.call_id)
            if event.status == "cancelled":
                # The run is stopping: the spinner goes before the call's line, and stays gone.
                self._halted = True
                self._stop_spinner()
            self._tool_line(event)
        elif isinstance(event, ev.RunEnded):
            self._stop_spinner()

    def _retrying(self, event: ev.ResponseRetrying) -> None:
        # The unfinished line is dropped unprinted; lines already printed cannot be taken back,
        # so the notice says they were void, and the answer streams again below it.
        void = "; the text above is discarded" if event.cut and self._turn_text else ""
        if event.cut:
            self._line = ""
            self._turn_text = ""
        self.console.print(f"[yellow]↻ {escape(retry_text(event))}{void}[/]")
        self._spin(f"waiting for the model (turn {event.turn}, {_attempt(event)})")

    def _tool_line(self, event: ev.ToolCallFinished) -> None:
        _, call = self._started.pop(event.call_id, (0.0, None))
        good = succeeded(event)
        mark = "[green]✓[/]" if good else "[red]✗[/]"
        commands = call.arguments_text().splitlines() if call is not None else []
        codes = command_outcomes(event)
        if len(commands) > 1 and len(codes) == len(commands):
            # One line per command of a shell call, each with its own exit status.
            self.console.print(
                f"{mark} [bold]{escape(event.tool)}[/] {len(commands)} commands  "
                f"[dim]{event.duration:.2f}s[/]"
            )
            for command, code in zip(commands, codes, strict=True):
                style = "dim" if code == "exit 0" else "red"
                shown = escape(_clip(clean_line(command), 86))
                self.console.print(f"    {shown}  [{style}]{code}[/]")
        else:
            # A terminal line is kept to one screen row; a log keeps the whole call.
            outcome = outcome_text(event)
            room = self.console.width - len(event.tool) - len(outcome) - 16  # mark, time
            width = max(20, min(90, room)) if self.console.is_terminal else 400
            what = describe_call(call, width) if call is not None else event.call_id
            line = f"{mark} [bold]{escape(event.tool)}[/] {escape(what)}  [dim]{escape(outcome)}"
            self.console.print(f"{line} · {event.duration:.2f}s[/]")
        if event.error and not good:
            self.console.print(f"    [red]{escape(event.error.splitlines()[0][:200])}[/]")
        for line in failed_output_tail(event):
            self.console.print(f"    [dim]│ {escape(_clip(line, 120))}[/]")
        if self._running:
            self._show_running()
        elif not self._started:
            self._spin("waiting for the model")

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the spinner while the user answers a prompt."""
        self._flush_text()
        self._stop_spinner()
        try:
            yield
        finally:
            if self._running:
                self._show_running()
            else:
                self._spin("running")

    def finished(self, summary: Summary) -> None:
        self._flush_text()
        self._stop_spinner()
        # The final answer usually streamed just now; repeat it only when it did not.
        if summary.final_output and summary.final_output.strip() != self._turn_text.strip():
            self.console.print(Rule("final answer", style="dim"))
            self.console.print(summary.final_output, markup=False)
        self.console.print(Rule(style="dim"))
        self._print_changes(summary)
        colour = "green" if summary.status == "completed" else "red"
        self.console.print(
            f"[{colour}]{summary.status}[/] in {summary.turns} turn(s), {summary.seconds:.1f}s · "
            f"{_usage_text(summary.usage)}{_cost_text(summary.cost)}"
        )
        self.console.print(f"[dim]transcript: {escape(str(summary.run_dir))}/transcript.jsonl[/]")

    def _print_changes(self, summary: Summary) -> None:
        if summary.note:
            self.console.print(f"[dim]{escape(summary.note)}[/]")
        if summary.changes is None:
            return
        if not summary.changes:
            self.console.print("no files changed")
        else:
            self.console.print("[bold]changed files[/]")
        for change in summary.changes:
            counts = f"+{change.added} -{change.removed}" if change.added >= 0 else change.detail
            tag = "" if change.status == "modified" else f" ({change.status})"
            self.console.print(f" {escape(change.path)}{tag} [green]{counts}[/]")
        if summary.patch is not None:
            self.console.print(
                f"[dim]the changes are in {escape(str(summary.patch))} "
                "(apply them with: git apply PATCH)[/]"
            )
        if summary.diff:
            self.console.print(Rule("the diff", style="dim"))
            print_diff(self.console, summary.diff)

    # --- streamed text and spinner ---------------------------------------------------------

    def _text(self, delta: str) -> None:
        self._line += delta
        if "\n" in self._line:
            done, self._line = self._line.rsplit("\n", 1)
            self.console.print(done, markup=False)
        if self._line:
            # The unfinished line streams next to the spinner; it is printed once complete.
            width = max(20, self.console.width - 4)
            tail = self._line if len(self._line) <= width else "…" + self._line[-(width - 1) :]
            self._spin(tail, timer=False)

    def _flush_text(self) -> None:
        if self._line:
            self.console.print(self._line, markup=False)
            self._line = ""

    def _show_running(self) -> None:
        """The spinner over the running calls: each one's clock and last lines."""
        self._spin("", shown=self._running)

    def _spin(self, text: str, *, timer: bool = True, shown: Any = None) -> None:
        if not self.console.is_terminal or self._halted:
            return
        if shown is None:
            shown = Elapsed(text) if timer else escape(text)
        if self._status is None:
            self._status = self.console.status(shown, spinner="dots")
            self._status.start()
        else:
            self._status.update(shown)

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


class JsonDisplay:
    """One JSON object per line on stdout, for programs."""

    def __init__(self, stream: Any = None) -> None:
        self._out = stream or sys.stdout

    def _emit(self, kind: str, **fields: Any) -> None:
        record = {"event": kind, **fields}
        self._out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._out.flush()

    def started(self, info: RunInfo) -> None:
        self._emit(
            "run_started",
            run_id=info.run_id,
            model=info.model,
            sandbox=info.sandbox,
            run_dir=str(info.run_dir),
            replay=info.replay,
        )

    def note(self, text: str) -> None:
        self._emit("note", text=text)

    def event(self, event: ev.RunEvent) -> None:
        """Every run event in its ``to_dict()`` form, with what the terminal display adds.

        The loop's own ``run_started``/``run_ended`` are left to :meth:`started` and
        :meth:`finished`, which say more (the run directory, the changed files).
        """
        if isinstance(event, ev.RunStarted | ev.RunEnded):
            return
        record = event.to_dict()
        if isinstance(event, ev.ResponseRetrying):
            # After a cut, readers drop this turn's text_delta events seen so far: the answer
            # streams anew. A request that failed before its answer began streamed nothing.
            record["discard_text"] = event.cut
        elif isinstance(event, ev.ToolCallStarted):
            record["summary"] = describe_call(event.call, 400)
        elif isinstance(event, ev.ToolCallFinished):
            record["outcome"] = outcome_text(event)
        self._out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._out.flush()

    @contextmanager
    def paused(self) -> Iterator[None]:
        yield

    def finished(self, summary: Summary) -> None:
        changes = None
        if summary.changes is not None:
            changes = [
                {"path": c.path, "added": c.added, "removed": c.removed, "status": c.status}
                for c in summary.changes
            ]
        self._emit(
            "run_ended",
            status=summary.status,
            final_output=summary.final_output,
            turns=summary.turns,
            seconds=round(summary.seconds, 3),
            usage=summary.usage.to_wire(),
            cost=summary.cost.to_dict() if summary.cost is not None else None,
            changes=changes,
            patch=str(summary.patch) if summary.patch else None,
            diff=summary.diff,
            run_dir=str(summary.run_dir),
            error=summary.error,
            **summary.extra,
        )
