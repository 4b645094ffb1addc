"""ComputerTool over a recording Computer: definitions, action order, safety checks, errors."""

from __future__ import annotations

import base64
import gc
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from sandloop.errors import ApprovalDeniedError, ConfigError, ToolArgumentsError, ToolError
from sandloop.executors.base import ApprovalRequest, Tool, ToolContext
from sandloop.executors.computer import (
    Computer,
    ComputerTool,
    DesktopComputer,
    screenshot_data_url,
)
from sandloop.items import ComputerCall, ComputerCallOutput
from sandloop.sandboxes import LocalSandbox
from sandloop.testing import computer_call

PNG = b"\x89PNG\r\n\x1a\n" + b"fake"


class RecordingComputer:
    """A Computer that records every call and fails where told to."""

    def __init__(self, *, fail_on: str | None = None, image: bytes = PNG) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail_on = fail_on
        self.image = image

    @property
    def display_size(self) -> tuple[int, int]:
        return (1024, 768)

    @property
    def environment(self) -> str:
        return "browser"

    def _record(self, *call: Any) -> None:
        if call[0] == self.fail_on:
            raise ToolError(f"{call[0]} broke")
        self.calls.append(call)

    async def screenshot(self) -> bytes:
        self._record("screenshot")
        return self.image

    async def click(
        self, x: int, y: int, *, button: str = "left", keys: Sequence[str] = ()
    ) -> None:
        self._record("click", x, y, button, tuple(keys))

    async def double_click(self, x: int, y: int, *, keys: Sequence[str] = ()) -> None:
        self._record("double_click", x, y, tuple(keys))

    async def drag(self, path: Sequence[tuple[int, int]], *, keys: Sequence[str] = ()) -> None:
        self._record("drag", tuple(path), tuple(keys))

    async def keypress(self, keys: Sequence[str]) -> None:
        self._record("keypress", tuple(keys))

    async def move(self, x: int, y: int, *, keys: Sequence[str] = ()) -> None:
        self._record("move", x, y, tuple(keys))

    async def scroll(
        self, x: int, y: int, scroll_x: int, scroll_y: int, *, keys: Sequence[str] = ()
    ) -> None:
        self._record("scroll", x, y, scroll_x, scroll_y, tuple(keys))

    async def type(self, text: str) -> None:
        self._record("type", text)

    async def wait(self) -> None:
        self._record("wait")


def _call(actions: Any, **options: Any) -> ComputerCall:
    return ComputerCall.model_validate(computer_call(actions, call_id="call_1", **options))


def _ctx(approver: Any = None) -> ToolContext:
    return ToolContext(run_id="run_1", call_id="call_1", approver=approver)


ALL_ACTIONS = [
    {"type": "click", "x": 1, "y": 2, "button": "right", "keys": ["shift"]},
    {"type": "double_click", "x": 3, "y": 4},
    {"type": "drag", "path": [{"x": 1, "y": 1}, {"x": 9, "y": 9}], "keys": ["ctrl"]},
    {"type": "keypress", "keys": ["CTRL", "C"]},
    {"type": "move", "x": 5, "y": 6},
    {"type": "scroll", "x": 7, "y": 8, "scroll_x": -10, "scroll_y": 300},
    {"type": "type", "text": "héllo"},
    {"type": "wait"},
    {"type": "screenshot"},
]


def test_the_namespace_exports_what_it_lists() -> None:
    import sandloop.executors.computer as namespace

    assert isinstance(namespace.__all__, tuple)
    assert [name for name in namespace.__all__ if not hasattr(namespace, name)] == []


def test_it_is_a_tool_and_the_fake_is_a_computer() -> None:
    assert isinstance(ComputerTool(), Tool)
    assert isinstance(RecordingComputer(), Computer)
    assert ComputerTool().sequential  # one screen: computer calls never interleave


def test_definitions_ga_and_preview() -> None:
    assert ComputerTool().definition() == {"type": "computer"}
    assert ComputerTool(preview=True).definition() == {
        "type": "computer_use_preview",
        "display_width": 1280,
        "display_height": 800,
        "environment": "linux",
    }
    # A given computer decides the size and environment the model is told.
    tool = ComputerTool(RecordingComputer(), preview=True, display_size=(1, 1))
    assert tool.definition()["display_width"] == 1024
    assert tool.definition()["environment"] == "browser"


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="environment"):
        ComputerTool(environment="amiga")
    with pytest.raises(ConfigError, match="Computer protocol"):
        ComputerTool(object())  # type: ignore[arg-type]


async def test_batched_actions_run_in_order_then_one_screenshot() -> None:
    computer = RecordingComputer()
    out = await ComputerTool(computer).execute(_call(ALL_ACTIONS), _ctx())
    assert computer.calls == [
        ("click", 1, 2, "right", ("shift",)),
        ("double_click", 3, 4, ()),
        ("drag", ((1, 1), (9, 9)), ("ctrl",)),
        ("keypress", ("CTRL", "C")),
        ("move", 5, 6, ()),
        ("scroll", 7, 8, -10, 300, ()),
        ("type", "héllo"),
        ("wait",),
        ("screenshot",),
    ]
    assert isinstance(out, ComputerCallOutput)
    assert out.call_id == "call_1"
    assert out.output.image_url == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert out.acknowledged_safety_checks is None


async def test_a_single_action_runs_too() -> None:
    computer = RecordingComputer()
    await ComputerTool(computer).execute(_call({"type": "click", "x": 4, "y": 2}), _ctx())
    assert computer.calls == [("click", 4, 2, "left", ()), ("screenshot",)]


async def test_a_dict_call_is_accepted() -> None:
    computer = RecordingComputer()
    raw = computer_call({"type": "wait"}, call_id="call_9")
    out = await ComputerTool(computer).execute(raw, _ctx())
    assert out.call_id == "call_9"


async def test_a_failing_action_names_itself_and_stops_the_rest() -> None:
    computer = RecordingComputer(fail_on="keypress")
    with pytest.raises(ToolError, match=r"action 4 of 9 \(keypress\): keypress broke"):
        await ComputerTool(computer).execute(_call(ALL_ACTIONS), _ctx())
    assert [c[0] for c in computer.calls] == ["click", "double_click", "drag"]


async def test_unknown_or_missing_actions_are_argument_errors() -> None:
    computer = RecordingComputer()
    with pytest.raises(ToolArgumentsError, match="unsupported computer action 'teleport'"):
        await ComputerTool(computer).execute(_call([{"type": "teleport", "x": 1}]), _ctx())
    bare = ComputerCall(call_id="call_1")
    with pytest.raises(ToolArgumentsError, match="neither 'action' nor 'actions'"):
        await ComputerTool(computer).execute(bare, _ctx())
    assert computer.calls == []


async def test_no_sandbox_and_no_computer_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sandloop/computer image"):
        await ComputerTool().execute(_call({"type": "wait"}), _ctx())


CHECKS = [
    {"id": "sc_1", "code": "malicious_instructions", "message": "odd page"},
    {"id": "sc_2", "code": "sensitive_domain", "message": "a bank"},
]


async def test_approved_safety_checks_are_asked_one_by_one_and_echoed() -> None:
    asked: list[ApprovalRequest] = []

    async def approver(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    computer = RecordingComputer()
    call = _call({"type": "click", "x": 1, "y": 1}, pending_safety_checks=CHECKS)
    out = await ComputerTool(computer).execute(call, _ctx(approver))
    assert [c.model_dump(exclude_none=True) for c in out.acknowledged_safety_checks or []] == CHECKS
    assert [r.kind for r in asked] == ["safety_check", "safety_check"]
    assert "sensitive_domain" in asked[1].detail
    assert "a bank" in asked[1].detail
    assert asked[0].arguments == "click"
    assert asked[0].call is call


@pytest.mark.parametrize("answer", ["no", "raise", "no callback"])
async def test_a_refused_check_stops_the_call_before_any_action(answer: str) -> None:
    async def approver(request: ApprovalRequest) -> bool:
        if answer == "raise":
            raise ApprovalDeniedError("not on my watch")
        return request.detail.find("sensitive_domain") < 0  # the second check is refused

    computer = RecordingComputer()
    call = _call({"type": "click", "x": 1, "y": 1}, pending_safety_checks=CHECKS)
    ctx = _ctx(None if answer == "no callback" else approver)
    with pytest.raises(ApprovalDeniedError) as caught:
        await ComputerTool(computer).execute(call, ctx)
    assert computer.calls == []
    message = str(caught.value)
    if answer == "raise":
        assert message == "not on my watch"
    elif answer == "no":
        assert "sensitive_domain" in message
        assert "the user refused it" in message
    else:
        assert "malicious_instructions" in message
        assert "no approval callback" in message


def test_screenshot_data_urls_know_png_and_jpeg() -> None:
    assert screenshot_data_url(PNG).startswith("data:image/png;base64,")
    assert screenshot_data_url(b"\xff\xd8\xff\xe0rest").startswith("data:image/jpeg;base64,")
    with pytest.raises(ToolError, match="neither PNG nor JPEG"):
        screenshot_data_url(b"GIF89a")


def test_the_default_computer_is_one_desktop_per_sandbox(tmp_path: Path) -> None:
    tool = ComputerTool(display_size=(800, 600), environment="ubuntu")
    first, second = LocalSandbox(tmp_path), LocalSandbox(tmp_path)
    desktop = tool.computer_for(ToolContext(run_id="r", call_id="c", sandbox=first))
    assert isinstance(desktop, DesktopComputer)
    assert desktop.sandbox is first
    assert desktop.display_size == (800, 600)
    assert desktop.environment == "ubuntu"
    assert tool.computer_for(ToolContext(run_id="r", call_id="d", sandbox=first)) is desktop
    other = tool.computer_for(ToolContext(run_id="r", call_id="c", sandbox=second))
    assert other is not desktop


def test_one_tool_over_many_runs_does_not_keep_every_sandbox(tmp_path: Path) -> None:
    # A long-lived tool serves a run after run, each with its own sandbox: the desktops it
    # made for finished ones must not pile up (each holds its sandbox).
    tool = ComputerTool()
    first = LocalSandbox(tmp_path)
    tool.computer_for(ToolContext(run_id="r", call_id="c", sandbox=first))
    gone = weakref.ref(first)
    del first
    for n in range(200):
        ctx = ToolContext(run_id=f"r{n}", call_id="c", sandbox=LocalSandbox(tmp_path))
        tool.computer_for(ctx)
    gc.collect()
    assert gone() is None


def test_desktop_sizes_out_of_range_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="out of range"):
        DesktopComputer(LocalSandbox(tmp_path), display_size=(10, 10))
