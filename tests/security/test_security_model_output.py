"""Hostile model output: the host stays responsive, bounded and running whatever the model sends.

Each test drives a real run (the scripted Responses server over a real socket, a real
``LocalSandbox``) the way a hostile or broken model would: a diff built to make matching slow,
a flood of tool output, text that cannot be encoded, call items that fail validation.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop import tool
from sandloop.client import ResponsesClient
from sandloop.dispatch.dispatcher import DEFAULT_MAX_CALLS
from sandloop.executors import DEFAULT_MAX_TOOL_OUTPUT
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.local_shell import LocalShellTool
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent, run
from sandloop.sandboxes import LocalSandbox
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    TurnLike,
    apply_patch_call,
    function_call,
    local_shell_call,
    message,
    shell_call,
)


@pytest.fixture(autouse=True)
def no_container_left() -> None:
    """These tests use ``LocalSandbox`` only: no container to look for (and no engine needed)."""


# A file of alternating lines, and a diff whose context alternates the same way for 4000 lines
# and breaks the pattern at the end: every second line of the file starts a near match.
ALTERNATING = "a\nb\n" * 80_000  # 320 KB
HOSTILE_DIFF = " a\n b\n" * 2000 + " a\n-a\n+c\n"  # 12 KB


def _output(request: RecordedRequest, kind: str) -> dict[str, Any]:
    [item] = [i for i in request.body["input"] if i.get("type") == kind]
    found: dict[str, Any] = item
    return found


async def _run_with_heartbeat(agent: Agent, script: list[Any], workspace: Path) -> list[float]:
    """Run ``script`` while a task on the same event loop ticks; return the tick times."""
    ticks: list[float] = []

    async def heartbeat() -> None:
        while True:
            ticks.append(time.perf_counter())
            await anyio.sleep(0.002)

    async with (
        LocalSandbox(workspace) as sandbox,
        ScriptedResponsesServer(script) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(heartbeat)
        ticks.append(time.perf_counter())
        result = await run(agent, "edit f.txt", sandbox=sandbox, client=client)
        ticks.append(time.perf_counter())
        tg.cancel_scope.cancel()
    assert result.final_output == "done"
    return ticks


async def test_a_diff_built_to_make_matching_slow_fails_fast_and_never_blocks_the_loop(
    tmp_path: Path,
) -> None:
    (tmp_path / "f.txt").write_text(ALTERNATING)
    seen: list[dict[str, Any]] = []

    def check(request: RecordedRequest) -> list[dict[str, Any]]:
        seen.append(_output(request, "apply_patch_call_output"))
        return [message("done", phase="final_answer")]

    script = [[apply_patch_call("update_file", "f.txt", HOSTILE_DIFF)], check]
    agent = Agent(model="gpt-test", tools=[ApplyPatchTool()])
    ticks = await _run_with_heartbeat(agent, script, tmp_path)

    [output] = seen
    assert output["status"] == "failed"
    assert "hunk 1 did not apply" in output["output"]
    assert (tmp_path / "f.txt").read_text() == ALTERNATING
    # The loop kept ticking: no single stall took most of the run (it took all of it when the
    # match ran on the loop, 6-8 s of CPU for this diff).
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    span, worst = ticks[-1] - ticks[0], max(gaps)
    print(f"heartbeat: {len(ticks)} ticks, largest gap {worst:.3f} s of {span:.3f} s")
    assert worst < 0.5 * span, (worst, span)


async def test_a_match_past_its_budget_is_a_failed_output_and_changes_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "f.txt").write_text(ALTERNATING)
    # Many hunks that each match: real work, far more than the microsecond budget allows.
    diff = "".join(f"@@\n-{'a' if i % 2 == 0 else 'b'}\n+x{i}\n" for i in range(3000))
    seen: list[dict[str, Any]] = []

    def check(request: RecordedRequest) -> list[dict[str, Any]]:
        seen.append(_output(request, "apply_patch_call_output"))
        return [message("done", phase="final_answer")]

    script = [[apply_patch_call("update_file", "f.txt", diff)], check]
    agent = Agent(model="gpt-test", tools=[ApplyPatchTool(match_timeout=1e-6)])
    await _run_with_heartbeat(agent, script, tmp_path)

    [output] = seen
    assert output["status"] == "failed"
    assert "patch matching took longer than 1e-06 s" in output["output"]
    assert "Nothing was changed" in output["output"]
    assert (tmp_path / "f.txt").read_text() == ALTERNATING


# --- call items that fail validation ---------------------------------------------------------

INVALID_CALLS = [
    {  # update_file without its diff
        "type": "apply_patch_call",
        "id": "apc_bad",
        "call_id": "call_patch",
        "status": "completed",
        "operation": {"type": "update_file", "path": "f.txt"},
    },
    {  # commands is not a list
        "type": "shell_call",
        "id": "sh_bad",
        "call_id": "call_shell",
        "action": {"commands": "rm -rf /", "max_output_length": 100},
    },
    {"type": "local_shell_call", "id": "lsh_bad", "call_id": "call_local", "action": {}},
    {"type": "function_call", "id": "fc_bad", "call_id": "call_fn", "name": "add"},
    # No call_id: nothing can answer it; it is kept and replayed, never answered.
    {"type": "shell_call", "id": "sh_anon", "action": {"commands": ["touch anon-ran"]}},
]


@pytest.mark.parametrize("stateless", [False, True], ids=["previous_response_id", "stateless"])
async def test_a_call_item_that_fails_validation_gets_a_failed_output_and_the_run_goes_on(
    tmp_path: Path, stateless: bool
) -> None:
    (tmp_path / "f.txt").write_text("one\n")
    seen: dict[str, dict[str, Any]] = {}

    def check(request: RecordedRequest) -> list[dict[str, Any]]:
        for item in request.body["input"]:
            if str(item.get("type")).endswith("_output"):
                key = item["id"] if item["type"] == "local_shell_call_output" else item["call_id"]
                seen[key] = item
        return [message("done", phase="final_answer")]

    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: First.
            b: Second.
        """
        return a + b

    tools = [ApplyPatchTool(), ShellTool(), LocalShellTool(), tool(add)]
    script: list[TurnLike] = [[*INVALID_CALLS, message("working on it")], check]
    agent = Agent(model="gpt-test", tools=tools, store=not stateless)
    async with (
        LocalSandbox(tmp_path) as sandbox,
        ScriptedResponsesServer(script) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        result = await run(agent, "go", sandbox=sandbox, client=client)
    assert result.final_output == "done"
    assert set(seen) == {"call_patch", "call_shell", "call_local", "call_fn"}
    patch = seen["call_patch"]
    assert patch["type"] == "apply_patch_call_output"
    assert patch["status"] == "failed"
    assert "operation.update_file.diff: Field required" in patch["output"]
    shell = seen["call_shell"]
    assert shell["type"] == "shell_call_output"
    assert shell["max_output_length"] == 100
    assert "action.commands" in shell["output"][0]["stderr"]
    assert shell["output"][0]["outcome"] == {"type": "exit", "exit_code": 1}
    assert "action.command" in seen["call_local"]["output"]
    assert seen["call_fn"]["type"] == "function_call_output"
    assert "arguments: Field required" in seen["call_fn"]["output"]
    assert (tmp_path / "f.txt").read_text() == "one\n"
    assert not (tmp_path / "anon-ran").exists()
    # The malformed items stay in the history exactly as they came.
    kept = [i.raw for i in result.items if getattr(i, "problem", None)]
    assert kept == INVALID_CALLS


# --- text that cannot be encoded --------------------------------------------------------------

LONE = "\ud800"  # what json.loads makes of the escape "\ud800": a str with no UTF-8 form


def echo_text(text: str) -> str:
    """Echo the text back.

    Args:
        text: What to echo.
    """
    return f"got {text}"


async def test_lone_surrogates_in_calls_and_messages_become_replacement_characters(
    tmp_path: Path,
) -> None:
    seen: dict[str, dict[str, Any]] = {}

    def check(request: RecordedRequest) -> list[dict[str, Any]]:
        for item in request.body["input"]:
            if str(item.get("type")).endswith("_output"):
                key = item["id"] if item["type"] == "local_shell_call_output" else item["call_id"]
                seen[key] = item
        return [message(f"done{LONE}", phase="final_answer")]

    script: list[TurnLike] = [
        [
            message(f"working{LONE}"),
            shell_call([f"echo 'sh{LONE}'"], call_id="call_sh"),
            local_shell_call(["echo", f"ls{LONE}"], call_id="call_ls"),
            apply_patch_call("create_file", f"new{LONE}.txt", "+hello\n", call_id="call_ap"),
            function_call("echo_text", '{"text": "fn\\ud800"}', call_id="call_fn"),
        ],
        check,
    ]
    tools = [ShellTool(), LocalShellTool(), ApplyPatchTool(), tool(echo_text)]
    agent = Agent(model="gpt-test", tools=tools)
    async with (
        LocalSandbox(tmp_path) as sandbox,
        ScriptedResponsesServer(script) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        result = await run(agent, f"go{LONE}", sandbox=sandbox, client=client)
    assert result.final_output == "done\ufffd"
    assert seen["call_sh"]["output"][0]["stdout"] == "sh\ufffd\n"
    assert json.loads(seen["call_ls"]["output"])["stdout"] == "ls\ufffd\n"
    assert seen["call_ap"]["status"] == "completed"
    assert (tmp_path / "new\ufffd.txt").read_text() == "hello\n"
    assert seen["call_fn"]["output"] == "got fn\ufffd"


# --- output flood and call flood ------------------------------------------------------------

FLOOD_SCENARIO = """
import json, sys
import anyio
from sandloop.client import ResponsesClient
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent, run
from sandloop.sandboxes import LocalSandbox
from sandloop.testing import ScriptedResponsesServer, message, shell_call

TEN_MIB = 10 * 1024 * 1024
report = {}

def check(request):
    outputs = [i for i in request.body["input"] if i.get("type") == "shell_call_output"]
    entries = [o["output"][0] for o in outputs]
    report["outputs"] = len(outputs)
    report["full"] = sum(len(e["stdout"]) == TEN_MIB for e in entries)
    refused = [e["stderr"].startswith("not run: this response's tool output budget")
               for e in entries]
    report["not_run"] = sum(refused)
    report["kept"] = sum(len(e["stdout"]) + len(e["stderr"])
                         for e, no in zip(entries, refused) if not no)
    report["cut"] = sum("tool output budget is used up" in e["stderr"] for e in entries)
    return [message("done", phase="final_answer")]

def hwm_kib():
    # VmHWM: this process's own peak (ru_maxrss carries the parent's across exec).
    with open("/proc/self/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmHWM:")))


async def main():
    command = f"head -c {TEN_MIB} /dev/zero | tr '\\\\0' a"
    calls = [shell_call([command], max_output_length=TEN_MIB) for _ in range(40)]
    agent = Agent(model="gpt-test", tools=[ShellTool()])
    async with (
        LocalSandbox(sys.argv[1]) as sandbox,
        ScriptedResponsesServer([calls, check]) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        report["before_kib"] = hwm_kib()
        result = await run(agent, "flood", sandbox=sandbox, client=client)
    report["final"] = result.final_output
    report["peak_kib"] = hwm_kib()

anyio.run(main)
print(json.dumps(report))
"""


def test_forty_calls_of_ten_mib_each_hold_the_budget_not_gigabytes(tmp_path: Path) -> None:
    script = tmp_path / "flood.py"
    script.write_text(FLOOD_SCENARIO)
    (tmp_path / "ws").mkdir()
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"flood: {report}")
    assert report["final"] == "done"
    assert report["outputs"] == 40  # every call answered
    assert report["kept"] <= DEFAULT_MAX_TOOL_OUTPUT
    assert report["full"] >= 1  # the budget lets a big output through whole
    assert report["not_run"] >= 1  # and says so to the calls it stopped
    growth_mib = (report["peak_kib"] - report["before_kib"]) / 1024
    # Was about 1.7 GB; the budget (16 MiB) and its transient copies stay far below that.
    assert growth_mib < 400, growth_mib


async def test_calls_past_the_per_response_limit_are_answered_without_running(
    tmp_path: Path,
) -> None:
    seen: dict[str, dict[str, Any]] = {}

    def check(request: RecordedRequest) -> list[dict[str, Any]]:
        for item in request.body["input"]:
            if item.get("type") == "shell_call_output":
                seen[item["call_id"]] = item
        return [message("done", phase="final_answer")]

    limit = DEFAULT_MAX_CALLS
    calls = [shell_call([f"touch ran-{i}"], call_id=f"call_{i}") for i in range(limit + 3)]
    agent = Agent(model="gpt-test", tools=[ShellTool()])
    async with (
        LocalSandbox(tmp_path) as sandbox,
        ScriptedResponsesServer([calls, check]) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        result = await run(agent, "go", sandbox=sandbox, client=client)
    assert result.final_output == "done"
    assert len(seen) == limit + 3
    ran = sorted(
        [int(p.name.removeprefix("ran-")) async for p in anyio.Path(tmp_path).glob("ran-*")]
    )
    assert ran == list(range(limit))
    for i in (limit, limit + 1, limit + 2):
        assert "too many calls in one response" in seen[f"call_{i}"]["output"][0]["stderr"]
