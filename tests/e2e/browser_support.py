"""Headless Chromium driven over the DevTools protocol, for the ``sandloop view`` tests.

Debian's ``chromium`` (``tools/ensure_browser.sh`` installs it), or the binary
``SANDLOOP_BROWSER`` names, runs headless with a fresh profile and its debugging port on
127.0.0.1; a :class:`Tab` loads a page, evaluates scripts in it and takes screenshots. Tests
skip when there is no browser, and fail instead when ``SANDLOOP_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websocket

REQUIRE_BROWSER = os.environ.get("SANDLOOP_REQUIRE_BROWSER") == "1"

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def browser_binary() -> str | None:
    """The Chromium to use: ``$SANDLOOP_BROWSER``, else ``chromium`` on ``PATH``."""
    name = os.environ.get("SANDLOOP_BROWSER") or "chromium"
    return shutil.which(name)


def browser_or_skip() -> str:
    """The browser binary; skips the test without one (fails under SANDLOOP_REQUIRE_BROWSER=1)."""
    binary = browser_binary()
    if binary is None:
        reason = "no chromium on PATH (tools/ensure_browser.sh installs Debian's)"
        if REQUIRE_BROWSER:
            pytest.fail(f"SANDLOOP_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return binary


@dataclass(frozen=True)
class Timing:
    """How long a page took to open, as the browser measured it (milliseconds from the start of
    navigation), and as we saw it (``wall``: from asking to navigate to the load event)."""

    dom_ready: float
    load: float
    wall: float


class Tab:
    """One page of the browser, over its DevTools websocket."""

    def __init__(self, url: str) -> None:
        self._ws = websocket.create_connection(url, timeout=120, suppress_origin=True)
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        self.send("Page.enable")
        self.send("Runtime.enable")

    def close(self) -> None:
        self._ws.close()

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method; returns its result (raises on a protocol error)."""
        number = next(self._ids)
        self._ws.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._events.append(message)

    def _wait_event(self, method: str) -> dict[str, Any]:
        while True:
            for index, event in enumerate(self._events):
                if event.get("method") == method:
                    return self._events.pop(index)
            self._events.append(json.loads(self._ws.recv()))

    def open(self, url: str, *, width: int = 1280, height: int = 900) -> Timing:
        """Load ``url`` and wait for its load event."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self._events.clear()
        start = time.perf_counter()
        self.send("Page.navigate", url=url)
        self._wait_event("Page.loadEventFired")
        wall = (time.perf_counter() - start) * 1000
        nav = self.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return [n.domContentLoadedEventEnd, n.loadEventEnd]; })()"
        )
        return Timing(float(nav[0]), float(nav[1]), wall)

    def evaluate(self, expression: str) -> Any:
        """The value of a script run in the page (promises awaited)."""
        answer = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"the page's script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def console_errors(self) -> list[dict[str, Any]]:
        """Exceptions thrown and errors logged by the page so far."""
        found = [e for e in self._events if e.get("method") == "Runtime.exceptionThrown"]
        found += [
            e
            for e in self._events
            if e.get("method") == "Runtime.consoleAPICalled"
            and e.get("params", {}).get("type") == "error"
        ]
        return found

    def screenshot(self, path: Path, *, height: int | None = None) -> bytes:
        """Save a PNG of the page's top (``height`` CSS pixels, default the viewport)."""
        params: dict[str, Any] = {"format": "png"}
        if height is not None:
            params["clip"] = {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}
            params["captureBeyondViewport"] = True
        data = base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data


@contextmanager
def chromium(binary: str) -> Iterator[Tab]:
    """A headless Chromium with a fresh profile, and a tab in it; both closed afterwards.

    The browser runs in a process group of its own: its helper processes (renderers, the
    crash handler) go with it, before its profile is removed.
    """
    profile = tempfile.mkdtemp(prefix="sandloop-chromium-")
    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port = _port(Path(profile) / "DevToolsActivePort", process)
        tab = Tab(_page_socket(port))
        try:
            yield tab
        finally:
            tab.close()
    finally:
        _stop(process)
        shutil.rmtree(profile, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the browser and every process of its group (ours: it was started in it)."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the group is gone
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _port(file: Path, process: subprocess.Popen[bytes]) -> int:
    """The debugging port Chromium chose, from the file it writes in its profile."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode} before it listened")
        if file.is_file():
            lines = file.read_text().splitlines()
            if lines and lines[0].isdigit():
                return int(lines[0])
        time.sleep(0.05)
    raise RuntimeError("chromium did not open its debugging port within 60 s")


def _page_socket(port: int) -> str:
    """The websocket of the browser's first page."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as answer:
        targets = json.loads(answer.read())
    pages = [t for t in targets if t.get("type") == "page"]
    url: str = pages[0]["webSocketDebuggerUrl"]
    return url
