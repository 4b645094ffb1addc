"""The fd-based host walk: no PATH_MAX limit, no link followed, every failure reported."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from sandloop.errors import WorkspaceCleanupError
from sandloop.sandboxes._hostwalk import clear_setid_bits, walk_files

NAME = "n" * 60


def _deep(root: Path, depth: int) -> int:
    """A chain of ``depth`` directories under ``root``; returns a descriptor of the last."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir(NAME, dir_fd=fd)
        child = os.open(NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    return fd


def test_a_tree_deeper_than_path_max_is_walked_to_the_bottom(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    fd = _deep(tmp_path / "ws", 200)  # 200 x 61 bytes of path: past PATH_MAX
    try:
        os.close(os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o755, dir_fd=fd))
        os.chmod("bottom", 0o6755, dir_fd=fd)
        assert clear_setid_bits(tmp_path / "ws") == 1
        assert os.stat("bottom", dir_fd=fd).st_mode & 0o7777 == 0o755
    finally:
        os.close(fd)
        shutil.rmtree(tmp_path / "ws")


def test_links_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "tool").write_bytes(b"")
    (outside / "tool").chmod(0o4755)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "dir_link").symlink_to(outside)
    (ws / "file_link").symlink_to(outside / "tool")
    seen: list[str] = []
    assert walk_files(ws, lambda _fd, entry: seen.append(entry.name)) == []
    assert sorted(seen) == ["dir_link", "file_link"]
    assert clear_setid_bits(ws) == 0
    assert (outside / "tool").stat().st_mode & 0o7777 == 0o4755


def test_a_failure_is_reported_and_the_rest_is_still_walked(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "a" / "b").mkdir(parents=True)
    for name in ("a/b/bad", "a/good", "z"):
        (ws / name).write_bytes(b"")
    seen: list[str] = []

    def visit(_fd: int, entry: os.DirEntry[str]) -> None:
        if entry.name == "bad":
            raise OSError(errno.EPERM, "Operation not permitted")
        seen.append(entry.name)

    assert walk_files(ws, visit) == [("a/b/bad", "Operation not permitted")]
    assert sorted(seen) == ["good", "z"]


def test_an_unreadable_root_is_a_typed_failure(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceCleanupError) as caught:
        clear_setid_bits(tmp_path / "missing")
    assert caught.value.path == "."
