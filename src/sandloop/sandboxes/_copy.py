"""Copy-mode workspaces: pack a host tree into a tar, and diff two tars as a git-style patch.

``DockerSandbox(mount="copy")`` sends :func:`pack_tree`'s tar into the container and keeps it as
the baseline; ``diff()`` fetches the container's tree as a tar and :func:`diff_trees` compares
the two, so the edits come back exactly (new, deleted, changed, binary and mode-only changes)
without the host directory ever being touched. Pure tar and text work: no Docker here.

The container's tree is hostile: :func:`copy_capped` judges each tar header before its data
(sizes capped by :class:`CopyLimits`, by apparent size), patches are bytes with git-quoted names
(``_gitpatch``), and :func:`extract_tree` recreates no link that leads out nor any hard link to
something other than a regular file.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sandloop.errors import WorkspacePathError, WorkspaceTooLargeError
from sandloop.sandboxes._gitpatch import file_diff

__all__ = (
    "CopyLimits",
    "TreeEntry",
    "copy_capped",
    "diff_trees",
    "extract_tree",
    "index_tar",
    "pack_tree",
)

#: Directories never diffed (their contents are tool state, not edits).
DEFAULT_DIFF_EXCLUDE = (".git",)


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One file or symlink of a tree, as a tar member."""

    path: str
    mode: int  # git-style: 0o100644, 0o100755 or 0o120000
    digest: str
    member: tarfile.TarInfo


#: Default caps (bytes): one file, and all files of one transfer.
DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_TOTAL_SIZE = 128 << 20, 2 << 30


@dataclass(frozen=True, slots=True)
class CopyLimits:
    """Size caps of a copy-mode transfer (each way), by apparent size: a sparse file counts as
    long as it says it is. Over a cap, the transfer stops with ``WorkspaceTooLargeError``."""

    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    max_total_size: int = DEFAULT_MAX_TOTAL_SIZE

    def check(self, path: str, size: int, total: int) -> None:
        """Raise unless one more file of ``size`` bytes, making ``total``, fits."""
        for what, value, limit, option in (
            (f"{path} is", size, self.max_file_size, "max_file_size"),
            ("the workspace is", total, self.max_total_size, "max_total_size"),
        ):
            if value > limit:
                raise WorkspaceTooLargeError(
                    f"not copied: {what} {_mib(value)} or more (apparent size), over "
                    f"{option}={_mib(limit)}. Nothing was written; remove the file or raise "
                    f"DockerSandbox({option}=...).",
                    path=path,
                    size=value,
                    limit=limit,
                )


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def pack_tree(
    root: Path, dest: IO[bytes], *, uid: int, gid: int, limits: CopyLimits = CopyLimits()
) -> None:
    """Write ``root`` as a tar (paths relative to it, owned by ``uid:gid``) into ``dest``."""
    total = 0

    def own(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        nonlocal total
        if not (info.isfile() or info.isdir() or info.issym() or info.islnk()):
            return None  # sockets, fifos, devices: nothing an edit could need
        if info.isfile():
            total += info.size
            limits.check(info.name, info.size, total)
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        return info

    with tarfile.open(fileobj=dest, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(str(root), arcname=".", recursive=True, filter=own)


class _ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (the engine's archive stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._left:
            chunk = next(self._chunks, b"")
            if not chunk:
                return 0
            self._left = memoryview(chunk)
        size = min(len(buffer), len(self._left))
        buffer[:size], self._left = self._left[:size], self._left[size:]
        return size


def copy_capped(chunks: Iterable[bytes], dest: IO[bytes], limits: CopyLimits) -> None:
    """Copy a tar stream into ``dest`` member by member, judging each header before its data:
    a file over ``max_file_size``, or one that takes the total over ``max_total_size``, stops
    the copy (``WorkspaceTooLargeError``) before a byte of it is read. Memory stays flat."""
    total = 0
    source = io.BufferedReader(_ChunkReader(chunks), 1 << 16)
    with (
        tarfile.open(fileobj=source, mode="r|") as tar_in,
        tarfile.open(fileobj=dest, mode="w", format=tarfile.PAX_FORMAT) as tar_out,
    ):
        for member in tar_in:
            if member.isreg():
                total += member.size
                limits.check(_member_path(member.name, 1) or member.name, member.size, total)
            tar_out.addfile(member, tar_in.extractfile(member) if member.isreg() else None)


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
        if member.islnk():  # the same file as an earlier member: git sees its content
            target = entries.get(_member_path(member.linkname, strip) or "")
            if target is not None:
                entries[path] = TreeEntry(path, target.mode, target.digest, target.member)
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
        return _bytes(entry.member.linkname)
    fh = tar.extractfile(entry.member)  # at most max_file_size: the tar was capped on the way
    return fh.read() if fh is not None else b""


def _bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")  # tarfile decodes non-UTF-8 names this way


def _excluded(path: str, exclude: Iterable[str]) -> bool:
    return any(path == top or path.startswith(top + "/") for top in exclude)


def diff_trees(
    old_tar: tarfile.TarFile,
    old: dict[str, TreeEntry],
    new_tar: tarfile.TarFile,
    new: dict[str, TreeEntry],
    *,
    exclude: Iterable[str] = DEFAULT_DIFF_EXCLUDE,
) -> bytes:
    """A git-style patch from ``old`` to ``new``, as bytes (``git apply`` accepts it)."""
    exclude = tuple(exclude)
    chunks: list[bytes] = []
    for path in sorted(set(old) | set(new), key=_bytes):
        if _excluded(path, exclude):
            continue
        before, after = old.get(path), new.get(path)
        if before and after and (before.mode, before.digest) == (after.mode, after.digest):
            continue
        chunks.append(
            file_diff(
                _bytes(path),
                before.mode if before else None,
                after.mode if after else None,
                _content(old_tar, before),
                _content(new_tar, after),
            )
        )
    return b"".join(chunks)


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
            f"not exported: {len(refused)} link(s) lead out of the workspace or are refused: "
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
    kinds = {member.name: member for member in members if not member.islnk()}
    refused = []
    for member in members:
        target = kinds.get(member.linkname) if member.islnk() else None
        if member.islnk() and (target is None or not target.isreg()):
            what = "a missing file" if target is None else _kind(target)
            refused.append(f"{member.name} (a hard link to {what}: never recreated)")
            continue
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


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symlink to {member.linkname!r}"
    return "a directory" if member.isdir() else "a device, FIFO or other special file"


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
