"""ShellTool in a real DockerSandbox: ordered commands, timeouts among others, caps, encodings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandloop.executors.base import ToolContext
from sandloop.executors.shell import ShellTool
from sandloop.items import ShellCall, ShellExitOutcome, ShellTimeoutOutcome
from sandloop.sandboxes.docker import DockerSandbox

pytestmark = pytest.mark.docker


@pytest.fixture
async def sandbox(
    base_image: str, tmp_path: Path, runtime: str | None
) -> AsyncIterator[DockerSandbox]:
    async with DockerSandbox(base_image, workspace=tmp_path, runtime=runtime) as sb:
        yield sb


def _ctx(sandbox: DockerSandbox) -> ToolContext:
    return ToolContext(run_id="run_it", call_id="call_1", sandbox=sandbox)


def _call(commands: list[str], **action: Any) -> ShellCall:
    raw = {
        "type": "shell_call",
        "call_id": "call_1",
        "action": {"commands": commands, **action},
        "environment": {"type": "local"},
    }
    return ShellCall.model_validate(raw)


async def test_commands_run_in_the_workspace_in_order(
    sandbox: DockerSandbox, tmp_path: Path
) -> None:
    call = _call(["pwd", "echo hello > greeting.txt", "cat greeting.txt", "true"])
    out = await ShellTool().execute(call, _ctx(sandbox))
    assert [e.stdout for e in out.output[:3]] == ["/workspace\n", "", "hello\n"]
    assert all(e.outcome == ShellExitOutcome(exit_code=0) for e in out.output)
    # The bind-mounted workspace is the host directory: the file landed there.
    assert (tmp_path / "greeting.txt").read_text() == "hello\n"


async def test_a_timeout_among_several_commands(sandbox: DockerSandbox) -> None:
    call = _call(
        ["echo first", "echo slow; sleep 60; echo never", "echo third >&2; exit 4"],
        timeout_ms=1000,
    )
    out = await ShellTool().execute(call, _ctx(sandbox))
    first, slow, third = out.output
    assert (first.stdout, first.outcome) == ("first\n", ShellExitOutcome(exit_code=0))
    assert slow.stdout == "slow\n"
    assert slow.outcome == ShellTimeoutOutcome()
    assert (third.stderr, third.outcome) == ("third\n", ShellExitOutcome(exit_code=4))


async def test_a_timeout_kills_background_children_too(sandbox: DockerSandbox) -> None:
    call = _call(
        ["(sleep 60; echo leaked > leaked.txt) & sleep 60", "sleep 1.5; ls"], timeout_ms=500
    )
    out = await ShellTool().execute(call, _ctx(sandbox))
    assert out.output[0].outcome == ShellTimeoutOutcome()
    assert "leaked" not in out.output[1].stdout


async def test_output_over_max_output_length(sandbox: DockerSandbox) -> None:
    call = _call(
        ["seq 1 200000", "head -c 3000000 /dev/zero | tr '\\0' x; seq 1 3 >&2"],
        max_output_length=1000,
    )
    out = await ShellTool().execute(call, _ctx(sandbox))
    assert out.max_output_length == 1000
    numbers, flood = out.output
    assert len(numbers.stdout) + len(numbers.stderr) <= 1000
    assert numbers.stdout.startswith("1\n2\n3\n")
    assert numbers.stdout.endswith("199999\n200000\n")
    assert "bytes omitted" in numbers.stdout
    assert len(flood.stdout) + len(flood.stderr) <= 1000
    assert flood.stderr == "1\n2\n3\n"
    omitted = int(flood.stdout.split("[... ")[1].split(" bytes")[0])
    shown = len(flood.stdout) - len(f"\n[... {omitted} bytes omitted ...]\n")
    assert omitted + shown == 3_000_000


async def test_non_zero_exits_and_stderr(sandbox: DockerSandbox) -> None:
    call = _call(["ls /no/such/dir", "false", "kill -TERM $$"])
    out = await ShellTool().execute(call, _ctx(sandbox))
    missing, false, killed = out.output
    assert missing.outcome == ShellExitOutcome(exit_code=2)
    # gVisor's (2022) statx answers EINVAL where Linux says ENOENT: ls words it differently.
    assert "cannot access '/no/such/dir'" in missing.stderr
    assert false.outcome == ShellExitOutcome(exit_code=1)
    assert killed.outcome == ShellExitOutcome(exit_code=128 + 15)


async def test_unicode_and_binary_output(sandbox: DockerSandbox) -> None:
    call = _call(
        [
            "printf 'caf\\xc3\\xa9 \\xf0\\x9f\\x90\\x8d \\xe6\\x97\\xa5\\xe6\\x9c\\xac\\n'",
            "printf '\\x89PNG\\r\\n\\x1a\\n\\x00\\xff'",
        ]
    )
    out = await ShellTool().execute(call, _ctx(sandbox))
    assert out.output[0].stdout == "café 🐍 日本\n"
    assert out.output[1].stdout == "\ufffdPNG\r\n\x1a\n\x00\ufffd"
    # The output item serialises to JSON the API accepts.
    assert out.model_dump_json()
