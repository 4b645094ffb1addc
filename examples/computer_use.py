"""Computer use: an agent fills in a web form in the sandbox's browser.

The sandbox runs the sandloop/computer image: a virtual display, a window manager and chromium.
The model sees screenshots and answers with clicks, typing and key presses, which ComputerTool
runs on the display. Here the model is played by sandloop's scripted Responses server, so the
example needs no API key; point ``ResponsesClient`` at the real API (and drop the script) to let
``computer-use-preview`` drive instead.

    sandloop images build computer
    python examples/computer_use.py [OUTPUT_DIR]    # writes the last screenshot there
"""

from __future__ import annotations

import base64
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio

from sandloop.client import ResponsesClient
from sandloop.executors.computer import ComputerTool, DesktopComputer
from sandloop.loop import Agent, run
from sandloop.sandboxes import Sandbox
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.images import image_tag
from sandloop.testing import RecordedRequest, ScriptedResponsesServer, computer_call, message

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Greeter</title><style>
body { margin: 0; background: #ffffff; font: 20px "DejaVu Sans", sans-serif }
#name { position: absolute; left: 100px; top: 100px; width: 400px; height: 40px; font-size: 20px }
#go { position: absolute; left: 100px; top: 160px; width: 200px; height: 50px; font-size: 20px }
#out { position: absolute; left: 100px; top: 240px }
</style></head><body>
<input id="name" placeholder="Your name"><button id="go">Greet</button><div id="out"></div>
<script>
const field = document.getElementById("name");
function greet() {
  document.body.style.background = "#00c000";
  document.getElementById("out").textContent = "Hello, " + field.value + "!";
}
document.getElementById("go").onclick = greet;
field.addEventListener("keydown", e => { if (e.key === "Enter") greet(); });
</script></body></html>
"""
NAME = "Ada Lovelace ✓"


def last_screenshot(request: RecordedRequest) -> bytes:
    """The PNG in the newest computer_call_output the model was sent."""
    outputs = [i for i in request.body["input"] if i.get("type") == "computer_call_output"]
    url = outputs[-1]["output"]["image_url"]
    return base64.b64decode(url.split(",", 1)[1])


def script(seen: list[bytes]) -> list[Any]:
    """The scripted model: look, fill in the form, look again, answer."""

    def fill_in(request: RecordedRequest) -> list[dict[str, Any]]:
        seen.append(last_screenshot(request))
        actions: list[dict[str, Any]] = [
            {"type": "click", "x": 300, "y": 120},  # the name field
            {"type": "type", "text": NAME},
            {"type": "keypress", "keys": ["ENTER"]},
        ]
        return [computer_call(actions)]

    def answer(request: RecordedRequest) -> list[dict[str, Any]]:
        seen.append(last_screenshot(request))
        return [message(f"The page now greets {NAME}.", phase="final_answer")]

    return [[computer_call({"type": "screenshot"})], fill_in, answer]


async def wait_for_window(sandbox: Sandbox, title: str, *, timeout: float = 60) -> None:
    """Wait until a visible window with ``title`` is on the display."""
    with anyio.fail_after(timeout):
        while True:
            found = await sandbox.exec(["xdotool", "search", "--onlyvisible", "--name", title])
            if found.ok and found.stdout.strip():
                return
            await anyio.sleep(0.1)


async def main(out_dir: Path) -> str:
    """Run the agent; return its answer and write the last screenshot to ``out_dir``."""
    with tempfile.TemporaryDirectory() as workspace:
        await anyio.Path(workspace, "page.html").write_text(PAGE, encoding="utf-8")
        async with DockerSandbox(image_tag("computer"), workspace=workspace) as sandbox:
            desktop = DesktopComputer(sandbox, display_size=(1280, 800), environment="browser")
            page = "file:///workspace/page.html"
            await desktop.launch(["browser", "--kiosk", "--force-device-scale-factor=1", page])
            await wait_for_window(sandbox, "Greeter")
            agent = Agent(
                model="computer-use-preview",
                instructions="You operate a web browser through screenshots.",
                tools=[ComputerTool(desktop, preview=True)],
            )
            seen: list[bytes] = []
            async with (
                ScriptedResponsesServer(script(seen)) as server,
                ResponsesClient(base_url=server.base_url, api_key="sk-scripted") as client,
            ):
                result = await run(agent, f"Greet {NAME}.", sandbox=sandbox, client=client)
    await anyio.Path(out_dir).mkdir(parents=True, exist_ok=True)
    await anyio.Path(out_dir, "computer_use_last.png").write_bytes(seen[-1])
    return result.output_text or ""


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    print(anyio.run(main, target))
    print(f"last screenshot: {target / 'computer_use_last.png'}")
