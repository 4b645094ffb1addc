"""ShellTool over a LocalSandbox: commands in order, outcomes, timeouts, the cap and its echo."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop.errors import ConfigError, ToolError
from sandloop.executors.base import Tool, ToolContext
from sandloop.executors.shell import ShellTool
from sandloop.items import ShellCall, ShellExitOutcome, ShellTimeoutOutcome
from sandloop.sandboxes import LocalSandbox


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[LocalSandbox]:
    async with LocalSandbox(tmp_path) as sb:
        yield sb


def _ctx(sandbox: LocalSandbox | None) -> ToolContext:
    return ToolContext(run_id="run_test", call_id="call_1", sandbox=sandbox)


def _call(commands: list[str], **action: Any) -> ShellCall:
    raw = {"type": "shell_call", "call_id": "call_1", "action": {"commands": commands, **action}}
    return ShellCall.model_validate(raw)


def test_definition_and_protocol() -> None:
    tool = ShellTool()
    assert isinstance(tool, Tool)
    assert tool.call_type == "shell_call"
    assert tool.definition() == {"type": "shell"}
    local = ShellTool(environment={"type": "local"})
    assert local.definition() == {"type": "shell", "environment": {"type": "local"}}


def test_hosted_environment_is_refused_at_construction() -> None:
    with pytest.raises(ConfigError, match="hosted"):
        ShellTool(environment={"type": "container_auto"})


async def test_commands_run_in_order_one_entry_each(sandbox: LocalSandbox) -> None:
    call = _call(["echo one > f.txt", "cat f.txt; echo two >&2", "exit 7"])
    out = await ShellTool().execute(call, _ctx(sandbox))
    assert out.call_id == "call_1"
    assert [(e.stdout, e.stderr) for e in out.output] == [("", ""), ("one\n", "two\n"), ("", "")]
    assert [e.outcome for e in out.output] == [
        ShellExitOutcome(exit_code=0),
        ShellExitOutcome(exit_code=0),
        ShellExitOutcome(exit_code=7),
    ]
    wire = out.to_wire()
    assert wire["type"] == "shell_call_output"
    assert wire["output"][2]["outcome"] == {"type": "exit", "exit_code": 7}


async def test_commands_start_in_the_workspace_and_state_does_not_persist(
    sandbox: LocalSandbox, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    call = _call(["cd sub && pwd && export X=1", "pwd; echo X=${X:-unset}"])
    out = await ShellTool().execute(call, _ctx(sandbox))
    assert out.output[0].stdout == f"{tmp_path / 'sub'}\n"
    assert out.output[1].stdout == f"{tmp_path}\nX=unset\n"


async def test_a_timeout_does_not_stop_the_next_commands(sandbox: LocalSandbox) -> None:
    call = _call(["echo before; sleep 30", "echo after"], timeout_ms=300)
    out = await ShellTool().execute(call, _ctx(sandbox))
    assert out.output[0].outcome == ShellTimeoutOutcome()
    assert out.output[0].stdout == "before\n"
    assert out.output[1].outcome == ShellExitOutcome(exit_code=0)
    assert out.output[1].stdout == "after\n"
    assert out.to_wire()["output"][0]["outcome"] == {"type": "timeout"}


async def test_default_timeout_applies_when_the_model_gives_none(sandbox: LocalSandbox) -> None:
    out = await ShellTool(default_timeout=0.3).execute(_call(["sleep 30"]), _ctx(sandbox))
    assert out.output[0].outcome == ShellTimeoutOutcome()


async def test_max_timeout_caps_what_the_model_asks(sandbox: LocalSandbox) -> None:
    tool = ShellTool(default_timeout=0.2, max_timeout=0.3)
    out = await tool.execute(_call(["sleep 30"], timeout_ms=3_600_000), _ctx(sandbox))
    assert out.output[0].outcome == ShellTimeoutOutcome()


async def test_output_is_capped_and_max_output_length_echoed(sandbox: LocalSandbox) -> None:
    call = _call(["seq 1 5000", "seq 1 5000 >&2; echo done"], max_output_length=300)
    out = await ShellTool().execute(call, _ctx(sandbox))
    assert out.max_output_length == 300
    assert out.to_wire()["max_output_length"] == 300
    for entry in out.output:
        assert len(entry.stdout) + len(entry.stderr) <= 300
    first = out.output[0].stdout
    assert first.startswith("1\n2\n3\n")
    assert first.endswith("4999\n5000\n")
    assert "bytes omitted" in first
    assert out.output[1].stdout == "done\n"
    assert out.output[1].stderr.startswith("1\n2\n")


async def test_no_echo_when_the_model_gives_no_cap(sandbox: LocalSandbox) -> None:
    out = await ShellTool(max_output_length=100).execute(_call(["seq 1 1000"]), _ctx(sandbox))
    assert "max_output_length" not in out.to_wire()
    assert len(out.output[0].stdout) <= 100


async def test_unicode_and_binary_output(sandbox: LocalSandbox) -> None:
    call = _call(["printf 'h\\xc3\\xa9 \\xe2\\x9c\\x93\\n'", "printf 'a\\xff\\x00b'"])
    out = await ShellTool().execute(call, _ctx(sandbox))
    assert out.output[0].stdout == "hé ✓\n"
    assert out.output[1].stdout == "a\ufffd\x00b"


async def test_empty_command_and_empty_list(sandbox: LocalSandbox) -> None:
    out = await ShellTool().execute(_call(["  ", "echo x"]), _ctx(sandbox))
    assert out.output[0].outcome == ShellExitOutcome(exit_code=0)
    assert out.output[1].stdout == "x\n"
    assert (await ShellTool().execute(_call([]), _ctx(sandbox))).output == []


async def test_no_sandbox_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sandbox"):
        await ShellTool().execute(_call(["true"]), _ctx(None))


async def test_hosted_calls_are_not_executed(sandbox: LocalSandbox) -> None:
    raw = {
        "type": "shell_call",
        "call_id": "call_h",
        "action": {"commands": ["touch hosted"]},
        "environment": {"type": "container_reference", "container_id": "cntr_1"},
    }
    call = ShellCall.model_validate(raw)
    assert not call.runs_locally
    assert _call(["true"]).runs_locally
    with pytest.raises(ToolError, match="hosted"):
        await ShellTool().execute(call, _ctx(sandbox))
    assert not (Path(sandbox.workdir) / "hosted").exists()


async def test_cancelling_the_call_kills_the_running_command(
    sandbox: LocalSandbox, tmp_path: Path
) -> None:
    call = _call(["echo $$ > pid; sleep 30; touch finished", "touch second"])
    with anyio.move_on_after(1.0) as scope:
        await ShellTool().execute(call, _ctx(sandbox))
    assert scope.cancelled_caught
    pid = int((tmp_path / "pid").read_text())
    for _ in range(200):  # the kill is asynchronous: give it up to 10 s
        if not _alive(pid):
            break
        await anyio.sleep(0.05)
    assert not _alive(pid)
    assert not (tmp_path / "second").exists()
    # The sandbox still works after the cancellation.
    out = await ShellTool().execute(_call(["echo ok"]), _ctx(sandbox))
    assert out.output[0].stdout == "ok\n"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
