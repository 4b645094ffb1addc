"""``sandloop view`` of real runs, loaded in headless Chromium and checked through the DOM.

The runs are real: ``sandloop run --local`` (and ``sandloop.run`` with a journal) against the
scripted Responses server over a real socket, every command and patch really run in a
LocalSandbox. The pages are written by ``sandloop view`` as a subprocess, opened from
``file://`` in Chromium, and checked as a user would look at them: every call is there, drawn
for its kind, the diff shows, the final answer shows, the hostile text stays text. A screenshot
of each page goes to ``$SANDLOOP_VIEW_SCREENSHOTS`` (the README's come from there) or the
test's temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import Tab, browser_or_skip, chromium
from view_support import HOSTILE, make_coding_run, sandloop_cli, screenshots, view

import sandloop
from sandloop.cli.demo_command import demo_data
from sandloop.testing import (
    ScriptedResponsesServer,
    custom_tool_call,
    function_call,
    message,
)


@pytest.fixture(scope="module")
def tab() -> Iterator[Tab]:
    with chromium(browser_or_skip()) as tab:
        yield tab


@pytest.fixture
def coding_run(tmp_path: Path) -> Path:
    return make_coding_run(tmp_path)


CALLS = """[...document.querySelectorAll('.call')].map(c => ({
  id: c.dataset.callId, kind: c.dataset.kind, bad: c.classList.contains('bad'),
  text: c.textContent}))"""


def test_a_coding_run_page_shows_every_call_and_the_diff(
    coding_run: Path, tab: Tab, tmp_path: Path
) -> None:
    page = view(coding_run)
    assert page == coding_run / "view.html"
    timing = tab.open(page.as_uri())
    assert timing.load > 0
    lines = (coding_run / "transcript.jsonl").read_text().splitlines()
    transcript = [json.loads(line) for line in lines]
    wanted = [r["call_id"] for r in transcript if r["type"] == "tool_output"]
    calls = tab.evaluate(CALLS)
    assert [c["id"] for c in calls] == wanted
    assert [c["kind"] for c in calls] == ["shell_call", "apply_patch_call", "shell_call"]
    first, patch, second = calls
    assert "$ python3 -B -m unittest" in first["text"]
    assert "exit 1" in first["text"]
    assert "FAILED (failures=" in tab.evaluate(
        "document.querySelector('.call details pre').textContent"
    )  # collapsed, with its size on the summary
    assert "update file shop/pricing.py" in patch["text"]
    assert "exit 0" in second["text"]
    assert tab.evaluate("document.querySelectorAll('.turn').length") == 4
    assert "run the tests first" in tab.evaluate("document.querySelector('.reasoning').textContent")
    # The whole run's diff, coloured and on screen (not collapsed away).
    added = tab.evaluate(
        """(() => { const lines = [...document.querySelectorAll('#changes ~ .block .da')];
        return lines.map(l => [l.textContent, l.getBoundingClientRect().height]); })()"""
    )
    assert any("line.unit_cents * line.quantity" in text and height > 0 for text, height in added)
    final = tab.evaluate("document.querySelector('.final').textContent")
    assert final == "Fixed the subtotal: it multiplies by the quantity now."
    facts = tab.evaluate("document.querySelector('.facts').textContent")
    for fact in ("Fix the subtotal bug.", "gpt-5.1", "$0.0"):
        assert fact in facts
    assert tab.console_errors() == []
    tab.screenshot(screenshots(tmp_path) / "run.png", height=1500)


def test_hostile_text_in_a_run_stays_text(coding_run: Path, tab: Tab, tmp_path: Path) -> None:
    page = view(coding_run, "--out", str(tmp_path / "page.html"))
    tab.open(page.as_uri())
    assert tab.evaluate("window.__pwned === undefined")
    assert tab.evaluate("document.scripts.length") == 1  # the page's own
    assert tab.evaluate("document.getElementById('injected')") is None
    assert tab.evaluate("document.querySelectorAll('img').length") == 0
    stderr = tab.evaluate("[...document.querySelectorAll('.call pre.err')].map(p => p.textContent)")
    assert HOSTILE + "\n" in stderr


@sandloop.tool
def lookup(city: str) -> str:
    """Look up a city's weather.

    Args:
        city: The city.
    """
    return json.dumps({"city": city, "sky": "clear", "note": HOSTILE})


@sandloop.tool(needs_approval=True)
def forget(city: str) -> str:
    """Forget a city.

    Args:
        city: The city.
    """
    return "forgotten"


def test_a_journal_page_draws_function_and_custom_calls(tmp_path: Path, tab: Tab) -> None:
    """An API run's journal: function calls as JSON, a custom tool's raw input, a call to an
    unknown tool and a denied one standing out."""
    script = [
        [
            function_call("lookup", {"city": "Oslo " + HOSTILE}),
            custom_tool_call("notes", "raw text " + HOSTILE),
            function_call("nonexistent", {}),
            function_call("forget", {"city": "Oslo"}),
        ],
        [message("Clear skies in Oslo.", phase="final_answer")],
    ]
    notes = sandloop.CustomTool(lambda text: "ok", name="notes", description="Keep notes.")
    agent = sandloop.Agent("gpt-5.1", instructions="Be brief.", tools=[lookup, notes, forget])
    journal = tmp_path / "records" / "journal.jsonl"
    journal.parent.mkdir()
    with ScriptedResponsesServer(script) as server:
        client = sandloop.ResponsesClient(base_url=server.base_url, api_key="sk-test")
        result = sandloop.run_sync(
            agent, "Weather in Oslo?", client=client, journal=journal, approve=lambda r: False
        )
    assert result.final_output == "Clear skies in Oslo."
    page = view(journal)
    assert page == journal.with_name("journal.html")
    tab.open(page.as_uri())
    calls: list[dict[str, Any]] = tab.evaluate(CALLS)
    kinds = ["function_call", "custom_tool_call", "function_call", "function_call"]
    assert [c["kind"] for c in calls] == kinds
    assert '"city": "Oslo ' in calls[0]["text"]  # arguments pretty-printed
    assert '"sky": "clear"' in calls[0]["text"]  # the output too
    assert "raw text </script>" in calls[1]["text"]
    assert calls[2]["bad"]
    assert "unknown tool" in calls[2]["text"].lower()
    denied = tab.evaluate("[...document.querySelectorAll('.call.denied')].map(c => c.textContent)")
    assert len(denied) == 1
    assert "denied" in denied[0]
    assert "The user denied this" in denied[0]
    assert tab.evaluate("window.__pwned === undefined")
    assert tab.evaluate("document.scripts.length") == 1
    assert tab.evaluate("document.querySelector('.final').textContent") == "Clear skies in Oslo."


def test_a_cassette_page_shows_the_recorded_run(tmp_path: Path, tab: Tab) -> None:
    cassette = tmp_path / "demo.json"
    shutil.copy(demo_data() / "cassette.json", cassette)
    page = view(cassette)
    assert page == tmp_path / "demo.html"
    tab.open(page.as_uri())
    recorded = json.loads(cassette.read_text())["exchanges"]
    outputs = [item for exchange in recorded for item in exchange["response"]["output"]]
    wanted = [item["call_id"] for item in outputs if item["type"].endswith("_call")]
    calls = tab.evaluate(CALLS)
    assert [c["id"] for c in calls] == wanted
    assert all("no output recorded" not in c["text"] for c in calls)  # outputs from the requests
    assert tab.evaluate("document.querySelectorAll('.turn').length") == len(recorded)


def test_view_open_hands_the_page_to_the_browser(coding_run: Path, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    env = {**os.environ, "BROWSER": f"/bin/sh -c 'echo %s > {opened}'"}
    done = sandloop_cli("view", str(coding_run), "--open", env=env)
    assert done.returncode == 0, done.stderr
    assert opened.read_text().strip() == (coding_run / "view.html").as_uri()


def test_view_refuses_what_is_no_record(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    done = sandloop_cli("view", str(tmp_path / "notes.txt"), env=dict(os.environ))
    assert done.returncode == 2
    assert "is not a run directory, transcript, journal, cassette or batch" in done.stderr
