"""ApplyPatchTool over a LocalSandbox (the real runner, no Docker): hosted and custom forms."""

# Tests inspect the workspace with plain pathlib between awaits: nothing else runs meanwhile.
# ruff: noqa: ASYNC240

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import lark
import pytest

from sandloop.dispatch import Approvals, CallOutcome, Dispatcher, RunScope, ToolRegistry
from sandloop.errors import ConfigError
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.base import Tool, ToolContext
from sandloop.items import (
    ApplyPatchCall,
    ApplyPatchCallOutput,
    CustomToolCall,
    CustomToolCallOutput,
)
from sandloop.sandboxes import LocalSandbox


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
async def sandbox(workspace: Path) -> AsyncIterator[LocalSandbox]:
    async with LocalSandbox(workspace) as sb:
        yield sb


def _ctx(sandbox: LocalSandbox | None) -> ToolContext:
    return ToolContext(run_id="run_test", call_id="call_1", sandbox=sandbox)


def _call(op_type: str, path: str, diff: str | None = None) -> ApplyPatchCall:
    operation: dict[str, Any] = {"type": op_type, "path": path}
    if diff is not None:
        operation["diff"] = diff
    raw = {"type": "apply_patch_call", "call_id": "call_1", "status": "completed"}
    return ApplyPatchCall.model_validate({**raw, "operation": operation})


async def _hosted(sandbox: LocalSandbox, *args: str) -> ApplyPatchCallOutput:
    out = await ApplyPatchTool().execute(_call(*args), _ctx(sandbox))
    assert isinstance(out, ApplyPatchCallOutput)
    assert out.call_id == "call_1"
    return out


def _text(out: ApplyPatchCallOutput | CustomToolCallOutput) -> str:
    assert isinstance(out.output, str)
    return out.output


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- the definitions -----------------------------------------------------------------------


def test_hosted_definition() -> None:
    tool = ApplyPatchTool()
    assert isinstance(tool, Tool)
    assert (tool.call_type, tool.name, tool.sequential) == ("apply_patch_call", None, True)
    assert tool.definition() == {"type": "apply_patch"}


def test_custom_definition_carries_a_lark_grammar_that_compiles() -> None:
    tool = ApplyPatchTool(as_custom=True)
    assert isinstance(tool, Tool)
    assert (tool.call_type, tool.name) == ("custom_tool_call", "apply_patch")
    definition = tool.definition()
    assert (definition["type"], definition["name"]) == ("custom", "apply_patch")
    assert "*** Begin Patch" in definition["description"]
    fmt = definition["format"]
    assert (fmt["type"], fmt["syntax"]) == ("grammar", "lark")
    lark.Lark(fmt["definition"], parser="lalr").parse(
        "*** Begin Patch\n*** Delete File: a\n*** End Patch\n"
    )


async def test_a_run_without_sandbox_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="this run has none"):
        await ApplyPatchTool().execute(_call("delete_file", "a"), _ctx(None))


# --- hosted operations ---------------------------------------------------------------------


async def test_create_file_writes_the_file_and_its_directories(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    out = await _hosted(sandbox, "create_file", "pkg/new.py", "+print('hi')\n+x = 1")
    assert (out.status, out.output) == ("completed", "A pkg/new.py")
    assert (workspace / "pkg/new.py").read_text() == "print('hi')\nx = 1\n"


async def test_update_file_applies_a_v4a_diff(sandbox: LocalSandbox, workspace: Path) -> None:
    (workspace / "app.py").write_text('def greet():\n    print("Hi")\n    return None\n')
    diff = '@@ def greet():\n-    print("Hi")\n+    print("Hello")\n     return None\n'
    out = await _hosted(sandbox, "update_file", "app.py", diff)
    assert (out.status, out.output) == ("completed", "M app.py")
    assert (
        workspace / "app.py"
    ).read_text() == 'def greet():\n    print("Hello")\n    return None\n'


async def test_update_file_accepts_a_unified_diff(sandbox: LocalSandbox, workspace: Path) -> None:
    (workspace / "a.txt").write_text("one\ntwo\nthree\n")
    diff = "--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
    out = await _hosted(sandbox, "update_file", "a.txt", diff)
    assert out.status == "completed"
    assert (workspace / "a.txt").read_text() == "one\n2\nthree\n"


async def test_update_keeps_crlf_bytes_that_are_not_utf8_and_the_mode(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    target = workspace / "legacy.sh"
    target.write_bytes(b"#!/bin/sh\r\necho caf\xe9\r\nexit 0\r\n")
    target.chmod(0o755)
    out = await _hosted(sandbox, "update_file", "legacy.sh", " #!/bin/sh\n+set -e\n")
    assert out.status == "completed"
    assert target.read_bytes() == b"#!/bin/sh\r\nset -e\r\necho caf\xe9\r\nexit 0\r\n"
    assert os.stat(target).st_mode & 0o777 == 0o755


async def test_delete_file(sandbox: LocalSandbox, workspace: Path) -> None:
    (workspace / "old.txt").write_text("bye\n")
    out = await _hosted(sandbox, "delete_file", "old.txt")
    assert (out.status, out.output) == ("completed", "D old.txt")
    assert not (workspace / "old.txt").exists()


async def test_absolute_path_inside_the_workspace_is_accepted(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    out = await _hosted(sandbox, "create_file", str(workspace / "abs.txt"), "+x")
    assert (out.status, out.output) == ("completed", "A abs.txt")
    assert (workspace / "abs.txt").read_text() == "x\n"


async def test_failing_hunk_leaves_the_file_unchanged(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    (workspace / "a.py").write_text("x = 1\ny = 2\n")
    out = await _hosted(sandbox, "update_file", "a.py", " x = 1\n-y = 3\n+y = 4\n")
    assert out.status == "failed"
    assert out.output is not None
    assert out.output.startswith("a.py: hunk 1 did not apply")
    assert "`y = 3`" in out.output
    assert "2 | y = 2" in out.output
    assert out.output.endswith(
        "\nNothing was changed. Re-read the file and resend the diff with lines that match it."
    )
    assert out.output.count("othing was changed") == 1
    assert (workspace / "a.py").read_text() == "x = 1\ny = 2\n"


@pytest.mark.parametrize(
    ("op", "path", "diff", "words"),
    [
        ("update_file", "missing.py", "-a\n+b\n", "missing.py: does not exist"),
        ("delete_file", "missing.py", None, "missing.py: does not exist"),
        ("create_file", "exists.txt", "+other", "already exists with other content"),
        ("update_file", "exists.txt", "bogus line\n", "line 1 of the diff"),
        ("update_file", "blob.bin", "+x\n", "binary file"),
        ("delete_file", "sub", None, "sub is a directory"),
    ],
)
async def test_failures_change_nothing(
    sandbox: LocalSandbox, workspace: Path, op: str, path: str, diff: str | None, words: str
) -> None:
    (workspace / "exists.txt").write_text("same\n")
    (workspace / "blob.bin").write_bytes(b"\0\1\2")
    (workspace / "sub").mkdir()
    before = _snapshot(workspace)
    out = await _hosted(sandbox, op, path, *([diff] if diff is not None else []))
    assert out.status == "failed"
    assert words in _text(out)
    assert _snapshot(workspace) == before
    # Said once, at the end, whichever part of the code failed.
    assert _text(out).count("othing was changed") == 1
    assert _text(out).endswith("Nothing was changed.")


async def test_create_file_on_an_identical_file_succeeds(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    (workspace / "same.txt").write_text("same\n")
    out = await _hosted(sandbox, "create_file", "same.txt", "+same\n")
    assert (out.status, out.output) == ("completed", "A same.txt")


# --- confinement ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../escape.txt", "/tmp/escape.txt", "a/../../escape.txt"])
async def test_paths_outside_the_workspace_are_refused(
    sandbox: LocalSandbox, workspace: Path, path: str
) -> None:
    out = await _hosted(sandbox, "create_file", path, "+pwned")
    assert out.status == "failed"
    assert _text(out).startswith("refused:")
    assert _text(out).endswith("; paths must stay inside the workspace. Nothing was changed.")
    assert _text(out).count("othing was changed") == 1
    assert _snapshot(workspace.parent) == {}
    assert not Path("/tmp/escape.txt").exists()


async def test_symlinked_directory_leading_out_is_refused(
    sandbox: LocalSandbox, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace / "link").symlink_to(outside)
    out = await _hosted(sandbox, "create_file", "link/pwned.txt", "+pwned")
    assert out.status == "failed"
    assert "refused" in _text(out)
    assert "workspace" in _text(out)
    assert list(outside.iterdir()) == []


async def test_symlinked_file_leading_out_is_neither_read_nor_written(
    sandbox: LocalSandbox, workspace: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("token\n")
    (workspace / "innocent.txt").symlink_to(secret)
    out = await _hosted(sandbox, "update_file", "innocent.txt", "-token\n+stolen\n")
    assert out.status == "failed"
    assert "refused" in _text(out)
    assert "token" not in _text(out)
    assert secret.read_text() == "token\n"
    assert (workspace / "innocent.txt").is_symlink()


async def test_symlink_inside_the_workspace_edits_its_target(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    (workspace / "real.txt").write_text("a\n")
    (workspace / "alias.txt").symlink_to("real.txt")
    out = await _hosted(sandbox, "update_file", "alias.txt", "-a\n+b\n")
    assert out.status == "completed"
    assert (workspace / "real.txt").read_text() == "b\n"
    assert (workspace / "alias.txt").is_symlink()


# --- the custom tool: whole envelopes --------------------------------------------------------

ENVELOPE = """*** Begin Patch
*** Add File: hello.txt
+Hello world
*** Update File: src/app.py
*** Move to: src/main.py
@@ def greet():
-    print("Hi")
+    print("Hello, world!")
*** Delete File: obsolete.txt
*** End Patch
"""


def _custom(text: str) -> CustomToolCall:
    return CustomToolCall(call_id="call_9", name="apply_patch", input=text)


async def test_envelope_applies_every_operation(sandbox: LocalSandbox, workspace: Path) -> None:
    (workspace / "src").mkdir()
    (workspace / "src/app.py").write_text('def greet():\n    print("Hi")\n')
    (workspace / "src/app.py").chmod(0o750)
    (workspace / "obsolete.txt").write_text("old\n")
    out = await ApplyPatchTool(as_custom=True).execute(_custom(ENVELOPE), _ctx(sandbox))
    assert out.call_id == "call_9"
    assert out.output == "A hello.txt\nR src/app.py -> src/main.py\nD obsolete.txt"
    assert _snapshot(workspace) == {
        "hello.txt": b"Hello world\n",
        "src/main.py": b'def greet():\n    print("Hello, world!")\n',
    }
    assert os.stat(workspace / "src/main.py").st_mode & 0o777 == 0o750


async def test_envelope_is_all_or_nothing(sandbox: LocalSandbox, workspace: Path) -> None:
    (workspace / "src").mkdir()
    (workspace / "src/app.py").write_text('def greet():\n    print("Bye")\n')
    (workspace / "obsolete.txt").write_text("old\n")
    before = _snapshot(workspace)
    out = await ApplyPatchTool(as_custom=True).execute(_custom(ENVELOPE), _ctx(sandbox))
    assert isinstance(out.output, str)
    assert out.output.startswith("apply_patch failed: src/app.py: hunk 1 did not apply")
    assert _snapshot(workspace) == before


async def test_envelope_with_an_escaping_path_writes_nothing(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    text = "*** Begin Patch\n*** Add File: ok.txt\n+x\n*** Add File: ../bad.txt\n+y\n*** End Patch"
    out = await ApplyPatchTool(as_custom=True).execute(_custom(text), _ctx(sandbox))
    assert "refused" in _text(out)
    assert _snapshot(workspace.parent) == {}


async def test_malformed_envelope_reports_the_line(sandbox: LocalSandbox) -> None:
    out = await ApplyPatchTool(as_custom=True).execute(
        _custom("*** Begin Patch\n*** Add File: a\n+x\n"), _ctx(sandbox)
    )
    assert out.output == (
        "apply_patch failed: patch line 4: no `*** End Patch` line: the patch looks cut off, "
        "so none of it was applied. Nothing was changed."
    )


# --- through the dispatcher ----------------------------------------------------------------


async def test_several_calls_on_one_file_in_one_response_all_land(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    (workspace / "f.txt").write_text("".join(f"line {i}\n" for i in range(8)))
    calls = [
        ApplyPatchCall.model_validate(
            {
                "type": "apply_patch_call",
                "call_id": f"call_{i}",
                "operation": {
                    "type": "update_file",
                    "path": "f.txt",
                    "diff": f"-line {i}\n+LINE {i}\n",
                },
            }
        )
        for i in range(8)
    ]
    dispatcher = Dispatcher(ToolRegistry([ApplyPatchTool()]), approvals=Approvals(None))
    results: list[CallOutcome] = []
    await dispatcher.run(calls, scope=RunScope("run", sandbox=sandbox), turn=1, results=results)
    outputs = [r.output for r in results]
    assert [(o.call_id, o.status) for o in outputs] == [
        (f"call_{i}", "completed") for i in range(8)
    ]
    # Calls run one at a time, so no read-modify-write of one file loses another's edit.
    assert (workspace / "f.txt").read_text() == "".join(f"LINE {i}\n" for i in range(8))
