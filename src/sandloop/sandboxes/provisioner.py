"""Where a sandbox runs: a :class:`Provisioner`, and the :class:`Capabilities` it offers.

A sandbox over the runner is two parts. The *provisioner* makes the isolated environment (a
container, a pod, a local process), starts one process in it and hands back a byte channel to that
process's stdin and stdout; it removes the environment again. The *core*
(``RunnerSandbox(provisioner)``) does everything else, once for every backend: it boots the runner
over that channel, speaks the runner protocol, implements every :class:`~sandloop.Sandbox`
operation, and copy mode and host-side restore on top of the provisioner's few optional parts.

Writing a backend
-----------------

Subclass :class:`Provisioner` and implement three methods:

``async start(boot) -> channel``
    Create and start the environment with ``boot.argv()`` (``python3 -u -c <bootstrap> WORKDIR``)
    as its process, working directory :attr:`Provisioner.workdir`, and return an
    ``anyio.abc.ByteStream`` whose ``send`` writes that process's stdin and whose ``receive``
    reads its stdout (stderr kept apart, for :meth:`Provisioner.diagnose`). Nothing else has to
    be copied in: the core sends the runner through the channel itself (a length-prefixed zip the
    bootstrap saves in a temporary directory of the sandbox and runs), and then waits for its
    hello. ``boot.shell_argv()`` is the same behind ``/bin/sh``: when the image has no python3 it
    prints :data:`NO_PYTHON_MARKER` and stays alive, for a backend that offers an exec fallback.
    Raise :class:`~sandloop.errors.SandboxStartError` (or another ``SandboxError``) when the
    environment cannot be made; the core then calls :meth:`Provisioner.aclose`.

``async aclose()``
    Remove the environment and everything made for it, also after a failed or cancelled start,
    idempotent, and never leaving it behind silently (raise ``SandboxError`` naming it if it
    could not be removed). The core has closed the channel by then.

``capabilities`` (a property)
    What this environment can do beyond the protocol (see :class:`Capabilities`). Each one set
    promises the matching optional method:

    - ``copy_mode``: :meth:`Provisioner.put_tree` and :meth:`Provisioner.get_tree` move the
      workspace as a tar, and the core builds ``diff()``, ``export()``, ``set_baseline()`` and
      ``changes()`` on them;
    - ``host_restore`` / ``bind_mount``: :attr:`Provisioner.host_workspace` is the host
      directory the workspace writes through to;
    - ``exec_fallback`` / ``run_as_user``: :meth:`Provisioner.exec_engine` runs single commands
      without the runner (images without python3; ``exec(user=...)``).

Optionally override :meth:`Provisioner.diagnose` (a sentence on why the channel broke: the
process's stderr, the environment's state) and :meth:`Provisioner.fast_channel` (a second,
faster channel the runner switches to once it said hello, e.g. a Unix socket; with it,
:meth:`Provisioner.boot_channel_idle`, which drains the boot channel after the switch). A public
sandbox class then wraps the core (``class MySandbox(RunnerSandbox)`` whose ``__init__`` builds
the provisioner and calls ``super().__init__(provisioner)``) to give its own constructor,
``to_dict`` and ``from_dict``;
``DockerSandbox`` and ``LocalSandbox`` are written this way.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import anyio.abc

from sandloop.errors import ConfigError

if TYPE_CHECKING:
    from sandloop.sandboxes._copy import CopyLimits
    from sandloop.sandboxes._exec_fallback import ExecEngine

__all__ = ("NO_PYTHON_MARKER", "Ask", "Boot", "Capabilities", "Channel", "Provisioner")

#: A byte stream to the booted process: ``send`` feeds its stdin, ``receive`` reads its stdout.
Channel = anyio.abc.ByteStream
#: One runner request over the current channel: ``await ask(op, args, timeout)`` is its result
#: (``SandboxError`` when the runner refuses it).
Ask = Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]
#: What ``Boot.shell_argv()`` prints instead of starting python when the image has none.
NO_PYTHON_MARKER = b"SANDLOOP-NO-PYTHON"
# Runs the bootstrap ($0) with the workspace ($1) when there is a python3; else says so and stays
# alive, so a backend with an exec fallback can still reach the environment.
_SHELL_BOOT = (
    'if command -v python3 >/dev/null 2>&1; then exec python3 -u -c "$0" "$1"; fi; '
    f"printf {NO_PYTHON_MARKER.decode()}; exec sleep 2147483647"
)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a sandbox can do beyond running commands and touching files.

    Query it as ``sandbox.capabilities.copy_mode`` (never by probing for methods): the methods
    behind a capability a sandbox lacks raise ``ConfigError``.

    Attributes:
        copy_mode: The workspace is a copy of a host directory: ``diff()``, ``diff_bytes()``,
            ``export()``, ``set_baseline()`` and ``changes()`` work.
        host_restore: ``restore_on_host()`` can put workspace files back from the host after
            the sandbox died in mid-change.
        bind_mount: The workspace is a host directory that edits write through to
            (``host_workspace``).
        desktop: ``desktop()`` returns a channel to a virtual display (known once started).
        fast_channel: The channel to the runner bypasses the engine (a Unix socket), once
            started; ``False`` before.
        exec_fallback: When the image has no python3, each call runs as one engine exec.
        run_as_user: ``exec(user=...)`` runs a command as another user.
    """

    copy_mode: bool = False
    host_restore: bool = False
    bind_mount: bool = False
    desktop: bool = False
    fast_channel: bool = False
    exec_fallback: bool = False
    run_as_user: bool = False


@dataclass(frozen=True, slots=True)
class Boot:
    """The first process a provisioner starts: python's bootstrap for the runner.

    Attributes:
        script: The bootstrap's python source (``python3 -c`` takes it).
        workdir: The workspace directory inside the sandbox (the runner's root).
    """

    script: str
    workdir: str

    def argv(self, python: str = "python3") -> list[str]:
        """``python -u -c <bootstrap> WORKDIR``."""
        return [python, "-u", "-c", self.script, self.workdir]

    def shell_argv(self) -> list[str]:
        """The same behind ``/bin/sh``, printing :data:`NO_PYTHON_MARKER` (and staying alive)
        instead when the image has no python3."""
        return ["/bin/sh", "-c", _SHELL_BOOT, self.script, self.workdir]


class Provisioner(abc.ABC):
    """Makes, starts and removes one isolated environment (see the module docstring)."""

    #: The workspace directory inside the environment.
    workdir: str = "/workspace"

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """What the environment can do; may change once started (``fast_channel``)."""

    @abc.abstractmethod
    async def start(self, boot: Boot) -> Channel:
        """Create and start the environment running ``boot``; the channel to its stdio."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Remove the environment. Idempotent; safe after a failed start."""

    def diagnose(self) -> str:
        """Why the channel may have broken, for error messages ("" when nothing is known)."""
        return ""

    @property
    def host_workspace(self) -> Path | None:
        """The host directory the workspace writes through to, or ``None``."""
        return None

    async def put_tree(self, tar: IO[bytes]) -> None:
        """Copy mode: unpack ``tar`` (members relative to the workspace) into the workspace."""
        raise ConfigError(f"{type(self).__name__} has no copy mode")

    async def get_tree(self, limits: CopyLimits) -> IO[bytes]:
        """Copy mode: the workspace as a tar, its members under one top directory (the
        workspace's own name), read within ``limits``; the caller closes it."""
        raise ConfigError(f"{type(self).__name__} has no copy mode")

    async def fast_channel(self, ask: Ask) -> Channel | None:
        """A faster channel than the boot channel, offered once the runner said hello on it,
        or ``None`` (the default: the boot channel is all there is).

        A provisioner that can do better (a Unix socket past the engine) prepares it and asks
        the runner to ``connect`` (``ask("connect", {"path": ..., "token": ...}, timeout)``:
        the runner connects to the Unix socket at ``path`` inside the sandbox, sends the
        base64-decoded ``token`` first, and then serves it as a second channel). It returns the
        accepted stream after checking the token, or ``None`` on any failure: the sandbox then
        stays on the boot channel.
        """
        return None

    def boot_channel_idle(self) -> None:
        """Called once the runner serves the :meth:`fast_channel`: the boot channel stays open
        (the runner's lifeline) but nobody reads it any more. A provisioner whose boot channel
        also carries the sandbox's stderr, or could fill up, drains it from now on (keeping
        what :meth:`diagnose` shows); the default does nothing."""
        return None

    def exec_engine(self) -> ExecEngine | None:
        """Single commands without the runner (exec fallback, another user), or ``None``."""
        return None
