"""LocalShellTool in a real DockerSandbox: argv, env, working directory, timeouts, the JSON."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandloop.errors import SandboxFileError, ToolError
from sandloop.executors.base import ToolContext
from sandloop.executors.local_shell import LocalShellTool
from sandloop.items import LocalShellCall
from sandloop.sandboxes.docker import DockerSandbox

pytestmark = pytest.mark.docker


@pytest.fixture
async def sandbox(base_image: str, tmp_path: Path) -> AsyncIterator[DockerSandbox]:
    async with DockerSandbox(base_image, workspace=tmp_path) as sb:
        yield sb


def _call(command: list[str], **action: Any) -> LocalShellCall:
    return LocalShellCall.model_validate(
        {
            "type": "local_shell_call",
            "id": "lsh_9",
            "call_id": "call_9",
            "status": "completed",
            "action": {"type": "exec", "command": command, "env": {}, **action},
        }
    )


async def _run(sandbox: DockerSandbox, call: LocalShellCall, **options: Any) -> Any:
    ctx = ToolContext(run_id="run_it", call_id="call_9", sandbox=sandbox)
    out = await LocalShellTool(**options).execute(call, ctx)
    assert out.id == "call_9"
    assert out.to_wire()["type"] == "local_shell_call_output"
    return json.loads(out.output)


async def test_argv_in_the_workspace(sandbox: DockerSandbox, tmp_path: Path) -> None:
    (tmp_path / "a file.txt").write_text("content\n")
    body = await _run(sandbox, _call(["cat", "a file.txt"]))
    assert body == {"stdout": "content\n", "stderr": "", "exit_code": 0, "timed_out": False}
    body = await _run(sandbox, _call(["pwd"]))
    assert body["stdout"] == "/workspace\n"


async def test_working_directory_and_env(sandbox: DockerSandbox, tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    call = _call(
        ["bash", "-c", 'pwd; echo "$MODE:$OTHER"; touch made-here'],
        env={"MODE": "test", "OTHER": "ü"},
        working_directory="src/pkg",
    )
    body = await _run(sandbox, call)
    assert body["stdout"] == "/workspace/src/pkg\ntest:ü\n"
    assert (tmp_path / "src" / "pkg" / "made-here").exists()
    absolute = await _run(sandbox, _call(["pwd"], working_directory="/tmp"))
    assert absolute["stdout"] == "/tmp\n"


async def test_the_hosts_environment_does_not_leak(sandbox: DockerSandbox) -> None:
    os.environ["SANDLOOP_SECRET_FOR_TEST"] = "leak"
    try:
        body = await _run(sandbox, _call(["env"]))
    finally:
        del os.environ["SANDLOOP_SECRET_FOR_TEST"]
    assert "SANDLOOP_SECRET_FOR_TEST" not in body["stdout"]


async def test_non_zero_exit_and_stderr(sandbox: DockerSandbox) -> None:
    body = await _run(sandbox, _call(["ls", "/no/such/dir"]))
    assert body["exit_code"] == 2
    assert "No such file or directory" in body["stderr"]
    assert body["stdout"] == ""
    missing = await _run(sandbox, _call(["definitely-not-a-program"]))
    assert missing["exit_code"] == 127


async def test_timeout_kills_and_reports(sandbox: DockerSandbox) -> None:
    call = _call(["bash", "-c", "echo started; sleep 60"], timeout_ms=800)
    body = await _run(sandbox, call)
    assert body == {"stdout": "started\n", "stderr": "", "exit_code": None, "timed_out": True}
    # The sandbox is still usable afterwards.
    assert (await _run(sandbox, _call(["true"])))["exit_code"] == 0


async def test_large_output_is_capped(sandbox: DockerSandbox) -> None:
    body = await _run(sandbox, _call(["seq", "1", "300000"]), max_output_length=500)
    assert len(body["stdout"]) + len(body["stderr"]) <= 500
    assert body["stdout"].startswith("1\n2\n")
    assert body["stdout"].endswith("299999\n300000\n")


async def test_unicode_and_binary(sandbox: DockerSandbox) -> None:
    body = await _run(sandbox, _call(["printf", "h\\303\\251llo \\342\\234\\223 \\377\\000end"]))
    assert body["stdout"] == "héllo ✓ \ufffd\x00end"


async def test_missing_working_directory_and_user(sandbox: DockerSandbox) -> None:
    with pytest.raises(SandboxFileError, match="nope"):
        await _run(sandbox, _call(["pwd"], working_directory="nope"))
    with pytest.raises(ToolError, match="root"):
        await _run(sandbox, _call(["id"], user="root"))
