"""DesktopComputer asks the sandbox for its desktop channel (``Sandbox.desktop()``), and falls
back to ``Sandbox.exec`` when there is none; the real display is in the integration tests."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from sandloop.errors import SandboxError
from sandloop.executors.computer import DesktopComputer
from sandloop.sandboxes import DesktopChannel, ExecResult, LocalSandbox

PNG = b"\x89PNG\r\n\x1a\nscreen"


class RecordingChannel:
    """A desktop channel answering like the desktop module, recording each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    async def request(self, do: str, args: Mapping[str, Any], *, timeout: float) -> dict[str, Any]:
        self.requests.append((do, dict(args)))
        if do == "xdotool":
            return {"exit_code": 0, "stderr": "x:5 y:6 screen:0 window:1"}
        if do == "screenshot":
            return {"png": base64.b64encode(PNG).decode("ascii")}
        return {}


class NoExecSandbox(LocalSandbox):
    """An unstarted LocalSandbox with a desktop channel of its own; ``exec`` must not run."""

    def __init__(self, root: Path, channel: DesktopChannel | None) -> None:
        super().__init__(root)
        self.channel = channel
        self.commands: list[list[str]] = []

    def desktop(self) -> DesktopChannel | None:
        return self.channel

    async def exec(self, command: str | Sequence[str], **options: Any) -> ExecResult:
        argv = [command] if isinstance(command, str) else list(command)
        self.commands.append(argv)
        if argv[:1] == ["xdotool"]:
            return ExecResult(exit_code=0, stdout=b"", stderr=b"x:7 y:8 screen:0 window:1")
        if argv[-1:] == ["screenshot"]:
            return ExecResult(exit_code=0, stdout=PNG, stderr=b"")
        return ExecResult(exit_code=0, stdout=b"", stderr=b"")


async def test_a_sandbox_with_a_desktop_channel_is_driven_through_it(tmp_path: Path) -> None:
    channel = RecordingChannel()
    sandbox = NoExecSandbox(tmp_path, channel)
    computer = DesktopComputer(sandbox, display_size=(640, 480), display=":5")
    assert await computer.screenshot() == PNG
    await computer.click(10, 20)
    assert sandbox.commands == []
    kinds = [do for do, _ in channel.requests]
    assert kinds == ["ensure", "xdotool", "screenshot", "xdotool"]
    ensure = channel.requests[0][1]
    assert (ensure["width"], ensure["height"], ensure["display"]) == (640, 480, ":5")


async def test_a_sandbox_without_one_is_driven_through_exec(tmp_path: Path) -> None:
    sandbox = NoExecSandbox(tmp_path, None)
    computer = DesktopComputer(sandbox)
    assert await computer.screenshot() == PNG
    assert [argv[-1] for argv in sandbox.commands] == ["start", "getmouselocation", "screenshot"]


async def test_a_runner_sandbox_offers_its_channel_once_started(tmp_path: Path) -> None:
    sandbox = LocalSandbox(tmp_path)
    with pytest.raises(SandboxError, match="not started"):
        sandbox.desktop()
    async with sandbox:
        channel = sandbox.desktop()
        assert channel is not None
        # No desktop module on this host: the channel says so, as a sandbox error.
        with pytest.raises(SandboxError, match="no desktop in this sandbox"):
            await channel.request("screenshot", {}, timeout=30)
