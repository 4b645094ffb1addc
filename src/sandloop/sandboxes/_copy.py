"""Copy-mode workspaces: pack a host tree into a tar, and diff two tars as a git-style patch.

``DockerSandbox(mount="copy")`` sends :func:`pack_tree`'s tar into the container and keeps it as
the baseline; ``diff()`` fetches the container's tree as a tar and :func:`diff_trees` compares
the two, so the edits come back exactly (new, deleted, changed, binary and mode-only changes)
without the host directory ever being touched. Pure tar and text work: no Docker here.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sandloop.errors import WorkspacePathError

__all__ = ("TreeEntry", "diff_trees", "extract_tree", "index_tar", "pack_tree")

#: Directories never diffed (their contents are tool state, not edits).
DEFAULT_DIFF_EXCLUDE = (".git",)


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One file or symlink of a tree, as a tar member."""

    path: str
    mode: int  # git-style: 0o100644, 0o100755 or 0o120000
    digest: str
    member: tarfile.TarInfo


def pack_tree(root: Path, dest: IO[bytes], *, uid: int, gid: int) -> None:
    """Write ``root`` as a tar (paths relative to it, owned by ``uid:gid``) into ``dest``."""

    def own(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if not (info.isfile() or info.isdir() or info.issym()):
            return None  # sockets, fifos, devices: nothing an edit could need
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        return info

    with tarfile.open(fileobj=dest, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(str(root), arcname=".", recursive=True, filter=own)


def _member_path(name: str, strip: int) -> str | None:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    parts = parts[strip:]
    return "/".join(parts) if parts else None


def index_tar(tar: tarfile.TarFile, *, strip: int = 0) -> dict[str, TreeEntry]:
    """Map each file and symlink of a tar to its mode and content digest."""
    entries: dict[str, TreeEntry] = {}
    for member in tar:
        path = _member_path(member.name, strip)
        if path is None:
            continue
        if member.issym():
            mode, digest = 0o120000, hashlib.sha256(member.linkname.encode()).hexdigest()
        elif member.isfile():
            mode = 0o100755 if member.mode & 0o111 else 0o100644
            fh = tar.extractfile(member)
            digest = _digest(fh) if fh is not None else ""
        else:
            continue
        entries[path] = TreeEntry(path, mode, digest, member)
    return entries


def _digest(fh: IO[bytes]) -> str:
    h = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


def _content(tar: tarfile.TarFile, entry: TreeEntry | None) -> bytes:
    if entry is None:
        return b""
    if entry.mode == 0o120000:
        return entry.member.linkname.encode()
    fh = tar.extractfile(entry.member)
    return fh.read() if fh is not None else b""


def _excluded(path: str, exclude: Iterable[str]) -> bool:
    return any(path == top or path.startswith(top + "/") for top in exclude)


def diff_trees(
    old_tar: tarfile.TarFile,
    old: dict[str, TreeEntry],
    new_tar: tarfile.TarFile,
    new: dict[str, TreeEntry],
    *,
    exclude: Iterable[str] = DEFAULT_DIFF_EXCLUDE,
) -> str:
    """A git-style unified diff from ``old`` to ``new`` (``git apply`` accepts it)."""
    exclude = tuple(exclude)
    chunks: list[str] = []
    for path in sorted(set(old) | set(new)):
        if _excluded(path, exclude):
            continue
        before, after = old.get(path), new.get(path)
        if before and after and (before.mode, before.digest) == (after.mode, after.digest):
            continue
        chunks.append(
            _file_diff(path, before, after, _content(old_tar, before), _content(new_tar, after))
        )
    return "".join(chunks)


def _file_diff(
    path: str, before: TreeEntry | None, after: TreeEntry | None, old: bytes, new: bytes
) -> str:
    head = [f"diff --git a/{path} b/{path}\n"]
    if before is None and after is not None:
        head.append(f"new file mode {after.mode:o}\n")
    elif after is None and before is not None:
        head.append(f"deleted file mode {before.mode:o}\n")
    elif before is not None and after is not None and before.mode != after.mode:
        head += [f"old mode {before.mode:o}\n", f"new mode {after.mode:o}\n"]
    if old == new:
        return "".join(head)
    a = f"a/{path}" if before is not None else "/dev/null"
    b = f"b/{path}" if after is not None else "/dev/null"
    old_text, new_text = _text(old), _text(new)
    if old_text is None or new_text is None:
        return "".join([*head, f"Binary files {a} and {b} differ\n"])
    lines = difflib.unified_diff(
        old_text.splitlines(keepends=True), new_text.splitlines(keepends=True), a, b, n=3
    )
    return "".join(head) + "".join(_mark_missing_newlines(lines))


def _text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _mark_missing_newlines(lines: Iterable[str]) -> Iterable[str]:
    for i, line in enumerate(lines):
        if i < 2:  # the ---/+++ header lines end with a newline from difflib
            yield line if line.endswith("\n") else line + "\n"
        elif line.endswith("\n"):
            yield line
        else:
            yield line + "\n\\ No newline at end of file\n"


def extract_tree(tar: tarfile.TarFile, dest: Path, *, strip: int = 1) -> None:
    """Extract a tar into ``dest`` (which must be empty or missing), dropping ``strip`` leading
    path components, refusing members or links that would land outside it.

    The sandbox's files are untrusted, so everything is judged before anything is written, on
    the tar alone: a link leading out (also through other links of the tree), a name with
    ``..`` or one that passes through a link is refused. Symlinks are made last, so nothing is
    ever written through one, whatever ``tarfile``'s own checks make of a link chain.
    """
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} exists and is not an empty directory")
    members: list[tarfile.TarInfo] = []
    for member in tar.getmembers():
        path = _member_path(member.name, strip)
        if path is None:
            continue
        member.name = path
        if member.islnk():  # a hard link names another member: strip it the same way
            member.linkname = _member_path(member.linkname, strip) or ""
        members.append(member)
    refused = _refused(members, dest)
    if refused:
        raise WorkspacePathError(
            f"not exported: {len(refused)} link(s) lead out of the workspace: "
            f"{'; '.join(refused[:5])}. Nothing was written; diff() still shows every change.",
            path=refused[0].split(" (", 1)[0],
        )
    dest.mkdir(parents=True, exist_ok=True)
    links_last = sorted(members, key=lambda member: member.issym())
    tar.extractall(dest, members=links_last, filter="data")
    os.chmod(dest, stat.S_IMODE(dest.stat().st_mode) | 0o700)


def _refused(members: list[tarfile.TarInfo], dest: Path) -> list[str]:
    """``"path (why)"`` for each member that could write or point outside ``dest``."""
    links = {member.name: member.linkname for member in members if member.issym()}
    refused = []
    for member in members:
        try:
            tarfile.data_filter(member, str(dest))
        except tarfile.FilterError as exc:
            refused.append(f"{member.name} ({exc})")
            continue
        names = [member.name, member.linkname] if member.islnk() else [member.name]
        why = next(filter(None, (_through_link(name, links) for name in names)), None)
        if why is None and member.issym() and _leads_out(member.name, member.linkname, links):
            why = f"links to {member.linkname!r}, outside the workspace"
        if why is not None:
            refused.append(f"{member.name} ({why})")
    return refused


def _through_link(name: str, links: dict[str, str]) -> str | None:
    parts = name.split("/")
    if ".." in parts:
        return "its name contains '..'"
    for end in range(1, len(parts)):
        if "/".join(parts[:end]) in links:
            return f"its path passes through the link {'/'.join(parts[:end])!r}"
    return None


def _leads_out(path: str, target: str, links: dict[str, str]) -> bool:
    """Whether the symlink ``path -> target`` resolves outside the tree, following the tree's
    own links the way the kernel will once they are all on disk."""
    if target.startswith("/"):
        return True
    resolved = path.split("/")[:-1]
    pending = [part for part in target.split("/") if part not in ("", ".")]
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if not resolved:
                return True
            resolved.pop()
            continue
        resolved.append(part)
        link = links.get("/".join(resolved))
        if link is not None:
            hops += 1
            if hops > 40 or link.startswith("/"):
                return True  # a loop, or absolute: never followed inside the export
            resolved.pop()
            pending = [p for p in link.split("/") if p not in ("", ".")] + pending
    return False
