"""The host's snapshot of a workspace and what it lists as changed since (no git, no Docker)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandloop.cli import workspace_reader
from sandloop.cli.changes import quote_path
from sandloop.cli.snapshot import Snapshot


@pytest.fixture
def store(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "run").mkdir()
    fd = os.open(tmp_path / "run", os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def listed(snapshot: Snapshot) -> dict[str, tuple[int, int, str, str]]:
    changes, _ = snapshot.changes()
    return {c.path: (c.added, c.removed, c.status, c.detail) for c in changes}


def test_only_what_changed_after_the_snapshot_is_listed(tmp_path: Path, store: int) -> None:
    ws = tmp_path / "ws"
    (ws / "pkg").mkdir(parents=True)
    (ws / "dirty.py").write_text("edited before the run\n")  # a dirty repository's own edit
    (ws / "pkg" / "m.py").write_text("one\ntwo\nthree\n")
    (ws / "gone.txt").write_text("a\nb\n")
    (ws / "touched.txt").write_text("same\n")
    os.symlink("pkg/m.py", ws / "link")
    with Snapshot(ws, store) as snapshot:
        (ws / "pkg" / "m.py").write_text("one\n2\nthree\nfour\n")
        (ws / "gone.txt").unlink()
        (ws / "touched.txt").write_text("same\n")  # rewritten, same content
        (ws / "link").unlink()
        os.symlink("pkg/m.py", ws / "link")  # made again, same target
        (ws / "new.bin").write_bytes(b"\0\1")
        (ws / "pkg" / "__pycache__").mkdir()
        (ws / "pkg" / "__pycache__" / "m.pyc").write_bytes(b"x")
        assert listed(snapshot) == {
            "gone.txt": (0, 2, "deleted", "binary"),
            "new.bin": (-1, -1, "new", "binary"),
            "pkg/m.py": (2, 1, "modified", "binary"),
        }


def test_a_tree_deeper_than_the_walk_goes_is_reported(
    tmp_path: Path, store: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace_reader, "MAX_DEPTH", 3)
    ws = tmp_path / "ws"
    ws.mkdir()
    with Snapshot(ws, store) as snapshot:
        deep = ws / "a" / "b" / "c" / "d" / "e"
        deep.mkdir(parents=True)
        (deep / "f").write_text("x\n")
        _, note = snapshot.changes()
    assert note is not None
    assert "more than 3 directory levels" in note


def test_odd_names_are_quoted_like_git() -> None:
    assert quote_path("plain/name.py") == "plain/name.py"
    assert quote_path("new\nline") == '"new\\nline"'
    assert quote_path(os.fsdecode(b"bad\xffutf8")) == '"bad\\377utf8"'
    assert quote_path("caf\u00e9") == "caf\u00e9"


def test_the_diff_shows_only_what_changed_after_the_snapshot(tmp_path: Path, store: int) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "dirty.py").write_text("edited before the run\n")
    (ws / "m.py").write_text("one\ntwo\n")
    (ws / "gone.txt").write_text("bye\n")
    with Snapshot(ws, store) as snapshot:
        (ws / "m.py").write_text("one\n2\n")
        (ws / "gone.txt").unlink()
        (ws / "new.txt").write_text("hello\n")
        (ws / "new.bin").write_bytes(b"\0\1")
        diff = snapshot.diff()
    assert "dirty.py" not in diff  # the user's own edit from before the run
    assert diff.index("a/gone.txt") < diff.index("a/m.py") < diff.index("b/new.bin")
    assert "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n" in diff
    assert "--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n one\n-two\n+2\n" in diff
    assert "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hello\n" in diff
    assert "+++ b/new.bin\n@@ -0,0 +1 @@\n+(binary file)\n" in diff
