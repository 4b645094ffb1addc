"""The dispatcher: routing, concurrency, sequential tools, failures, approvals, sandbox death."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from sandloop.dispatch import Approvals, CallOutcome, Dispatcher, RunScope, ToolRegistry
from sandloop.errors import (
    ApprovalDeniedError,
    ConfigError,
    SandboxDiedError,
    SandboxError,
)
from sandloop.executors.base import ApprovalRequest, ToolContext
from sandloop.executors.custom import CustomTool
from sandloop.executors.function import tool
from sandloop.executors.local_shell import LocalShellTool
from sandloop.items import (
    ApplyPatchCall,
    ApplyPatchCallOutput,
    ComputerCall,
    FunctionCall,
    LocalShellCall,
    McpApprovalRequest,
    ShellCall,
    parse_item,
)

SCOPE = RunScope(run_id="run_t")


def fc(name: str, args: dict[str, Any] | str = "{}", call_id: str = "c1") -> FunctionCall:
    text = args if isinstance(args, str) else json.dumps(args)
    return FunctionCall(call_id=call_id, name=name, arguments=text)


async def run(
    tools: list[Any],
    calls: list[Any],
    *,
    callback: Any = None,
    policy: Any = "tools",
    limit: int = 8,
) -> tuple[list[CallOutcome], list[tuple[str, int]]]:
    log: list[tuple[str, int]] = []

    async def listener(index: int, call: Any, outcome: CallOutcome | None) -> None:
        log.append(("start" if outcome is None else "end", index))

    d = Dispatcher(
        ToolRegistry(tools),
        approvals=Approvals(callback, policy=policy),
        max_concurrency=limit,
        listener=listener,
    )
    results: list[CallOutcome] = []
    await d.run(calls, scope=SCOPE, turn=1, results=results)
    return results, log


async def test_parallel_calls_run_concurrently_and_keep_order() -> None:
    both = anyio.Event()
    started: list[str] = []

    @tool
    async def wait(tag: str) -> str:
        """Wait for the other call."""
        started.append(tag)
        if len(started) == 2:
            both.set()
        with anyio.fail_after(5):
            await both.wait()
        return tag

    results, _ = await run([wait], [fc("wait", {"tag": "a"}, "c1"), fc("wait", {"tag": "b"}, "c2")])
    assert [r.output.output for r in results] == ["a", "b"]
    assert [r.status for r in results] == ["completed", "completed"]


async def test_sequential_tool_runs_alone() -> None:
    active = 0
    peak: dict[str, int] = {}

    async def track(name: str) -> str:
        nonlocal active
        active += 1
        await anyio.sleep(0.01)
        peak[name] = max(peak.get(name, 0), active)
        active -= 1
        return name

    @tool
    async def par(n: int) -> str:
        """Parallel."""
        return await track(f"par{n}")

    @tool(sequential=True)
    async def alone() -> str:
        """Alone."""
        return await track("alone")

    calls = [fc("par", {"n": 1}, "c1"), fc("alone", {}, "c2"), fc("par", {"n": 2}, "c3")]
    results, _ = await run([par, alone], calls)
    assert [r.output.output for r in results] == ["par1", "alone", "par2"]
    assert peak["alone"] == 1


async def test_concurrency_limit() -> None:
    active = 0
    peak = 0

    @tool
    async def work(n: int) -> int:
        """Work."""
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await anyio.sleep(0.01)
        active -= 1
        return n

    calls = [fc("work", {"n": i}, f"c{i}") for i in range(6)]
    results, _ = await run([work], calls, limit=2)
    assert [r.output.output for r in results] == [str(i) for i in range(6)]
    assert peak == 2


@tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


async def test_every_failure_becomes_an_output() -> None:
    @tool
    def boom() -> None:
        """Fail."""
        raise RuntimeError("disk full")

    @tool(timeout=0.05)
    async def slow() -> str:
        """Slow."""
        await anyio.sleep(10)
        return "late"

    calls = [
        fc("nope", {}, "c1"),
        fc("add", "{bad json", "c2"),
        fc("add", {"a": "x", "b": 1}, "c3"),
        fc("boom", {}, "c4"),
        fc("slow", {}, "c5"),
        fc("add", {"a": 1, "b": 2}, "c6"),
    ]
    results, log = await run([add, boom, slow], calls)
    by_status = [(r.status, r.output.call_id) for r in results]
    assert by_status == [
        ("unknown_tool", "c1"),
        ("invalid_arguments", "c2"),
        ("invalid_arguments", "c3"),
        ("failed", "c4"),
        ("timed_out", "c5"),
        ("completed", "c6"),
    ]
    texts = [r.output.output for r in results]
    assert texts[0] == "Unknown tool 'nope'. Available tools: add, boom, slow."
    assert "not valid JSON" in texts[1]
    assert "a: Input should be a valid integer" in texts[2]
    assert texts[3] == "boom raised RuntimeError: disk full"
    assert texts[4] == "slow timed out after 0.05 seconds and was stopped."
    assert texts[5] == "3"
    assert sorted(log) == sorted([(k, i) for i in range(6) for k in ("start", "end")])


async def test_output_shape_per_call_type() -> None:
    calls = [
        ShellCall.model_validate(
            {"call_id": "s1", "action": {"commands": ["ls"], "max_output_length": 100}}
        ),
        ApplyPatchCall.model_validate(
            {"call_id": "p1", "operation": {"type": "delete_file", "path": "a"}}
        ),
        LocalShellCall.model_validate({"call_id": "l1", "action": {"command": ["ls"]}}),
        ComputerCall.model_validate({"call_id": "k1", "action": {"type": "screenshot"}}),
        parse_item({"type": "custom_tool_call", "call_id": "u1", "name": "x", "input": "hi"}),
    ]
    results, _ = await run([], calls)
    shell, patch, local, computer, custom = (r.output.to_wire() for r in results)
    assert shell["type"] == "shell_call_output"
    assert shell["max_output_length"] == 100
    assert shell["output"][0]["outcome"] == {"type": "exit", "exit_code": 1}
    assert "Unknown tool 'shell'" in shell["output"][0]["stderr"]
    assert patch == {
        "type": "apply_patch_call_output",
        "call_id": "p1",
        "status": "failed",
        "output": "Unknown tool 'apply_patch'. Available tools: none.",
    }
    assert local["type"] == "local_shell_call_output"
    assert local["id"] == "l1"
    assert json.loads(local["output"])["exit_code"] == 1
    assert computer["type"] == "computer_call_output"
    assert computer["output"]["image_url"].startswith("data:image/png;base64,")
    assert results[3].note is not None
    assert "failed" in results[3].note.content
    assert custom == {
        "type": "custom_tool_call_output",
        "call_id": "u1",
        "output": results[4].error,
    }


async def test_approvals_allow_deny_and_reason() -> None:
    @tool(needs_approval=True)
    def rm(path: str) -> str:
        """Remove a file."""
        return f"removed {path}"

    asked: list[ApprovalRequest] = []

    def decide(request: ApprovalRequest) -> bool:
        asked.append(request)
        args = json.loads(request.arguments)
        if args["path"] == "secret":
            raise ApprovalDeniedError("that file is protected")
        return bool(args["path"] == "ok")

    calls = [
        fc("rm", {"path": "ok"}, "c1"),
        fc("rm", {"path": "no"}, "c2"),
        fc("rm", {"path": "secret"}, "c3"),
        fc("add", {"a": 1, "b": 1}, "c4"),
    ]
    results, _ = await run([rm, add], calls, callback=decide)
    assert [r.status for r in results] == ["completed", "denied", "denied", "completed"]
    assert results[1].output.output == "The user denied this rm call. Do not retry it as is."
    assert results[2].output.output == "The user denied this rm call: that file is protected"
    assert [a.tool for a in asked] == ["rm", "rm", "rm"]  # add needs no approval
    assert asked[0].kind == "call"
    assert asked[0].run_id == "run_t"

    async def allow_all(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    asked.clear()
    results, _ = await run([rm, add], calls[3:], callback=allow_all, policy="all")
    assert [a.tool for a in asked] == ["add"]
    results, _ = await run([rm], calls[:1])  # no callback: denied
    assert results[0].status == "denied"


async def test_mcp_approval_answers() -> None:
    req = McpApprovalRequest(id="mcpr_1", server_label="gh", name="delete_repo", arguments="{}")
    yes = await Approvals(lambda r: r.tool == "gh.delete_repo").answer_mcp("r", req)
    assert yes.to_wire() == {
        "type": "mcp_approval_response",
        "approval_request_id": "mcpr_1",
        "approve": True,
    }
    no = await Approvals(None).answer_mcp("r", req)
    assert no.approve is False
    assert no.reason == "no approval callback configured"


async def test_context_approver_for_executors() -> None:
    @tool
    async def careful(ctx: ToolContext) -> str:
        """Ask before acting."""
        ok = await ctx.request_approval(None, kind="safety_check", tool="x", detail="risky")
        return "went ahead" if ok else "stopped"

    results, _ = await run([careful], [fc("careful")], callback=lambda r: r.detail == "risky")
    assert results[0].output.output == "went ahead"
    results, _ = await run([careful], [fc("careful")])
    assert results[0].output.output == "stopped"


async def test_sandbox_error_stops_the_batch() -> None:
    cancelled = anyio.Event()

    @tool
    async def dies() -> str:
        """Die."""
        await anyio.sleep(0.01)
        raise SandboxDiedError("container exited")

    @tool
    async def hangs() -> str:
        """Hang."""
        try:
            await anyio.sleep(10)
        finally:
            cancelled.set()
        return "never"

    with pytest.raises(SandboxError, match="container exited"):
        await run([dies, hangs, add], [fc("dies", {}, "c1"), fc("hangs", {}, "c2")])
    assert cancelled.is_set()


def test_registry_rejects_duplicates_and_groups_namespaces() -> None:
    @tool(name="add")
    def other(a: int) -> int:
        """Other."""
        return a

    with pytest.raises(ConfigError, match="duplicate tool name 'add'"):
        ToolRegistry([add, other])
    with pytest.raises(ConfigError, match="duplicate tool name 'add'"):
        ToolRegistry([add, CustomTool(lambda text: text, name="add")])
    with pytest.raises(ConfigError, match="not a tool"):
        ToolRegistry([print])

    @tool(namespace="math")
    def mul(a: int, b: int) -> int:
        """Multiply."""
        return a * b

    @tool(namespace="math", name="add")
    def ns_add(a: int, b: int) -> int:
        """Add in the namespace."""
        return a + b

    reg = ToolRegistry([add, mul, ns_add, {"type": "web_search"}], namespaces={"math": "Math."})
    defs = reg.definitions()
    assert [d["type"] for d in defs] == ["function", "namespace", "web_search"]
    assert defs[1]["name"] == "math"
    assert defs[1]["description"] == "Math."
    assert [t["name"] for t in defs[1]["tools"]] == ["mul", "add"]
    assert (
        reg.lookup(FunctionCall(call_id="c", name="add", arguments="{}", namespace="math"))
        is ns_add
    )
    assert reg.lookup(FunctionCall(call_id="c", name="add", arguments="{}")) is add
    assert reg.lookup(FunctionCall(call_id="c", name="mul", arguments="{}")) is None
    assert reg.definitions() is defs


async def test_apply_patch_output_type_is_kept_from_executor() -> None:
    class FakePatch:
        call_type = "apply_patch_call"
        name = None
        namespace = None
        sequential = False
        needs_approval = False
        timeout = None

        def definition(self) -> dict[str, Any]:
            return {"type": "apply_patch"}

        async def execute(self, call: Any, ctx: ToolContext) -> ApplyPatchCallOutput:
            return ApplyPatchCallOutput(call_id=call.call_id, status="completed", output=ctx.run_id)

    call = ApplyPatchCall.model_validate(
        {"call_id": "p1", "operation": {"type": "delete_file", "path": "a"}}
    )
    results, _ = await run([FakePatch()], [call])
    assert results[0].output.output == "run_t"


async def test_an_executor_returning_no_output_item_is_a_failure() -> None:
    class Broken:
        call_type = "function_call"
        name = "broken"
        namespace = None
        sequential = False
        needs_approval = False
        timeout = None

        def definition(self) -> dict[str, Any]:
            return {"type": "function", "name": "broken", "parameters": {}}

        async def execute(self, call: Any, ctx: ToolContext) -> Any:
            return None

    results, _ = await run([Broken()], [fc("broken")])
    assert results[0].status == "failed"
    assert results[0].output.output == "broken returned no output for this call."


async def test_a_local_shell_approval_shows_the_argv_unambiguously() -> None:
    # ["bash", "-c", "rm -rf build && make"] must not read as `bash -c rm -rf build && make`.
    asked: list[ApprovalRequest] = []

    def deny(request: ApprovalRequest) -> bool:
        asked.append(request)
        return False

    argv = ["bash", "-c", "rm -rf build && make"]
    call = LocalShellCall.model_validate({"call_id": "l1", "action": {"command": argv}})
    results, _ = await run([LocalShellTool()], [call], callback=deny, policy="all")
    assert results[0].status == "denied"
    assert asked[0].arguments == "bash -c 'rm -rf build && make'"
