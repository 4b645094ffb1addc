"""``sandloop view`` of a real batch: the task table sorts and filters, each row opens its run.

``sandloop batch`` runs three tasks in real copy-mode Docker sandboxes against the scripted
server (one solved, one unsolved, one whose setup fails); ``sandloop view OUT`` writes the batch
page and a page per task; both are loaded in headless Chromium and used as a user would: sort by
a column, filter by status, follow a row's link to its run, see that run's calls and diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import Tab, browser_or_skip, chromium

from sandloop.testing import ScriptedResponsesServer, Turn, apply_patch_call, message, shell_call

pytestmark = pytest.mark.docker

BUGGY = "def add(a, b):\n    return a - b\n"
FIX = "@@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
TEST = "python3 -c 'from calc.ops import add; assert add(2, 3) == 5'"


@pytest.fixture(scope="module")
def tab() -> Iterator[Tab]:
    with chromium(browser_or_skip()) as tab:
        yield tab


def _sandloop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandloop.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def batch(tmp_path: Path, base_image: str) -> Path:
    """A finished three-task batch: its output directory."""
    repo = tmp_path / "repo"
    (repo / "calc").mkdir(parents=True)
    (repo / "calc" / "ops.py").write_text(BUGGY)
    tasks = tmp_path / "tasks.jsonl"
    lines = [
        {"id": "fix", "prompt": "fix add", "test": TEST},
        {"id": "idle", "prompt": "look", "test": TEST},
        {"id": "broken", "prompt": "p", "setup": "exit 4"},
    ]
    tasks.write_text("".join(json.dumps({"repo": str(repo), **line}) + "\n" for line in lines))
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {"m": {"input": 1.0, "output": 4.0}}}))
    script: list[Any] = [
        Turn(
            [message("Fixing add.", phase="commentary"), shell_call(["cat calc/ops.py"])],
            new_conversation=True,
        ),
        [apply_patch_call("update_file", "calc/ops.py", FIX)],
        [message("Fixed.", phase="final_answer")],
        Turn([message("Nothing to do.")], new_conversation=True),
    ]
    out = tmp_path / "out"
    with ScriptedResponsesServer(script) as server:
        done = _sandloop(
            "batch", str(tasks), "--out", str(out), "--base-url", server.base_url,
            "--model", "m", "--image", base_image, "--workers", "1",
            env={"SANDLOOP_PRICES": str(prices)},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


ROWS = """[...document.querySelectorAll('table.tasks tbody tr')].filter(r => !r.hidden)
  .map(r => [...r.cells].map(c => c.textContent))"""


def test_a_batch_page_lists_sorts_filters_and_links_every_task(
    batch: Path, tab: Tab, tmp_path: Path
) -> None:
    done = _sandloop("view", str(batch))
    assert done.returncode == 0, done.stderr
    page = Path(done.stdout.strip())
    assert page == batch / "view" / "index.html"
    tab.open(page.as_uri())
    rows = tab.evaluate(ROWS)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("broken", "error", "no"),
        ("fix", "solved", "yes"),
        ("idle", "unsolved", "no"),
    ]
    fix = rows[1]
    assert int(fix[3]) == 3  # turns
    assert fix[5].startswith("$")  # priced
    facts = tab.evaluate("document.querySelector('.facts').textContent")
    assert "1 of 3" in facts
    # Two charts, one bar per task that has a time (every task) and a cost (every task).
    bars = tab.evaluate(
        "[...document.querySelectorAll('.chart')].map(c => c.querySelectorAll('rect').length)"
    )
    assert bars == [3, 3]

    # Sort by turns, descending on the second click; filter to the solved ones.
    tab.evaluate("document.querySelectorAll('table.tasks th')[3].click()")
    tab.evaluate("document.querySelectorAll('table.tasks th')[3].click()")
    assert [r[0] for r in tab.evaluate(ROWS)] == ["fix", "idle", "broken"]
    tab.evaluate(
        """(() => { const s = document.getElementById('filter-status'); s.value = 'unsolved';
        s.dispatchEvent(new Event('change')); })()"""
    )
    assert [r[0] for r in tab.evaluate(ROWS)] == ["idle"]
    assert tab.evaluate("document.getElementById('shown').textContent") == "1"
    tab.evaluate(
        """(() => { const s = document.getElementById('filter-status'); s.value = '';
        s.dispatchEvent(new Event('change')); })()"""
    )
    tab.screenshot(Path(os.environ.get("SANDLOOP_VIEW_SCREENSHOTS") or tmp_path) / "batch.png")

    # Every row links to its task's page, which shows that run.
    links = tab.evaluate("[...document.querySelectorAll('table.tasks a')].map(a => a.href)")
    assert len(links) == 3
    pages: dict[str, Any] = {}
    for link in links:
        tab.open(link)
        pages[link.rsplit("/", 1)[1]] = tab.evaluate(
            """({ status: document.querySelector('h1 .badge').textContent,
            calls: [...document.querySelectorAll('.call')].map(c => c.dataset.kind),
            diff: [...document.querySelectorAll('#changes ~ .block .da')].map(l => l.textContent),
            extra: [...document.querySelectorAll('h2')].map(h => h.textContent) })"""
        )
    assert pages["fix.html"]["status"] == "solved"
    assert pages["fix.html"]["calls"] == ["shell_call", "apply_patch_call"]
    assert "+    return a + b" in pages["fix.html"]["diff"]
    assert "test.txt" in pages["fix.html"]["extra"]
    assert pages["idle.html"]["status"] == "unsolved"
    assert pages["broken.html"]["status"] == "error"  # no model call: its setup log instead
    assert "setup.txt" in pages["broken.html"]["extra"]
    assert tab.evaluate("document.querySelector('a[href=\"../index.html\"]') !== null")
