"""Computer use in the real sandloop/computer image: a Tk app records what the actions do to it.

The app (below) runs on the sandbox's virtual display and appends every event it sees to
``events.jsonl`` in the workspace; ``ready.json`` gives its widgets' screen geometry once the
window manager placed it. A scripted model (``ScriptedResponsesServer`` over a real socket)
drives it through the real loop and ``ComputerTool``; the app's record and the screenshots the
model receives prove where each action landed.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import docker.errors
import pytest

from sandloop.client import ResponsesClient
from sandloop.errors import SandboxError, ToolArgumentsError, ToolError
from sandloop.executors.base import ApprovalRequest, ToolContext
from sandloop.executors.computer import ComputerTool, DesktopComputer
from sandloop.items import ComputerCall
from sandloop.loop import Agent, run
from sandloop.sandboxes import DesktopChannel
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.images import image_tag
from sandloop.testing import RecordedRequest, ScriptedResponsesServer, computer_call, message

pytestmark = pytest.mark.docker

IMAGE = os.environ.get("SANDLOOP_COMPUTER_IMAGE", image_tag("computer"))
TEXT = "Grüße, Ωμέγα – café ✓ ñ €"

APP = r"""
import json, os, tkinter as tk

OUT = open("events.jsonl", "a", buffering=1, encoding="utf-8")


def log(**event):
    OUT.write(json.dumps(event, ensure_ascii=False) + "\n")


root = tk.Tk()
root.title("sandloop test app")
root.geometry("700x500+40+40")
root.configure(background="#ffffff")
status = tk.Frame(root, width=120, height=80, background="#ff0000")
status.place(x=10, y=10)


def pressed():
    status.configure(background="#00ff00")
    log(event="button")


button = tk.Button(root, text="Press me", command=pressed)
button.place(x=150, y=30, width=120, height=40)
entry = tk.Entry(root, font=("DejaVu Sans", 14))
entry.place(x=300, y=30, width=380, height=40)
entry.bind("<Return>", lambda e: log(event="enter", text=entry.get()))
canvas = tk.Canvas(root, width=400, height=300, background="#ffffff", highlightthickness=0)
canvas.place(x=10, y=100)
rect = canvas.create_rectangle(20, 20, 80, 80, fill="#0000ff", outline="")
drag = {}


def b1_down(e):
    drag.update(at=(e.x, e.y), moves=0)


def b1_motion(e):
    x, y = drag["at"]
    canvas.move(rect, e.x - x, e.y - y)
    drag.update(at=(e.x, e.y), moves=drag["moves"] + 1)


def b1_up(e):
    log(event="drag", x=e.x, y=e.y, rect=canvas.coords(rect), moves=drag.get("moves", 0))


canvas.bind("<ButtonPress-1>", b1_down)
canvas.bind("<B1-Motion>", b1_motion)
canvas.bind("<ButtonRelease-1>", b1_up)
canvas.bind("<Motion>", lambda e: log(event="motion", x=e.x, y=e.y, state=e.state))
root.bind_all(
    "<ButtonPress>",
    lambda e: log(event="press", num=e.num, state=e.state, x=e.x_root, y=e.y_root),
    add="+",
)
root.bind_all(
    "<KeyPress>", lambda e: log(event="key", keysym=e.keysym, state=e.state), add="+"
)
double = tk.Label(root, text="double", background="#dddddd")
double.place(x=450, y=150, width=200, height=60)
double.bind("<Double-Button-1>", lambda e: log(event="double"))
last = {"geo": None, "stable": 0}


def ready():
    root.update_idletasks()
    widgets = {"status": status, "button": button, "entry": entry, "canvas": canvas,
               "double": double}
    geo = {name: [w.winfo_rootx(), w.winfo_rooty(), w.winfo_width(), w.winfo_height()]
           for name, w in widgets.items()}
    if geo != last["geo"] or not root.winfo_viewable():
        last.update(geo=geo, stable=0)
    else:
        last["stable"] += 1
    if last["stable"] < 3:  # placed by the window manager and not moving any more
        root.after(100, ready)
        return
    root.focus_force()
    with open("ready.tmp", "w") as fh:
        json.dump(geo, fh)
    os.rename("ready.tmp", "ready.json")


root.after(100, ready)
root.mainloop()
"""


# --- the app and its record ----------------------------------------------------------------


@dataclass
class Box:
    """A widget's place on the screen."""

    x: int
    y: int
    width: int
    height: int

    def at(self, dx: int, dy: int) -> tuple[int, int]:
        return self.x + dx, self.y + dy

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2


@dataclass
class Desktop:
    sandbox: DockerSandbox
    computer: DesktopComputer
    boxes: dict[str, Box]
    workspace: Path

    def events(self) -> list[dict[str, Any]]:
        path = self.workspace / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]

    async def wait_for(
        self, what: Callable[[list[dict[str, Any]]], bool], timeout: float = 20
    ) -> list[dict[str, Any]]:
        """The app's events once ``what`` holds for them (the app may lag behind the input)."""
        await until(lambda: what(self.events()), timeout)
        found = self.events()
        assert what(found), f"the app never recorded the expected events; it saw: {found}"
        return found


async def until(check: Callable[[], bool], timeout: float) -> None:
    """Poll ``check`` every 50 ms until it holds or ``timeout`` seconds passed."""
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await anyio.sleep(0.05)


def kinds(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


@pytest.fixture(scope="module")
def computer_image(docker_client: Any) -> str:
    try:
        docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        reason = f"image {IMAGE} is missing: build it with `sandloop images build computer`"
        if os.environ.get("SANDLOOP_REQUIRE_DOCKER") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return IMAGE


@pytest.fixture
async def desktop(computer_image: str, tmp_path: Path) -> AsyncIterator[Desktop]:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    async with DockerSandbox(computer_image, workspace=tmp_path) as sandbox:
        assert sandbox.capabilities.desktop
        computer = DesktopComputer(sandbox)
        await computer.launch(["python3", "app.py"])
        await until((tmp_path / "ready.json").exists, 60)
        assert (tmp_path / "ready.json").exists(), "the test app did not come up"
        raw = json.loads((tmp_path / "ready.json").read_text())
        boxes = {name: Box(*geo) for name, geo in raw.items()}
        yield Desktop(sandbox, computer, boxes, tmp_path)


# --- screenshots ---------------------------------------------------------------------------


@dataclass
class Image:
    width: int
    height: int
    rows: list[bytes]

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        row = self.rows[y]
        r, g, b = row[x * 3 : x * 3 + 3]
        return r, g, b


def decode_png(data: bytes) -> Image:
    """An 8-bit RGB PNG (what the desktop sends), any filter type."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert (depth, color) == (8, 2), "expected 8-bit RGB"
    raw, stride, rows = zlib.decompress(idat), width * 3, []
    prev = bytes(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            b, c = prev[i], prev[i - 3] if i >= 3 else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = rows[-1]
    return Image(width, height, rows)


def screenshot_of(request: RecordedRequest, call_id: str) -> tuple[dict[str, Any], Image]:
    """The computer_call_output for ``call_id`` in the request and its decoded screenshot."""
    outputs = [
        item
        for item in request.body["input"]
        if item.get("type") == "computer_call_output" and item.get("call_id") == call_id
    ]
    assert len(outputs) == 1, request.body["input"]
    url = outputs[0]["output"]["image_url"]
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return outputs[0], decode_png(base64.b64decode(url[len(prefix) :]))


def near(color: tuple[int, int, int], want: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 16 for a, b in zip(color, want, strict=True))


async def drive(
    desktop: Desktop,
    turns: list[Any],
    *,
    tool: ComputerTool | None = None,
    approve: Callable[[ApprovalRequest], bool] | None = None,
) -> Any:
    agent = Agent(model="computer-use-preview", tools=[tool or ComputerTool()])
    async with (
        ScriptedResponsesServer(turns) as server,
        ResponsesClient(base_url=server.base_url, api_key="sk-test", max_retries=0) as client,
    ):
        result = await run(
            agent, "Use the app.", sandbox=desktop.sandbox, client=client, approve=approve
        )
    return result


# --- the tests -----------------------------------------------------------------------------


async def test_batched_actions_land_where_the_model_aimed(desktop: Desktop) -> None:
    boxes = desktop.boxes
    canvas = boxes["canvas"]
    start, end = canvas.at(50, 50), canvas.at(250, 150)
    actions: list[dict[str, Any]] = [
        {"type": "click", "x": boxes["button"].center[0], "y": boxes["button"].center[1]},
        {"type": "click", "x": boxes["entry"].at(10, 20)[0], "y": boxes["entry"].at(10, 20)[1]},
        {"type": "type", "text": TEXT},
        {"type": "keypress", "keys": ["ENTER"]},
        {"type": "keypress", "keys": ["CTRL", "SHIFT", "k"]},
        {"type": "drag", "path": [{"x": start[0], "y": start[1]}, {"x": end[0], "y": end[1]}]},
        {
            "type": "scroll",
            "x": canvas.at(300, 250)[0],
            "y": canvas.at(300, 250)[1],
            "scroll_x": 0,
            "scroll_y": 300,
        },
        {
            "type": "scroll",
            "x": canvas.at(300, 250)[0],
            "y": canvas.at(300, 250)[1],
            "scroll_x": -200,
            "scroll_y": 0,
        },
        {
            "type": "click",
            "x": canvas.at(350, 20)[0],
            "y": canvas.at(350, 20)[1],
            "button": "right",
            "keys": ["shift"],
        },
        *(
            {"type": "click", "x": canvas.at(360, 30)[0], "y": canvas.at(360, 30)[1], "button": b}
            for b in ("wheel", "back", "forward")
        ),
        {"type": "double_click", "x": boxes["double"].center[0], "y": boxes["double"].center[1]},
        {"type": "move", "x": canvas.at(390, 290)[0], "y": canvas.at(390, 290)[1]},
        {"type": "wait"},
        {"type": "screenshot"},
    ]

    def check(request: RecordedRequest) -> list[dict[str, Any]]:
        output, image = screenshot_of(request, "call_batch")
        assert (image.width, image.height) == (1280, 800)
        assert output.get("acknowledged_safety_checks") in (None, [])
        # The button turned the status square green; the blue square moved with the drag.
        assert near(image.pixel(*boxes["status"].center), (0, 255, 0))
        moved = canvas.at(250, 150)
        assert near(image.pixel(*moved), (0, 0, 255))
        assert near(image.pixel(*canvas.at(50, 50)), (255, 255, 255))
        return [message("Done.", phase="final_answer")]

    result = await drive(desktop, [[computer_call(actions, call_id="call_batch")], check])
    assert result.final_output == "Done."

    def complete(events: list[dict[str, Any]]) -> bool:
        return bool(kinds(events, "double")) and any(
            e["event"] == "motion" and (e["x"], e["y"]) == (390, 290) for e in events
        )

    events = await desktop.wait_for(complete)
    assert kinds(events, "button") == [{"event": "button"}]
    assert kinds(events, "enter") == [{"event": "enter", "text": TEXT}]
    combo = [e for e in events if e["event"] == "key" and e["keysym"] == "K"]
    assert len(combo) == 1
    assert combo[0]["state"] & 0b101 == 0b101
    (dragged,) = kinds(events, "drag")
    assert (dragged["x"], dragged["y"]) == (250, 150)
    assert dragged["rect"] == [220.0, 120.0, 280.0, 180.0]
    assert dragged["moves"] >= 5  # a real drag: motion events along the path
    presses = [(e["num"], e["state"] & 1, e["x"], e["y"]) for e in kinds(events, "press")]
    wheel_at = canvas.at(300, 250)
    # Vertical: 300 px → 3 notches down (button 5). Horizontal: Tk reports buttons 6/7 as
    # shift + 4/5; -200 px → 2 notches left.
    assert presses.count((5, 0, *wheel_at)) == 3
    assert presses.count((4, 1, *wheel_at)) == 2
    assert (3, 1, *canvas.at(350, 20)) in presses  # right button with shift held
    for number in (2, 8, 9):  # wheel (middle), back, forward
        assert (number, 0, *canvas.at(360, 30)) in presses
    assert len(kinds(events, "double")) == 1


async def test_preview_tool_runs_single_actions_turn_by_turn(desktop: Desktop) -> None:
    boxes = desktop.boxes
    tool = ComputerTool(preview=True, display_size=(1280, 800), environment="linux")
    text = "naïve ☃ Ärger"

    def click_button(request: RecordedRequest) -> list[dict[str, Any]]:
        assert request.body["tools"] == [
            {
                "type": "computer_use_preview",
                "display_width": 1280,
                "display_height": 800,
                "environment": "linux",
            }
        ]
        x, y = boxes["button"].center
        return [computer_call({"type": "click", "x": x, "y": y}, call_id="call_1")]

    def focus_entry(request: RecordedRequest) -> list[dict[str, Any]]:
        _, image = screenshot_of(request, "call_1")
        assert near(image.pixel(*boxes["status"].center), (0, 255, 0))
        x, y = boxes["entry"].at(10, 20)
        return [computer_call({"type": "click", "x": x, "y": y}, call_id="call_2")]

    def type_text(request: RecordedRequest) -> list[dict[str, Any]]:
        screenshot_of(request, "call_2")
        return [computer_call({"type": "type", "text": text}, call_id="call_3")]

    def press_enter(request: RecordedRequest) -> list[dict[str, Any]]:
        screenshot_of(request, "call_3")
        return [computer_call({"type": "keypress", "keys": ["Return"]}, call_id="call_4")]

    def answer(request: RecordedRequest) -> list[dict[str, Any]]:
        screenshot_of(request, "call_4")
        return [message("Typed it.", phase="final_answer")]

    result = await drive(
        desktop, [click_button, focus_entry, type_text, press_enter, answer], tool=tool
    )
    assert result.final_output == "Typed it."
    events = await desktop.wait_for(lambda ev: bool(kinds(ev, "enter")))
    assert kinds(events, "button") == [{"event": "button"}]
    assert kinds(events, "enter") == [{"event": "enter", "text": text}]


CHECK = {"id": "cu_sc_1", "code": "malicious_instructions", "message": "The page asks for a key."}


async def test_approved_safety_checks_are_acknowledged(desktop: Desktop) -> None:
    asked: list[ApprovalRequest] = []

    def approve(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    x, y = desktop.boxes["button"].center
    call = computer_call(
        {"type": "click", "x": x, "y": y}, pending_safety_checks=[CHECK], call_id="call_sc"
    )

    def check(request: RecordedRequest) -> list[dict[str, Any]]:
        output, image = screenshot_of(request, "call_sc")
        assert output["acknowledged_safety_checks"] == [CHECK]
        assert near(image.pixel(*desktop.boxes["status"].center), (0, 255, 0))
        return [message("Clicked.", phase="final_answer")]

    result = await drive(desktop, [[call], check], approve=approve)
    assert result.final_output == "Clicked."
    assert [(r.kind, r.tool) for r in asked] == [("safety_check", "computer_call")]
    assert "malicious_instructions" in asked[0].detail
    assert "The page asks for a key." in asked[0].detail
    await desktop.wait_for(lambda ev: bool(kinds(ev, "button")))


async def test_refused_safety_check_stops_the_call(desktop: Desktop) -> None:
    x, y = desktop.boxes["button"].center
    call = computer_call(
        {"type": "click", "x": x, "y": y}, pending_safety_checks=[CHECK], call_id="call_sc"
    )

    def check(request: RecordedRequest) -> list[dict[str, Any]]:
        outputs = [i for i in request.body["input"] if i.get("call_id") == "call_sc"]
        assert len(outputs) == 1
        assert outputs[0]["status"] == "incomplete"
        assert not outputs[0].get("acknowledged_safety_checks")
        notes = json.dumps([i for i in request.body["input"] if i.get("role") == "developer"])
        assert "not acknowledged" in notes
        assert "malicious_instructions" in notes
        return [message("I will not click.", phase="final_answer")]

    result = await drive(desktop, [[call], check], approve=lambda request: False)
    assert result.final_output == "I will not click."
    await anyio.sleep(0.5)  # had the click happened, the app would have logged it by now
    assert not kinds(desktop.events(), "press")
    assert not kinds(desktop.events(), "button")


async def test_model_mistakes_become_tool_errors(desktop: Desktop) -> None:
    tool = ComputerTool()
    ctx = ToolContext(run_id="run_1", call_id="call_1", sandbox=desktop.sandbox)

    def call(*actions: dict[str, Any]) -> ComputerCall:
        return ComputerCall.model_validate(computer_call(list(actions), call_id="call_1"))

    with pytest.raises(ToolArgumentsError, match=r"action 2 of 2 \(click\).*outside the 1280x800"):
        await tool.execute(call({"type": "wait"}, {"type": "click", "x": 1280, "y": 5}), ctx)
    with pytest.raises(ToolError, match="No such key name 'NoSuchKey'"):
        await tool.execute(call({"type": "keypress", "keys": ["NoSuchKey"]}), ctx)
    with pytest.raises(ToolArgumentsError, match="unknown mouse button"):
        await tool.execute(call({"type": "click", "x": 5, "y": 5, "button": "fourth"}), ctx)
    # The desktop still works after the mistakes.
    out = await tool.execute(call({"type": "screenshot"}), ctx)
    assert out.output.image_url is not None
    assert out.output.image_url.startswith("data:image/png;base64,")


async def test_the_display_is_up_as_soon_as_the_sandbox_is(computer_image: str) -> None:
    for env, size in [
        (None, ["1280", "800"]),
        ({"SANDLOOP_DISPLAY_SIZE": "1024x768"}, ["1024", "768"]),
    ]:
        async with DockerSandbox(computer_image, env=env) as sandbox:
            # No DesktopComputer yet: the runner started the display before it said hello.
            done = await sandbox.exec(["xdotool", "getdisplaygeometry"])
            assert done.stdout_text().split() == size
            wm = await sandbox.exec(["pgrep", "-x", "openbox"])
            assert wm.ok


async def test_a_display_of_another_size_is_left_alone_unless_asked(computer_image: str) -> None:
    async with DockerSandbox(computer_image) as sandbox:
        small = DesktopComputer(sandbox, display_size=(1024, 768))
        with pytest.raises(
            SandboxError, match=r"display is 1280x800, but the computer is 1024x768"
        ):
            await small.screenshot()
        done = await sandbox.exec(["xdotool", "getdisplaygeometry"])
        assert done.stdout_text().split() == ["1280", "800"]
        # Asked to, it restarts the display at its size.
        resized = DesktopComputer(sandbox, display_size=(1024, 768), restart_display=True)
        image = decode_png(await resized.screenshot())
        assert (image.width, image.height) == (1024, 768)
        done = await sandbox.exec(["xdotool", "getdisplaygeometry"])
        assert done.stdout_text().split() == ["1024", "768"]


async def test_a_display_that_died_is_started_again_by_the_next_computer(
    computer_image: str,
) -> None:
    async with DockerSandbox(computer_image) as sandbox:
        await DesktopComputer(sandbox).screenshot()  # the runner is connected to the display
        killed = await sandbox.exec("kill -9 $(cat /tmp/sandloop-desktop/xvfb-99.pid)")
        assert killed.ok, killed.stderr_text()
        with anyio.fail_after(20):
            while (await sandbox.exec(["xdotool", "getdisplaygeometry"])).ok:  # noqa: ASYNC110
                await anyio.sleep(0.05)
        # A new computer on the same sandbox (the next run) finds the display gone and
        # starts it again, rather than trusting what the old connection remembers.
        image = decode_png(await DesktopComputer(sandbox).screenshot())
        assert (image.width, image.height) == (1280, 800)


async def test_an_action_at_the_pids_limit_fails_alone(computer_image: str) -> None:
    # xdotool (or the runner's thread for the action) cannot start while a command holds every
    # pid: that action fails (the model sees why), it does not read as a broken sandbox.
    bomb = (
        "g=/sys/fs/cgroup; [ -f $g/pids/pids.max ] && g=$g/pids; "
        "read m < $g/pids.max; while read c < $g/pids.current && [ $c -lt $m ]; "
        "do sleep 30 & done; echo > full; wait"
    )
    async with DockerSandbox(computer_image, pids=96) as sandbox:
        computer = DesktopComputer(sandbox)
        await computer.screenshot()
        async with anyio.create_task_group() as warm:  # two idle runner workers
            for _ in range(2):
                warm.start_soon(sandbox.exec, "sleep 0.3")
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: sandbox.exec(bomb, timeout=60))
            with anyio.fail_after(30):
                while (await sandbox.stat("full")) is None:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            with pytest.raises(ToolError, match=r"could not start xdotool|^[^:].*process limit"):
                await computer.click(10, 10)
            tg.cancel_scope.cancel()
        # The cancelled bomb's processes are killed, then reaped by the container's init: until
        # their pids are freed an action may still be refused; after that the desktop works.
        with anyio.fail_after(30):
            while True:
                try:
                    await computer.click(10, 10)
                    break
                except ToolError as exc:
                    if "could not start" not in str(exc) and "process limit" not in str(exc):
                        raise
                    await anyio.sleep(0.2)


class PlainSandbox(DockerSandbox):
    """A DockerSandbox that offers no desktop channel, as another Sandbox would."""

    def desktop(self) -> DesktopChannel | None:
        return None


async def test_sandboxes_without_the_runner_op_are_driven_through_exec(
    computer_image: str, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    async with PlainSandbox(computer_image, workspace=tmp_path) as sandbox:
        computer = DesktopComputer(sandbox)
        await computer.launch(["python3", "app.py"])
        await until((tmp_path / "ready.json").exists, 60)
        boxes = {k: Box(*v) for k, v in json.loads((tmp_path / "ready.json").read_text()).items()}
        await computer.click(*boxes["button"].center)
        image = decode_png(await computer.screenshot())
        assert near(image.pixel(*boxes["status"].center), (0, 255, 0))
        desktop = Desktop(sandbox, computer, boxes, tmp_path)
        await desktop.wait_for(lambda ev: bool(kinds(ev, "button")))
        with pytest.raises(SandboxError, match="display is 1280x800, but the computer is 800x600"):
            await DesktopComputer(sandbox, display_size=(800, 600)).screenshot()


async def test_a_sandbox_without_a_desktop_says_so(docker_client: Any, tmp_path: Path) -> None:
    from sandloop.sandboxes.docker import DEFAULT_IMAGE

    try:
        docker_client.images.get(DEFAULT_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"image {DEFAULT_IMAGE} is missing")
    async with DockerSandbox(DEFAULT_IMAGE) as sandbox:
        assert not sandbox.capabilities.desktop
        with pytest.raises(SandboxError, match="no desktop in this sandbox"):
            await DesktopComputer(sandbox).screenshot()
