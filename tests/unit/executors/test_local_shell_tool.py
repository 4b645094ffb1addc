"""LocalShellTool over a LocalSandbox: argv, env, working directory, timeouts, the JSON output."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandloop.errors import ConfigError, SandboxFileError, ToolError
from sandloop.executors.base import Tool, ToolContext
from sandloop.executors.local_shell import LocalShellTool
from sandloop.items import LocalShellCall
from sandloop.sandboxes import LocalSandbox


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[LocalSandbox]:
    async with LocalSandbox(tmp_path) as sb:
        yield sb


def _ctx(sandbox: LocalSandbox | None) -> ToolContext:
    return ToolContext(run_id="run_test", call_id="call_ls", sandbox=sandbox)


def _call(command: list[str], **action: Any) -> LocalShellCall:
    return LocalShellCall.model_validate(
        {
            "type": "local_shell_call",
            "id": "lsh_1",
            "call_id": "call_ls",
            "status": "completed",
            "action": {"type": "exec", "command": command, **action},
        }
    )


async def _run(tool: LocalShellTool, call: LocalShellCall, sandbox: LocalSandbox) -> Any:
    out = await tool.execute(call, _ctx(sandbox))
    assert out.id == "call_ls"  # spec §3.5: the output's id is the call's call_id
    return json.loads(out.output)


def test_definition_and_protocol() -> None:
    tool = LocalShellTool()
    assert isinstance(tool, Tool)
    assert tool.call_type == "local_shell_call"
    assert tool.definition() == {"type": "local_shell"}


async def test_argv_runs_without_a_shell(sandbox: LocalSandbox) -> None:
    body = await _run(LocalShellTool(), _call(["printf", "%s|", "a b", "$HOME"]), sandbox)
    assert body == {"stdout": "a b|$HOME|", "stderr": "", "exit_code": 0, "timed_out": False}


async def test_output_item_wire_form(sandbox: LocalSandbox) -> None:
    out = await LocalShellTool().execute(_call(["true"]), _ctx(sandbox))
    wire = out.to_wire()
    assert wire["type"] == "local_shell_call_output"
    assert wire["id"] == "call_ls"
    assert "call_id" not in wire
    assert isinstance(wire["output"], str)


async def test_exit_code_and_stderr(sandbox: LocalSandbox) -> None:
    body = await _run(LocalShellTool(), _call(["bash", "-c", "echo bad >&2; exit 3"]), sandbox)
    assert (body["stderr"], body["exit_code"], body["timed_out"]) == ("bad\n", 3, False)


async def test_env_and_working_directory(sandbox: LocalSandbox, tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    call = _call(
        ["bash", "-c", 'echo "$GREETING"; pwd'], env={"GREETING": "hi"}, working_directory="pkg"
    )
    body = await _run(LocalShellTool(), call, sandbox)
    assert body["stdout"] == f"hi\n{tmp_path / 'pkg'}\n"


async def test_timeout_reports_no_exit_code(sandbox: LocalSandbox) -> None:
    call = _call(["bash", "-c", "echo started; sleep 30"], timeout_ms=300)
    body = await _run(LocalShellTool(), call, sandbox)
    assert body == {"stdout": "started\n", "stderr": "", "exit_code": None, "timed_out": True}


async def test_default_timeout(sandbox: LocalSandbox) -> None:
    body = await _run(LocalShellTool(default_timeout=0.3), _call(["sleep", "30"]), sandbox)
    assert body["timed_out"] is True


async def test_output_is_capped(sandbox: LocalSandbox) -> None:
    body = await _run(LocalShellTool(max_output_length=200), _call(["seq", "1", "9999"]), sandbox)
    assert len(body["stdout"]) <= 200
    assert body["stdout"].startswith("1\n2\n")
    assert body["stdout"].endswith("9998\n9999\n")
    assert "bytes omitted" in body["stdout"]


async def test_missing_program_is_exit_127(sandbox: LocalSandbox) -> None:
    body = await _run(LocalShellTool(), _call(["no-such-program-xyz"]), sandbox)
    assert body["exit_code"] == 127
    assert "no-such-program-xyz" in body["stderr"]


async def test_missing_working_directory_fails_the_call(sandbox: LocalSandbox) -> None:
    with pytest.raises(SandboxFileError, match="nope"):
        await LocalShellTool().execute(_call(["pwd"], working_directory="nope"), _ctx(sandbox))


async def test_user_is_refused_unless_allowed(sandbox: LocalSandbox, tmp_path: Path) -> None:
    call = _call(["touch", "made"], user="root")
    with pytest.raises(ToolError, match="root"):
        await LocalShellTool().execute(call, _ctx(sandbox))
    assert not (tmp_path / "made").exists()


async def test_empty_argv_and_no_sandbox(sandbox: LocalSandbox) -> None:
    with pytest.raises(ToolError, match="empty"):
        await LocalShellTool().execute(_call([]), _ctx(sandbox))
    with pytest.raises(ConfigError, match="sandbox"):
        await LocalShellTool().execute(_call(["true"]), _ctx(None))
