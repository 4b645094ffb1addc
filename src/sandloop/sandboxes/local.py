"""LocalSandbox: the runner as a plain local subprocess. NOT isolated.

Commands run on the host as the current user, with the host's filesystem and network; only the
file operations are confined to ``root``. Use it for trusted code and fast tests. It speaks the
same protocol as ``DockerSandbox`` (the channel is the subprocess's pipes).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Self

import anyio
import anyio.abc

from sandloop.errors import ConfigError, SandboxStartError
from sandloop.sandboxes._fd_stream import FdStream
from sandloop.sandboxes._runner_backed import RunnerSandbox
from sandloop.sandboxes.description import build_from, options_of
from sandloop.sandboxes.provisioner import Boot, Capabilities, Channel, Provisioner

__all__ = ("LocalProvisioner", "LocalSandbox")

#: Host variables a local command gets; everything else (API keys above all) stays out.
_PASSED_THROUGH = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "TERM")


class LocalProvisioner(Provisioner):
    """The bootstrap as a local subprocess of ``python`` in ``root``; its pipes are the channel.

    Args:
        root: The workspace directory (absolute).
        python: The interpreter.
        env: Variables the process gets on top of a minimal set copied from the host when it
            starts (``PATH``, ``HOME``, ``LANG``...); nothing else of the host's environment.
    """

    def __init__(self, root: Path, *, python: str, env: Mapping[str, str]) -> None:
        self.root = root
        self.workdir = str(root)
        self.python = python
        self.env = dict(env)
        self._process: anyio.abc.Process | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    @property
    def host_workspace(self) -> Path | None:
        return self.root

    def environment(self) -> dict[str, str]:
        """The process's environment, as of now."""
        env = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
        env.setdefault("LANG", "C.UTF-8")
        env.update(self.env)
        return env

    async def start(self, boot: Boot) -> Channel:
        # A file, not a pipe: nobody has to drain it, and it explains a crash afterwards.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in aclose()
        # Plain pipes read and written by the channel itself (``FdStream``), not asyncio's
        # transports: a round trip is two small frames, and their overhead is most of it.
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        try:
            self._process = await anyio.open_process(
                boot.argv(self.python),
                stdin=stdin_r,
                stdout=stdout_w,
                stderr=self._stderr,
                env=self.environment(),
                cwd=self.workdir,
            )
        except OSError as exc:
            for fd in (stdin_w, stdout_r):
                os.close(fd)
            raise SandboxStartError(f"could not start {self.python}: {exc}") from exc
        finally:
            for fd in (stdin_r, stdout_w):
                os.close(fd)
        return FdStream(stdout_r, stdin_w)

    def diagnose(self) -> str:
        code = self._process.returncode if self._process is not None else None
        tail = b""
        if self._stderr is not None:
            self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, self._stderr.tell() - 2000))
            tail = self._stderr.read()
        said = f"; it said: {tail.decode('utf-8', 'replace').strip()}" if tail.strip() else ""
        return f"runner exit status {code}{said}"

    @property
    def pid(self) -> int | None:
        """The bootstrap's (the runner's) process id while it runs."""
        return self._process.pid if self._process is not None else None

    async def aclose(self) -> None:
        process, self._process = self._process, None
        try:
            with anyio.CancelScope(shield=True):
                if process is not None:
                    with anyio.move_on_after(5):
                        await process.wait()
                    if process.returncode is None:
                        process.kill()
                        await process.wait()
                    await process.aclose()
        finally:
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def __repr__(self) -> str:
        return f"LocalProvisioner({self.workdir!r})"


class LocalSandbox(RunnerSandbox):
    """Runs commands in a local subprocess rooted at ``root``. NOT an isolation boundary.

    Args:
        root: The workspace directory; ``workdir`` is its absolute path.
        python: The interpreter that runs the runner (default: the running one, also when
            rebuilt from a description in another process).
        env: Variables every command gets, on top of a minimal set copied from the host
            (``PATH``, ``HOME``, ``LANG``...). Nothing else of the host's environment passes.
        start_timeout: Seconds to wait for the runner to start.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        path = Path(root).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(f"LocalSandbox root {str(root)!r} is not a directory")
        self.root = path
        self._given = {"root": os.fspath(root), "python": python}
        self._env = dict(env or {})
        self._local = LocalProvisioner(path, python=python or sys.executable, env=self._env)
        super().__init__(self._local, start_timeout=start_timeout)

    def _environment(self) -> dict[str, str]:
        """The environment the runner (and every command) starts with, as of now."""
        return self._local.environment()

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "local", ...}``: the root as given, and every option."""
        return {
            "kind": "local",
            **self._given,
            "env": dict(self._env),
            "start_timeout": self.start_timeout,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """A new, unstarted ``LocalSandbox`` from :meth:`to_dict` output.

        Raises:
            ConfigError: the description is malformed or its root is not a directory here.
        """
        options = options_of(data, "local", cls)
        if "root" not in options:
            raise ConfigError("a 'local' sandbox description needs its 'root'")
        return build_from(cls, options)

    def __repr__(self) -> str:
        return f"LocalSandbox(root={self.workdir!r})"
