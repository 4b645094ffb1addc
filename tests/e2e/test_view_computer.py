"""``sandloop view`` of a real computer-use run: its screenshots decoded, the pointer marked.

The run drives the real sandloop/computer image (Xvfb, a window manager, chromium showing a
form) through ``ComputerTool``, with the scripted Responses server playing the model; its journal
is what ``sandloop view`` reads. The page is loaded in headless Chromium on the host: every
screenshot must decode at the desktop's size, and the marks of a click and a drag must sit where
the actions pointed, on the scaled-down image.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import docker.errors
import pytest
from browser_support import Tab, browser_or_skip, chromium

from sandloop.client import ResponsesClient
from sandloop.executors.computer import ComputerTool, DesktopComputer
from sandloop.loop import Agent, run
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.images import image_tag
from sandloop.testing import ScriptedResponsesServer, computer_call, message

pytestmark = pytest.mark.docker

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Form</title><style>
body { margin: 0; background: #fff; font: 20px "DejaVu Sans", sans-serif }
#name { position: absolute; left: 100px; top: 100px; width: 400px; height: 40px; font-size: 20px }
</style></head><body><input id="name" placeholder="Your name"></body></html>
"""
CLICK = {"type": "click", "button": "left", "x": 300, "y": 120}
DRAG = {"type": "drag", "path": [{"x": 600, "y": 400}, {"x": 800, "y": 500}, {"x": 900, "y": 650}]}


@pytest.fixture(scope="module")
def tab() -> Iterator[Tab]:
    with chromium(browser_or_skip()) as tab:
        yield tab


@pytest.fixture
def computer_image(docker_client: Any) -> str:
    tag = image_tag("computer")
    try:
        docker_client.images.get(tag)
    except docker.errors.ImageNotFound:
        reason = f"image {tag} is missing: run `sandloop images build computer`"
        if os.environ.get("SANDLOOP_REQUIRE_DOCKER") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return tag


async def _wait_for_window(sandbox: DockerSandbox, title: str) -> None:
    with anyio.fail_after(60):
        while True:
            found = await sandbox.exec(["xdotool", "search", "--onlyvisible", "--name", title])
            if found.ok and found.stdout.strip():
                return
            await anyio.sleep(0.1)


async def _computer_run(image: str, workspace: Path, journal: Path) -> str:
    """Look, click the field and type, drag, answer: the run's final answer."""
    await anyio.Path(workspace, "page.html").write_text(PAGE, encoding="utf-8")
    script = [
        [computer_call({"type": "screenshot"})],
        [computer_call([CLICK, {"type": "type", "text": "Ada"}])],
        [computer_call(DRAG)],
        [message("Typed the name and dragged across the page.", phase="final_answer")],
    ]
    async with DockerSandbox(image, workspace=workspace) as sandbox:
        desktop = DesktopComputer(sandbox, display_size=(1280, 800), environment="browser")
        url = "file:///workspace/page.html"
        await desktop.launch(["browser", "--kiosk", "--force-device-scale-factor=1", url])
        await _wait_for_window(sandbox, "Form")
        agent = Agent(
            model="computer-use-preview",
            instructions="You operate a web browser through screenshots.",
            tools=[ComputerTool(desktop, preview=True)],
        )
        async with (
            ScriptedResponsesServer(script) as server,
            ResponsesClient(base_url=server.base_url, api_key="sk-scripted") as client,
        ):
            result = await run(
                agent, "Type Ada into the form.", sandbox=sandbox, client=client, journal=journal
            )
    return result.output_text or ""


SHOTS = """[...document.querySelectorAll('.call')].map(call => {
  const img = call.querySelector('.shot img');
  const box = img && img.getBoundingClientRect();
  return { id: call.dataset.callId, width: img && img.naturalWidth,
    height: img && img.naturalHeight, shown: box && box.width,
    left: box && box.left, top: box && box.top,
    marks: [...call.querySelectorAll('.shot svg circle.mark')].map(c => {
      const r = c.getBoundingClientRect();
      return [r.left + r.width / 2, r.top + r.height / 2]; }),
    line: call.querySelectorAll('.shot svg polyline').length };
})"""


def test_a_computer_run_page_shows_the_screenshots_marked(
    computer_image: str, tab: Tab, tmp_path: Path
) -> None:
    workspace, journal = tmp_path / "workspace", tmp_path / "records" / "journal.jsonl"
    workspace.mkdir()
    journal.parent.mkdir()
    answer = anyio.run(_computer_run, computer_image, workspace, journal)
    assert answer == "Typed the name and dragged across the page."
    done = subprocess.run(
        [sys.executable, "-m", "sandloop.cli", "view", str(journal)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    page = Path(done.stdout.strip())
    tab.open(page.as_uri())
    # Lazy images load once they are near the screen: ask every one to decode now.
    tab.evaluate(
        "Promise.all([...document.images].map(i => { i.loading = 'eager'; return i.decode(); }))"
    )
    shots = tab.evaluate(SHOTS)
    assert len(shots) == 3
    assert all((s["width"], s["height"]) == (1280, 800) for s in shots)
    look, click, drag = shots
    assert look["marks"] == []  # a screenshot action points nowhere
    scale = click["shown"] / 1280
    assert 0.5 < scale <= 1  # readable: scaled to the page, not a thumbnail
    (x, y), *_ = click["marks"]
    assert abs(x - (click["left"] + 300 * scale)) < 2
    assert abs(y - (click["top"] + 120 * scale)) < 2
    assert drag["line"] == 1
    start, end = drag["marks"]
    assert abs(start[0] - (drag["left"] + 600 * scale)) < 2
    assert abs(end[1] - (drag["top"] + 650 * scale)) < 2
    texts = tab.evaluate("[...document.querySelectorAll('.call .actions')].map(a => a.textContent)")
    assert 'type text="Ada"' in texts[1]
    assert tab.evaluate("document.querySelector('.final').textContent") == answer
    # Each screenshot is in the page once, as a data URL.
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 3
    shots_dir = Path(os.environ.get("SANDLOOP_VIEW_SCREENSHOTS") or tmp_path)
    tab.evaluate("document.getElementById('turn-2').scrollIntoView()")
    tab.screenshot(shots_dir / "computer.png")
