"""extract_tree (copy-mode export) against hostile tars: the sandbox's files are untrusted."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from sandloop.errors import WorkspacePathError
from sandloop.sandboxes._copy import extract_tree


def _tar(*members: tuple[str, str, str]) -> tarfile.TarFile:
    """A tar under a top directory ``ws/`` (stripped on export): (name, kind, data or target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("ws"), None)
        tar.getmember("ws").type = tarfile.DIRTYPE
        for name, kind, value in members:
            info = tarfile.TarInfo(f"ws/{name}")
            if kind == "file":
                info.size = len(value.encode())
                tar.addfile(info, io.BytesIO(value.encode()))
                continue
            info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[kind]
            info.linkname = value
            tar.addfile(info)
    buf.seek(0)
    return tarfile.open(fileobj=buf)


def _outside(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name != "out")


def test_a_link_chain_that_leads_out_only_once_extracted_is_refused_and_nothing_written(
    tmp_path: Path,
) -> None:
    # Judged on an empty directory, `b` stays inside (a/a/.. reads as a); once `a -> .` exists
    # on disk it is the parent of the export: a file written through it would land outside.
    tar = _tar(("a", "symlink", "."), ("b", "symlink", "a/a/.."), ("b/evil", "file", "x"))
    dest = tmp_path / "out"
    with pytest.raises(WorkspacePathError):
        extract_tree(tar, dest, strip=1)
    assert not dest.exists() or not any(dest.iterdir())
    assert _outside(tmp_path) == []


def test_a_member_written_through_a_link_in_the_tree_is_refused(tmp_path: Path) -> None:
    tar = _tar(("sub/keep", "file", "k"), ("a", "symlink", "sub"), ("a/x", "file", "x"))
    dest = tmp_path / "out"
    with pytest.raises(WorkspacePathError, match="a/x"):
        extract_tree(tar, dest, strip=1)
    assert not dest.exists() or not any(dest.iterdir())


def test_links_inside_the_tree_are_exported(tmp_path: Path) -> None:
    tar = _tar(
        ("sub/f", "file", "data"),
        ("up", "symlink", "sub/../sub"),
        ("sub/rel", "symlink", "f"),
        ("hard", "hardlink", "ws/sub/f"),
    )
    dest = tmp_path / "out"
    extract_tree(tar, dest, strip=1)
    assert (dest / "up" / "f").read_text() == "data"
    assert (dest / "sub" / "rel").read_text() == "data"
    assert (dest / "hard").read_text() == "data"
    assert (dest / "up").is_symlink()
