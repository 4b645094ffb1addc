"""Checking a patch's paths before any I/O: relative, inside the workspace, no ``..`` escape.

Symlinks cannot be judged from the text of a path; the executor refuses to write through one,
and the sandbox's runner refuses any path that resolves outside the workspace. This check gives
the clear message first, for the cases that need no file system.
"""

from __future__ import annotations

import posixpath

from sandloop.errors import PatchParseError, WorkspacePathError

__all__ = ("workspace_path",)


def workspace_path(path: str, *, root: str = "/workspace") -> str:
    """The normalised form of ``path``, relative to the workspace ``root``.

    An absolute path is accepted when it lies inside ``root`` (models often copy the paths a
    shell printed); ``a/../b`` is folded to ``b``.

    Raises:
        WorkspacePathError: The path is absolute outside ``root``, climbs out with ``..``, or
            starts with ``~``.
        PatchParseError: The path is empty, names the workspace itself, or contains a NUL byte.
    """
    given = path
    path = path.strip()
    if not path or "\0" in path:
        raise PatchParseError(f"invalid path {given!r}: it is empty or has a NUL byte.", path=given)
    if path.startswith("~"):
        raise _escape(given, "starts with `~`; paths are relative to the workspace root")
    if path.startswith("/"):
        base = posixpath.normpath(root)
        full = posixpath.normpath(path)
        if full != base and not full.startswith(base.rstrip("/") + "/"):
            raise _escape(given, f"is an absolute path outside the workspace {base}")
        path = posixpath.relpath(full, base)
    norm = posixpath.normpath(path)
    if norm == ".." or norm.startswith("../"):
        raise _escape(given, "leaves the workspace through `..`")
    if norm == ".":
        raise PatchParseError(f"invalid path {given!r}: it names the workspace itself.", path=given)
    return norm


def _escape(path: str, why: str) -> WorkspacePathError:
    return WorkspacePathError(f"{path!r} {why}", path=path)
