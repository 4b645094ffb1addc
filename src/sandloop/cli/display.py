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

from sandloop.cli.changes import FileChange
from sandloop.dispatch.outputs import call_arguments_text
from sandloop.errors import ApiTimeoutError
from sandloop.items import Usage, dump_item
from sandloop.loop import events as ev

__all__ = ("Display", "JsonDisplay", "RichDisplay", "RunInfo", "Summary", "describe_call")


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
    error: str | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Display(Protocol):
    """What the session needs from a display."""

    def started(self, info: RunInfo) -> None: ...
    def note(self, text: str) -> None: ...
    def event(self, event: ev.RunEvent) -> None: ...
    def paused(self) -> Any: ...
    def finished(self, summary: Summary) -> None: ...


def describe_call(call: Any, width: int = 90) -> str:
    """One line saying what a tool call does (its commands, the patched file, its arguments)."""
    text = " && ".join(call_arguments_text(call).splitlines()) or call.type
    return text if len(text) <= width else text[: width - 1] + "…"


def outcome_text(event: ev.ToolCallFinished) -> str:
    """How a finished call ended: exit codes for shell commands, else the status."""
    output = event.output
    entries = getattr(output, "output", None)
    if event.status == "completed" and isinstance(entries, list):
        codes = [_exit(e.outcome) for e in entries if hasattr(e, "outcome")]
        if codes:
            return ", ".join(codes)
    status = getattr(output, "status", None)
    if event.status == "completed" and status == "failed":
        return "failed"
    return event.status.replace("_", " ")


def retry_reason(error: BaseException) -> str:
    """Why a stream broke, in two words (the full message goes to the JSON display)."""
    return "timed out" if isinstance(error, ApiTimeoutError) else "connection lost"


def _exit(outcome: Any) -> str:
    if getattr(outcome, "type", None) == "exit":
        return f"exit {outcome.exit_code}"
    return str(getattr(outcome, "type", "?")).replace("_", " ")


def _usage_text(usage: Usage) -> str:
    details = usage.input_tokens_details
    cached = getattr(details, "cached_tokens", 0) if details is not None else 0
    cached_text = f" ({cached:,} cached)" if cached else ""
    return (
        f"{usage.input_tokens:,} input{cached_text} + {usage.output_tokens:,} output = "
        f"{usage.total_tokens:,} tokens"
    )


class RichDisplay:
    """Live progress on a terminal (plain lines when stdout is not one)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self._status: Status | None = None
        self._line = ""  # streamed text not yet ended by a newline
        self._turn_text = ""  # all text streamed in the current turn
        self._started: dict[str, tuple[float, Any]] = {}

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
            self._spin(f"running {event.tool}: {describe_call(event.call, 60)}")
        elif isinstance(event, ev.ToolCallFinished):
            self._tool_line(event)
        elif isinstance(event, ev.RunEnded):
            self._stop_spinner()

    def _retrying(self, event: ev.ResponseRetrying) -> None:
        # The unfinished line is dropped unprinted; lines already printed cannot be taken back,
        # so the notice says they were void, and the answer streams again below it.
        void = "; the text above is discarded" if self._turn_text else ""
        self._line = ""
        self._turn_text = ""
        self.console.print(
            f"[yellow]↻ answer cut off ({retry_reason(event.error)}): "
            f"retry {event.attempt} of turn {event.turn} in {event.delay:.1f}s{void}[/]"
        )
        self._spin(f"waiting for the model (turn {event.turn}, retry {event.attempt})")

    def _tool_line(self, event: ev.ToolCallFinished) -> None:
        _, call = self._started.pop(event.call_id, (0.0, None))
        what = describe_call(call) if call is not None else event.call_id
        outcome = outcome_text(event)
        good = event.status == "completed" and outcome not in ("failed",)
        mark = "[green]✓[/]" if good else "[red]✗[/]"
        line = f"{mark} [bold]{escape(event.tool)}[/] {escape(what)}  [dim]{escape(outcome)}"
        self.console.print(f"{line} · {event.duration:.2f}s[/]")
        if event.error and not good:
            self.console.print(f"    [red]{escape(event.error.splitlines()[0][:200])}[/]")
        if not self._started:
            self._spin("waiting for the model")

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the spinner while the user answers a prompt."""
        self._flush_text()
        self._stop_spinner()
        try:
            yield
        finally:
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
            f"{_usage_text(summary.usage)}"
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
            self._spin(tail)

    def _flush_text(self) -> None:
        if self._line:
            self.console.print(self._line, markup=False)
            self._line = ""

    def _spin(self, text: str) -> None:
        if not self.console.is_terminal:
            return
        if self._status is None:
            self._status = self.console.status(escape(text), spinner="dots")
            self._status.start()
        else:
            self._status.update(escape(text))

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
        if isinstance(event, ev.TurnStarted):
            self._emit("turn_started", turn=event.turn)
        elif isinstance(event, ev.TextDelta):
            self._emit("text_delta", turn=event.turn, delta=event.delta)
        elif isinstance(event, ev.ResponseRetrying):
            # Readers drop this turn's text_delta events seen so far: the answer streams anew.
            self._emit(
                "response_retrying",
                turn=event.turn,
                attempt=event.attempt,
                delay=round(event.delay, 3),
                error=str(event.error),
                discard_text=True,
            )
        elif isinstance(event, ev.ToolCallStarted):
            self._emit(
                "tool_call_started",
                turn=event.turn,
                call_id=event.call_id,
                tool=event.tool,
                summary=describe_call(event.call, 400),
            )
        elif isinstance(event, ev.ToolCallFinished):
            self._emit(
                "tool_call_finished",
                turn=event.turn,
                call_id=event.call_id,
                tool=event.tool,
                status=event.status,
                outcome=outcome_text(event),
                duration=round(event.duration, 4),
                error=event.error,
                output=dump_item(event.output) if event.output is not None else None,
            )
        elif isinstance(event, ev.TurnEnded):
            self._emit(
                "turn_ended",
                turn=event.turn,
                response_id=event.response.id,
                usage=event.usage.to_wire(),
                pending_calls=event.pending_calls,
            )

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
            changes=changes,
            patch=str(summary.patch) if summary.patch else None,
            run_dir=str(summary.run_dir),
            error=summary.error,
            **summary.extra,
        )
