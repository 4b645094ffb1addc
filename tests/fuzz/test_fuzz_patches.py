"""Random text as V4A diffs, unified diffs, envelopes and paths: a result or a ``PatchError``.

The pure engine is fuzzed directly, then ``ApplyPatchTool`` end to end over a ``LocalSandbox``
(the same runner as in a container): every random patch ends in an output item, and a failed
one leaves the workspace byte-for-byte as it was.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import tempfile
from pathlib import Path
from typing import Any

import anyio
from fuzz_support import FUZZ
from hypothesis import given, settings
from hypothesis import strategies as st

from sandloop.errors import PatchError, WorkspacePathError
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.base import ToolContext
from sandloop.items import ApplyPatchCall, CustomToolCall
from sandloop.patching import (
    apply_diff,
    apply_unified,
    apply_v4a,
    create_from_diff,
    parse_envelope,
    plan_envelope,
    workspace_path,
)
from sandloop.sandboxes import LocalSandbox

# Lines built from patch syntax, so random text often looks almost right.
SYNTAX = [
    "*** Begin Patch", "*** End Patch", "*** Add File: a.txt", "*** Update File: a.txt",
    "*** Delete File: a.txt", "*** Move to: b.txt", "*** End of File", "@@", "@@ def f():",
    "@@ -1,2 +1,2 @@", "--- a/a.txt", "+++ b/a.txt", "-a", "+a", " a", "-", "+", " ", "",
    "*** Update File: ../x", "*** Add File: /etc/passwd", "\\ No newline at end of file",
]  # fmt: skip
syntax_line = st.sampled_from(SYNTAX) | st.text(max_size=12)
patch_text = st.lists(syntax_line, max_size=25).map("\n".join) | st.text(max_size=200)
file_text = st.lists(st.sampled_from(["a", "b", "def f():", "", "  x"]), max_size=12).map(
    lambda rows: "\n".join(rows) + "\n"
)


@FUZZ
@given(file_text, patch_text)
def test_random_v4a_and_unified_text_applies_or_raises_patch_error(old: str, diff: str) -> None:
    for apply in (apply_v4a, apply_diff, apply_unified):
        try:
            new = apply(old, diff, path="a.txt")
        except PatchError:
            continue
        assert isinstance(new, str)
    with contextlib.suppress(PatchError):
        assert isinstance(create_from_diff(diff, path="a.txt"), str)


@FUZZ
@given(patch_text, st.dictionaries(st.sampled_from(["a.txt", "b.txt"]), st.none() | file_text))
def test_random_envelopes_parse_and_plan_or_raise_patch_error(
    text: str, files: dict[str, str | None]
) -> None:
    try:
        ops = parse_envelope(text)
    except PatchError:
        return
    try:
        plan = plan_envelope(ops, {op.path: files.get(op.path) for op in ops} | files)
    except PatchError:
        return
    assert all(isinstance(change.path, str) for change in plan.changes)


@st.composite
def mutated_unified(draw: st.DrawFn) -> tuple[str, str]:
    old = draw(file_text)
    new = draw(file_text)
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), "a/a.txt", "b/a.txt"
        )
    )
    rows = diff.split("\n")
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(rows)))
        rows.insert(at, draw(syntax_line))
    return old, "\n".join(rows)


@FUZZ
@given(mutated_unified())
def test_mutated_unified_diffs_apply_or_raise_patch_error(case: tuple[str, str]) -> None:
    old, diff = case
    with contextlib.suppress(PatchError):
        apply_unified(old, diff, path="a.txt")


@FUZZ
@given(file_text, file_text)
def test_well_formed_unified_diffs_always_apply_exactly(old: str, new: str) -> None:
    # The positive side of the fuzz above: what difflib writes, we apply to the byte.
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), "a/a.txt", "b/a.txt"
        )
    )
    if diff:
        assert apply_unified(old, diff, path="a.txt") == new


PATH_PARTS = ["..", ".", "a", "/", "//", "~", "/workspace", "\0", " ", "b/..", "../.."]


@FUZZ
@given(st.lists(st.sampled_from(PATH_PARTS) | st.text(max_size=6), max_size=6).map("/".join))
def test_workspace_path_accepts_only_paths_inside_the_workspace(path: str) -> None:
    try:
        norm = workspace_path(path, root="/workspace")
    except (PatchError, WorkspacePathError):
        return
    assert not norm.startswith("/")
    assert ".." not in norm.split("/")
    assert norm not in ("", ".")


# --- the tool end to end ---------------------------------------------------------------------

SEED_FILES = {"a.txt": "a\nb\ndef f():\n  x\n", "sub/b.txt": "b\n"}


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


async def _apply_all(root: Path, calls: list[Any]) -> None:
    async with LocalSandbox(root) as sandbox:
        ctx = ToolContext(run_id="run_fuzz", call_id="call_1", sandbox=sandbox)
        for call in calls:
            before = _snapshot(root)
            custom = isinstance(call, CustomToolCall)
            out = await ApplyPatchTool(as_custom=custom).execute(call, ctx)
            if custom:
                assert isinstance(out.output, str)
                failed = out.output.startswith("apply_patch failed")
            else:
                failed = out.status == "failed"
            if failed:
                assert _snapshot(root) == before, out.output
            # Nothing ever lands outside the workspace, whatever the patch said.
            assert sorted(p.name for p in root.parent.iterdir()) == ["ws"]


operations = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["create_file", "update_file"]),
        "path": st.sampled_from(["a.txt", "sub/b.txt", "new.txt", "../out.txt", "/etc/x"]),
        "diff": patch_text,
    }
)


def _call(patch: str | dict[str, str]) -> Any:
    if isinstance(patch, str):
        return CustomToolCall(call_id="call_1", name="apply_patch", input=patch)
    return ApplyPatchCall.model_validate(
        {"type": "apply_patch_call", "call_id": "call_1", "operation": patch}
    )


@settings(FUZZ, max_examples=40)  # each example starts a runner process
@given(st.lists(patch_text | operations, min_size=1, max_size=4))
def test_random_patches_through_the_tool_end_in_an_output_and_fail_without_a_trace(
    patches: list[str | dict[str, str]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        for name, text in SEED_FILES.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        anyio.run(_apply_all, root, [_call(p) for p in patches])
