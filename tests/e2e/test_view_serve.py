"""``sandloop view --serve``: the page follows a run that is still being written.

A real run's transcript is replayed into a fresh run directory in two halves, as the run would
have written it: ``sandloop view DIR --serve`` (a subprocess on 127.0.0.1) serves the first half
as a running run; once the rest is appended, the page in headless Chromium reloads by itself and
shows every turn and the end. The server refuses requests that name another host (DNS
rebinding) and anything but the pages it wrote.
"""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import Tab, browser_or_skip, chromium
from view_support import make_coding_run


@pytest.fixture(scope="module")
def tab() -> Iterator[Tab]:
    with chromium(browser_or_skip()) as tab:
        yield tab


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, list[str], str]]:
    """A run directory holding the first half of a real transcript, and its server's URL."""
    finished = make_coding_run(tmp_path)
    lines = (finished / "transcript.jsonl").read_text().splitlines(keepends=True)
    half = next(i for i, line in enumerate(lines) if '"turn": 3' in line)
    live = tmp_path / "live" / finished.name
    live.mkdir(parents=True)
    (live / "transcript.jsonl").write_text("".join(lines[:half]))
    server = subprocess.Popen(
        [sys.executable, "-m", "sandloop.cli", "view", str(live), "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        page = server.stdout.readline().strip()
        assert page == str(live / "view.html")
        url = server.stdout.readline().split()[2]
        yield live, lines[half:], url
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=30)
        assert server.returncode == 0, stderr


def _until(tab: Tab, expression: str, seconds: float = 60) -> Any:
    """Evaluate until it is truthy (the page may be reloading in between)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = tab.evaluate(expression)
        except RuntimeError:  # the page was replaced under the script
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_a_served_page_follows_the_run_until_it_ends(
    served: tuple[Path, list[str], str], tab: Tab
) -> None:
    live, rest, url = served
    tab.open(url)
    assert tab.evaluate("document.querySelector('h1 .badge').textContent") == "running"
    assert tab.evaluate("document.querySelectorAll('.turn').length") == 2
    with (live / "transcript.jsonl").open("a") as transcript:
        transcript.write("".join(rest))
    assert _until(tab, "document.querySelectorAll('.turn').length === 4")
    assert _until(tab, "document.querySelector('h1 .badge').textContent === 'completed'")
    assert tab.evaluate("document.querySelector('meta[name=sandloop-live]').content") == "0"
    assert "multiplies by the quantity" in tab.evaluate(
        "document.querySelector('.final').textContent"
    )


def _get(url: str, path: str, host: str | None = None) -> tuple[int, bytes]:
    address = url.removeprefix("http://").rstrip("/")
    connection = http.client.HTTPConnection(address, timeout=30)
    try:
        headers = {"Host": host} if host else {}
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_the_server_serves_only_its_pages_to_this_host(
    served: tuple[Path, list[str], str],
) -> None:
    _, _, url = served
    status, body = _get(url, "/")
    assert status == 200
    assert body.startswith(b"<!doctype html>")
    status, body = _get(url, "/__version")
    assert status == 200
    assert b'"live": true' in body
    assert _get(url, "/", host="attacker.example:80")[0] == 403
    assert _get(url, "/transcript.jsonl")[0] == 404
    assert _get(url, "/../../etc/passwd")[0] == 404
    assert _get(url, "/%2e%2e/%2e%2e/etc/hostname")[0] == 404
