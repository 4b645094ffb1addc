"""The sandbox contract: what every executor may ask of a sandbox.

Bottom of the data flow (``loop → dispatch → executors → sandboxes``). Executors only ever see
this class; ``DockerSandbox`` and ``LocalSandbox`` implement it over the in-sandbox runner.

Paths given to the file operations are relative to :attr:`Sandbox.workdir` (absolute paths are
accepted only inside it). Confinement is enforced where the operation happens, inside the
sandbox, so a path that leaves the workspace through ``..`` or a symlink — including a symlink
swapped in between a check and the write — raises :class:`~sandloop.errors.WorkspacePathError`.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from sandloop.errors import ConfigError
from sandloop.sandboxes.provisioner import Capabilities

__all__ = (
    "DEFAULT_MAX_OUTPUT",
    "Capabilities",
    "DesktopChannel",
    "ExecResult",
    "FileEntry",
    "Sandbox",
    "WorkspaceChanges",
)

#: Bytes of stdout (and, separately, of stderr) a command keeps by default: head and tail halves.
DEFAULT_MAX_OUTPUT = 1024 * 1024


class DesktopChannel(Protocol):
    """A sandbox's own way to its virtual display (see :meth:`Sandbox.desktop`).

    It carries the desktop module's requests (``ensure``, ``screenshot``, ``xdotool``,
    ``launch``: see ``DesktopComputer``) and returns their replies, faster than a process per
    request through :meth:`Sandbox.exec` would.
    """

    async def request(self, do: str, args: Mapping[str, Any], *, timeout: float) -> dict[str, Any]:
        """Send one desktop request; ``timeout`` bounds the round trip.

        Raises:
            SandboxError: the sandbox (or its display) cannot answer.
        """
        ...


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What one command did.

    Attributes:
        exit_code: The exit status; ``128 + n`` (shell style) when killed by signal ``n``;
            ``None`` when it timed out and was killed.
        stdout: Captured standard output: the head and tail when it was larger than the cap.
        stderr: Captured standard error, capped the same way.
        timed_out: The command ran past its timeout; its whole process group was killed.
        stdout_dropped: Bytes dropped from the middle of stdout to respect the cap.
        stderr_dropped: Bytes dropped from the middle of stderr.
        duration: Wall-clock seconds the command ran.
    """

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    stdout_dropped: int = 0
    stderr_dropped: int = 0
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_code == 0 and not self.timed_out

    def stdout_text(self) -> str:
        """stdout decoded as UTF-8 (invalid bytes replaced), with a note where bytes were cut."""
        return _decode(self.stdout, self.stdout_dropped)

    def stderr_text(self) -> str:
        """stderr decoded as UTF-8 (invalid bytes replaced), with a note where bytes were cut."""
        return _decode(self.stderr, self.stderr_dropped)


def _decode(data: bytes, dropped: int) -> str:
    if not dropped:
        return data.decode("utf-8", "replace")
    half = len(data) // 2
    head = data[:half].decode("utf-8", "replace")
    tail = data[half:].decode("utf-8", "replace")
    return f"{head}\n[... {dropped} bytes omitted ...]\n{tail}"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One entry of a directory listing or a stat.

    Attributes:
        path: Path relative to the workspace (``"src/app.py"``).
        kind: ``file``, ``dir``, ``symlink`` or ``other``.
        size: Size in bytes (of the link itself for a symlink).
        mode: Permission bits (``0o644``).
    """

    path: str
    kind: Literal["file", "dir", "symlink", "other"]
    size: int
    mode: int


@dataclass(frozen=True, slots=True)
class WorkspaceChanges:
    """What a run changed in a copied workspace, kept after the sandbox is gone.

    Attributes:
        diff: A git-style unified diff (``git apply`` takes it) from the copied tree to the
            sandbox's tree; ``""`` when nothing changed.
        paths: The changed paths, relative to the workspace, sorted.
    """

    diff: str
    paths: tuple[str, ...] = ()

    @classmethod
    def of(cls, diff: str) -> WorkspaceChanges:
        """The changes a git-style diff describes (paths read from its ``diff --git`` lines)."""
        paths: set[str] = set()
        for line in diff.splitlines():
            if line.startswith("diff --git a/") and " b/" in line:
                paths.add(line[len("diff --git a/") :].rsplit(" b/", 1)[0])
        return cls(diff, tuple(sorted(paths)))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"diff": self.diff, "paths": list(self.paths)}


class Sandbox(abc.ABC):
    """An isolated place to run commands and touch files; an async context manager.

    ``async with sandbox:`` starts it and always cleans up (also on errors and cancellation).
    Methods raise :class:`~sandloop.errors.SandboxError` subclasses when the sandbox itself is
    broken (the loop then stops the run) and :class:`~sandloop.errors.SandboxFileError` when
    one file operation fails (the call's output then says why).
    """

    #: The workspace directory inside the sandbox; relative paths are resolved against it.
    workdir: str = "/workspace"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @abc.abstractmethod
    async def start(self) -> None:
        """Create and start the sandbox. Idempotent."""

    @property
    def started(self) -> bool:
        """True while the sandbox is started (and not yet closed).

        A run starts (and afterwards removes) a sandbox that is not started, and leaves a
        started one to whoever started it. This default says ``True``, so a sandbox that cannot
        tell is never closed by a run; the built-in sandboxes answer exactly.
        """
        return True

    @property
    def host_workspace(self) -> Path | None:
        """The host directory the sandbox's workspace writes through to (a bind mount, a
        local sandbox's root), or ``None``. Run records must never be kept inside it."""
        return None

    @property
    def capabilities(self) -> Capabilities:
        """What this sandbox can do beyond commands and files (copy mode, host-side restore,
        a desktop...): query it instead of probing for methods. This default: nothing."""
        return Capabilities()

    async def changes(self) -> WorkspaceChanges | None:
        """The edits made so far to a copied workspace, or ``None`` when the workspace is not
        a copy (a bind mount's edits are already on the host). This default: ``None``."""
        return None

    async def diff(self, *, exclude: Sequence[str] = (".git",)) -> str:
        """Copy mode (``capabilities.copy_mode``): the edits made in the sandbox as a
        git-style unified diff. This default has no copy mode and raises ``ConfigError``."""
        raise ConfigError(f"{type(self).__name__} has no copy mode: diff() needs mount='copy'")

    async def diff_bytes(self, *, exclude: Sequence[str] = (".git",)) -> bytes:
        """Copy mode: the edits as the exact bytes of a git-style patch (see :meth:`diff`)."""
        raise ConfigError(f"{type(self).__name__} has no copy mode: diff() needs mount='copy'")

    async def set_baseline(self) -> None:
        """Copy mode: later diffs compare against the workspace as it is now."""
        raise ConfigError(f"{type(self).__name__} has no copy mode: set_baseline() needs one")

    async def export(self, path: str | os.PathLike[str]) -> None:
        """Copy mode: write the sandbox's workspace into ``path`` (a new or empty directory)."""
        raise ConfigError(f"{type(self).__name__} has no copy mode: export() needs mount='copy'")

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop and remove the sandbox. Idempotent; safe to call after a failed start."""

    @abc.abstractmethod
    async def exec(
        self,
        command: str | Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        user: str | None = None,
        stdin: bytes | None = None,
        max_output: int = DEFAULT_MAX_OUTPUT,
    ) -> ExecResult:
        """Run a command and wait for it.

        The command runs in its own process group, killed when the command returns. Jobs it
        leaves in that group (``cmd &``) end with it; a process meant to outlive the command (a
        server for the next one) must be in its own session *before* the command returns:
        ``setsid -w sh -c 'cmd >log 2>&1 &'`` (``setsid`` waits for ``sh``, which returns only
        after forking ``cmd`` inside the new session). ``setsid cmd &`` and ``setsid -f cmd``
        race the end of the command and often lose the daemon. On timeout or cancellation the
        group is killed, and so are descendants still attached to the command's process tree,
        even in a new session.

        Args:
            command: A shell string (run with ``bash -c``) or an argv list (run directly).
            cwd: Working directory, relative to the workspace or absolute; default the workspace.
            env: Extra environment variables (the host's environment never enters).
            timeout: Seconds before the command's whole process group is killed.
            user: Run as this user instead of the sandbox's default, where supported.
            stdin: Bytes fed to the command's standard input (closed after).
            max_output: Cap in bytes for stdout and for stderr, each (head and tail kept).
        """

    @abc.abstractmethod
    async def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """Return a file's bytes. Raises ``SandboxFileError`` (``not_found``, ``too_large``...)."""

    @abc.abstractmethod
    async def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        """Write a file atomically (temp file + rename), creating parent directories."""

    @abc.abstractmethod
    async def delete_file(self, path: str) -> None:
        """Delete a file (not a directory). Raises ``SandboxFileError`` when it is missing."""

    async def ping(self) -> None:
        """Check that the sandbox still answers; raises ``SandboxError`` when it does not.

        This default stats the workspace; sandboxes over the runner send it a no-op.
        """
        await self.stat(".")

    async def restore_on_host(self, files: Mapping[str, tuple[bytes | None, int | None]]) -> bool:
        """Put workspace files back without the sandbox, after it died in mid-change.

        Only a sandbox whose workspace is reachable from the host can do this (a bind-mounted
        ``DockerSandbox``); this default cannot and returns ``False``.

        Args:
            files: Workspace path to (the bytes it held, or ``None`` to delete it; its mode).
        """
        return False

    def desktop(self) -> DesktopChannel | None:
        """The sandbox's channel to its virtual display, or ``None`` when it has none.

        A sandbox over the runner started from the ``sandloop/computer`` image has one (its
        runner serves the display in-process); this default has none, and a computer is then
        driven through :meth:`exec`, one process per request.

        Raises:
            SandboxError: the sandbox is not started (or not usable from this event loop).
        """
        return None

    @property
    def atomic_writes(self) -> bool:
        """True when :meth:`write_files` is all or nothing: after ``SandboxFileError``, no file
        changed; after the sandbox died during the call, either all changes landed or none."""
        return False

    async def write_files(
        self, changes: Mapping[str, bytes | None], *, modes: Mapping[str, int] | None = None
    ) -> None:
        """Write (``bytes``) and delete (``None``) several files as one change.

        Sandboxes over the runner commit all or nothing (:attr:`atomic_writes`): every path is
        checked and every content staged (and fsynced) before one tight loop makes the new
        directories and renames the files into place, so a refused path, a directory in the
        way or a full disk leaves every file as it was, and a sandbox dying mid-call leaves
        either all of the change or none of it. Once the call is sent it is not abandoned:
        cancelling the caller waits for the commit to finish (or fail). This default, for other
        sandboxes, applies the changes one by one with :meth:`write_file` and
        :meth:`delete_file`: after a failure the earlier ones stay, and the caller must undo
        them (as ``apply_patch`` does).

        Args:
            changes: Workspace path to its new bytes, or ``None`` to delete the file.
            modes: Permission bits for written files; default: the existing file's, else
                the sandbox's default for a new file.

        Raises:
            SandboxFileError: A path is refused (``WorkspacePathError``), is a directory, is
                missing (for a delete), or could not be written.
        """
        for path, data in changes.items():
            if data is None:
                await self.delete_file(path)
            else:
                await self.write_file(path, data, mode=(modes or {}).get(path))

    @abc.abstractmethod
    async def stat(self, path: str) -> FileEntry | None:
        """Describe a path without following a final symlink; ``None`` when it does not exist."""

    @abc.abstractmethod
    async def list_dir(self, path: str = ".") -> list[FileEntry]:
        """List a directory's entries (not recursive), sorted by name."""

    def to_dict(self) -> dict[str, Any]:
        """This sandbox's configuration as JSON-ready data, ``{"kind": ..., <options>}``.

        The configuration only, never the state: a started sandbox describes itself as it was
        built, and :func:`~sandloop.sandboxes.description.sandbox_from_dict` makes a new,
        unstarted one. A sandbox class of yours describes itself by overriding this (with
        ``"kind": "module:Class"``) and :meth:`from_dict`.

        Raises:
            ConfigError: this sandbox kind, or one of its options, cannot be described.
        """
        raise ConfigError(
            f"{type(self).__name__} cannot be described as data: give it to_dict() and from_dict()"
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """A new, unstarted sandbox from :meth:`to_dict` output.

        Raises:
            ConfigError: the description is malformed, or this kind cannot be rebuilt.
        """
        raise ConfigError(f"{cls.__name__} cannot be rebuilt from data: give it from_dict()")
