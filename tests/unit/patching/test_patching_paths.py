"""Paths are checked before any I/O: relative to the workspace, never leaving it."""

from __future__ import annotations

import pytest

from sandloop.errors import PatchParseError, WorkspacePathError
from sandloop.patching import workspace_path


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("src/app.py", "src/app.py"),
        ("./src//app.py", "src/app.py"),
        ("src/../README.md", "README.md"),
        (" notes.txt ", "notes.txt"),
        ("/workspace/src/app.py", "src/app.py"),
        ("/workspace/./a/../b", "b"),
    ],
)
def test_accepted_paths_are_normalised(given: str, expected: str) -> None:
    assert workspace_path(given) == expected


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("/etc/passwd", "absolute path outside the workspace"),
        ("/workspace-other/x", "absolute path outside the workspace"),
        ("/workspace/../etc/passwd", "absolute path outside the workspace"),
        ("../outside.txt", "leaves the workspace"),
        ("src/../../outside.txt", "leaves the workspace"),
        ("..", "leaves the workspace"),
        ("~/.bashrc", "starts with `~`"),
    ],
)
def test_escapes_are_refused(given: str, words: str) -> None:
    with pytest.raises(WorkspacePathError) as err:
        workspace_path(given)
    assert err.value.path == given
    assert err.value.reason == "escape"
    assert words in str(err.value)


@pytest.mark.parametrize("given", ["", "  ", ".", "/workspace", "a\0b"])
def test_empty_or_invalid_paths_are_parse_errors(given: str) -> None:
    with pytest.raises(PatchParseError):
        workspace_path(given)


def test_a_custom_root() -> None:
    assert workspace_path("/home/agent/repo/x.py", root="/home/agent/repo/") == "x.py"
    with pytest.raises(WorkspacePathError):
        workspace_path("/workspace/x.py", root="/home/agent/repo")


def test_a_refusal_says_only_what_is_wrong() -> None:
    # The tool that refuses the path says what that means for the files (apply_patch: nothing
    # was changed); the path check itself changed nothing and says nothing about it.
    with pytest.raises(WorkspacePathError) as err:
        workspace_path("../x")
    assert str(err.value) == "'../x' leaves the workspace through `..`"
