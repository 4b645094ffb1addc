"""Benchmark computer use in the sandloop/computer image: screenshot and click round trips.

Prints, for one container with chromium showing a busy page at 1280x800, the median (and p90)
round trip of (after the sandbox start and the first screenshot):

* a screenshot through the runner's ``desktop`` op (grabbed in-process, PNG encoded in-process);
* the same screenshot through ``Sandbox.exec`` (one python3 process per screenshot: the
  fallback for sandboxes without the op);
* a click through the runner (one xdotool process in the sandbox);
* a click through ``docker exec`` (what a naive integration pays per action);
* a whole one-click computer call through ``ComputerTool`` (click, settle, screenshot).

    python tools/bench_computer.py [--rounds 30]

Aim: screenshot <= 150 ms at 1280x800.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from sandloop.executors.base import ToolContext
from sandloop.executors.computer import ComputerTool, DesktopComputer
from sandloop.executors.computer._desktop import _ExecDesktop
from sandloop.items import ComputerCall
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.images import image_tag

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Bench</title><style>
body { margin: 0; font: 15px "DejaVu Sans", sans-serif; background: linear-gradient(#fff, #9cf) }
.b { display: inline-block; width: 150px; height: 60px; margin: 6px; color: #fff }
</style></head><body><h1>sandloop computer benchmark</h1><div id="c"></div><script>
const c = document.getElementById("c");
for (let i = 0; i < 60; i++) {
  const d = document.createElement("div"); d.className = "b";
  d.style.background = "hsl(" + (i * 37 % 360) + ",60%,45%)"; d.textContent = "block " + i;
  c.appendChild(d);
}
const p = document.createElement("p");
p.textContent = "The quick brown fox jumps over the lazy dog. ".repeat(40);
document.body.appendChild(p);
</script></body></html>
"""


async def timed(rounds: int, **actions: Callable[[], Awaitable[object]]) -> dict[str, list[float]]:
    """Time each action ``rounds`` times, interleaved, so load on the machine hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for action in actions.values():
        await action()  # warm up
    for _ in range(rounds):
        for name, action in actions.items():
            start = time.perf_counter()
            await action()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


async def settled(desktop: DesktopComputer, *, timeout: float = 30) -> bytes:
    """A screenshot once two in a row are the same (chromium finished painting)."""
    previous = b""
    with anyio.move_on_after(timeout):
        while True:
            png = await desktop.screenshot()
            if png == previous:
                return png
            previous = png
            await anyio.sleep(0.5)
    return previous


def report(name: str, times: list[float]) -> float:
    median = statistics.median(times)
    p90 = sorted(times)[int(len(times) * 0.9) - 1]
    print(f"  {name:<44} median {median:8.1f} ms   p90 {p90:8.1f} ms")
    return median


async def bench(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as workspace:
        await anyio.Path(workspace, "page.html").write_text(PAGE, encoding="utf-8")
        start = time.perf_counter()
        async with DockerSandbox(image_tag("computer"), workspace=workspace) as sandbox:
            started = (time.perf_counter() - start) * 1000
            print(f"sandbox start, display included (Xvfb + openbox): {started:.0f} ms")
            desktop = DesktopComputer(sandbox, display_size=(1280, 800), settle=0.0)
            start = time.perf_counter()
            await desktop.screenshot()
            print(f"first screenshot: {(time.perf_counter() - start) * 1000:.0f} ms")
            await desktop.launch(["browser", "--kiosk", "file:///workspace/page.html"])
            with anyio.fail_after(60):
                while True:  # the page's window (its title) is up
                    if (await sandbox.exec(["xdotool", "search", "--name", "Bench"])).ok:
                        break
                    await anyio.sleep(0.2)
            png = await settled(desktop)
            print(f"screen 1280x800, PNG of the page: {len(png) / 1024:.0f} KiB\n")
            exec_path = _ExecDesktop(sandbox, None)
            assert sandbox.container_id is not None
            argv = ["docker", "exec", "-e", "DISPLAY=:99", sandbox.container_id]
            argv += ["xdotool", "mousemove", "640", "700", "click", "1"]
            tool = ComputerTool(desktop)
            ctx = ToolContext(run_id="bench", call_id="call_1", sandbox=sandbox)
            call = ComputerCall.model_validate(
                {
                    "type": "computer_call",
                    "call_id": "call_1",
                    "action": {"type": "click", "x": 640, "y": 700},
                }
            )
            times = await timed(
                rounds,
                shot=desktop.screenshot,
                fallback=lambda: exec_path.request("screenshot", {}, timeout=30),
                click=lambda: desktop.click(640, 700),
                docker_exec=lambda: anyio.to_thread.run_sync(_run, argv),
                whole=lambda: tool.execute(call, ctx),
            )
            shot = report("screenshot, runner op", times["shot"])
            fallback = report("screenshot, exec of python3 (fallback)", times["fallback"])
            click = report("click, runner op + xdotool", times["click"])
            docker_exec = report("click, docker exec xdotool (CLI)", times["docker_exec"])
            whole = report("computer call: click + screenshot (no settle)", times["whole"])
    print()
    print(f"screenshot: runner op is {fallback / shot:.1f}x faster than the exec fallback")
    print(f"click: runner is {docker_exec / click:.1f}x faster than docker exec")
    print(f"aim screenshot <= 150 ms: {'met' if shot <= 150 else 'MISSED'} ({shot:.1f} ms)")
    print(f"one-click computer call end to end: {whole:.1f} ms (+ settle, default 100 ms)")


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    if not Path("/var/run/docker.sock").exists():
        print("note: no /var/run/docker.sock; DOCKER_HOST must point at an engine")
    anyio.run(bench, args.rounds)


if __name__ == "__main__":
    main()
