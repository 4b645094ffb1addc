"""The CLI displays show a retried stream in one line and drop the broken answer's text."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from sandloop.cli.display import JsonDisplay, RichDisplay, Summary
from sandloop.errors import ApiConnectionError, ApiTimeoutError, ServerError
from sandloop.items import Usage
from sandloop.loop import events as ev

CUT = ApiConnectionError("POST /responses: the connection broke: peer closed (after 6 events)")


def _summary(final: str) -> Summary:
    return Summary(
        status="completed",
        final_output=final,
        usage=Usage.zero(),
        turns=1,
        seconds=0.1,
        run_dir=Path("/tmp/run"),
    )


def _play(display: RichDisplay | JsonDisplay, final: str) -> None:
    display.event(ev.TurnStarted("r", 1))
    display.event(ev.TextDelta("r", 1, "m1", "Half a line\nand the start of"))
    display.event(ev.ResponseRetrying("r", 1, 1, CUT, 0.5, 2))
    display.event(ev.TextDelta("r", 1, "m1", final))
    display.finished(_summary(final))


def test_rich_says_the_text_above_is_void_and_does_not_print_the_cut_line() -> None:
    out = io.StringIO()
    display = RichDisplay(Console(file=out, width=200, highlight=False))
    _play(display, "The whole answer.")
    text = out.getvalue()
    lines = text.splitlines()
    retry = [line for line in lines if line.startswith("↻")]
    assert retry == [
        "↻ answer cut off (connection lost): retrying in 0.5 s (attempt 2 of 3); "
        "the text above is discarded"
    ]
    assert "and the start of" not in text  # the unfinished line of the broken answer
    assert text.count("The whole answer.") == 1  # streamed once, not repeated as "final answer"
    assert lines.index(retry[0]) < lines.index("The whole answer.")


def test_rich_names_a_timeout_and_says_nothing_of_text_when_none_streamed() -> None:
    out = io.StringIO()
    display = RichDisplay(Console(file=out, width=200, highlight=False))
    display.event(ev.TurnStarted("r", 2))
    display.event(ev.ResponseRetrying("r", 2, 2, ApiTimeoutError("read timed out"), 1.25))
    assert out.getvalue() == "↻ answer cut off (timed out): retrying in 1.2 s (attempt 3)\n"


def test_rich_says_why_and_when_a_request_is_sent_again_and_keeps_the_text() -> None:
    out = io.StringIO()
    display = RichDisplay(Console(file=out, width=200, highlight=False))
    display.event(ev.TurnStarted("r", 1))
    display.event(ev.TextDelta("r", 1, "m1", "kept\n"))
    failed = ServerError("boom", status_code=500, request="POST http://x/v1/responses")
    display.event(ev.ResponseRetrying("r", 1, 1, failed, 2.0, 2, cut=False))
    display.event(ev.ResponseRetrying("r", 1, 2, ApiConnectionError("refused"), 0.5, 2, cut=False))
    assert out.getvalue().splitlines() == [
        "kept",
        "↻ retrying in 2 s after HTTP 500 (attempt 2 of 3)",
        "↻ retrying in 0.5 s after no connection (attempt 3 of 3)",
    ]


def test_json_tells_readers_to_discard_the_turn_text() -> None:
    out = io.StringIO()
    _play(JsonDisplay(out), "The whole answer.")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    (retry,) = [r for r in records if r["event"] == "response_retrying"]
    assert retry == {
        **ev.ResponseRetrying("r", 1, 1, CUT, 0.5, 2).to_dict(),
        "discard_text": True,
    }
    assert retry["error"] == {"type": "ApiConnectionError", "message": str(CUT)}
    kinds = [r["event"] for r in records]
    assert kinds.index("response_retrying") == 2
    assert records[-1]["final_output"] == "The whole answer."
