"""DockerSandbox: one hardened container running the runner.

The container is made by ``DockerProvisioner`` (``_provisioner``); the runner protocol, copy
mode, host-side restore and every Sandbox operation come from the core
(``_runner_backed.RunnerSandbox``). This class is the public face: its options, their checks,
and its description as data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Self

import anyio
import docker

from sandloop.errors import ConfigError
from sandloop.sandboxes import _copy
from sandloop.sandboxes._runner_backed import RunnerSandbox
from sandloop.sandboxes.description import build_from, options_of
from sandloop.sandboxes.docker._address import EngineAddress
from sandloop.sandboxes.docker._provisioner import DockerProvisioner
from sandloop.sandboxes.docker._runtime import check_options
from sandloop.sandboxes.images import image_tag

__all__ = ("DEFAULT_IMAGE", "DockerSandbox")

#: The image DockerSandbox uses by default; `sandloop images build` makes it.
DEFAULT_IMAGE = image_tag("base")


class DockerSandbox(RunnerSandbox):
    """A hardened Docker container with the runner inside; an async context manager.

    Hardened by default: no network, every capability dropped, ``no-new-privileges``, pids,
    memory and CPU limits, an init process, a non-root user, none of the host's environment.
    Each default is loosened only by an explicit option.

    Args:
        image: Image to run (default ``sandloop/base:<version>``).
        workspace: Host directory for ``/workspace``. ``None``: the image's own ``/workspace``.
        mount: ``"bind"`` mounts ``workspace`` (edits land in it, files stay the host user's);
            ``"copy"`` copies it in and leaves the host tree untouched: see :meth:`diff` and
            :meth:`export`.
        network: Give the container the default bridge network (off by default).
        runtime: The engine's OCI runtime to run under, e.g. ``"runsc"`` for gVisor (default:
            the engine's default, usually runc). gVisor sandboxes have no network, and their
            ``pids`` limit is counted by gVisor's kernel (see SECURITY.md).
        user: ``uid:gid`` or name to run as. Default: with a bind mount, the host user's
            ``uid:gid`` (uid 0 when the host user is root, still without any capability);
            otherwise the image's user, or ``1000:1000`` when that is root.
        memory: Memory limit (bytes, or docker syntax such as ``"2g"``); swap is not added.
        cpus: CPU limit (fractional cores).
        pids: Maximum number of processes (fork bombs stop here).
        cap_add: Capabilities to give back after dropping all.
        tmpfs: Size-limited in-memory file systems to mount, by path, with mount options
            (``{"/tmp": "size=64m"}``); what is written there counts against ``memory``.
        env: Environment variables for the container (nothing from the host passes).
        labels: Extra labels.
        start_timeout: Seconds to wait for the runner to start.
        max_file_size: Copy mode: the largest file copied in or out (bytes, apparent size, so
            a sparse file counts whole; default 128 MiB).
        max_total_size: Copy mode: the most file bytes copied in or out at once (default
            2 GiB). Over either cap the copy stops with ``WorkspaceTooLargeError``.
        docker_host: The engine: ``tcp://host:2376`` or ``unix:///path`` (``ssh://`` not yet)
            (default: ``DOCKER_HOST`` and the other standard variables, else the local socket).
            On an engine over TCP or SSH, the workspace can only be copied (``mount="copy"``).
        tls: With a ``tcp://`` ``docker_host``: ``True`` for TLS with the certificates in
            ``DOCKER_CERT_PATH`` (default ``~/.docker``), or the path of a directory holding
            ``ca.pem``, ``cert.pem`` and ``key.pem``. Only the path is described, never keys.
        client: A ``docker.DockerClient`` to use (default: from ``docker_host`` / ``tls``).
        limiter: Bounds concurrent blocking engine calls (shared by a pool).
    """

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        *,
        workspace: str | os.PathLike[str] | None = None,
        mount: Literal["bind", "copy"] = "bind",
        network: bool = False,
        runtime: str | None = None,
        user: str | None = None,
        memory: int | str = "2g",
        cpus: float = 2.0,
        pids: int = 512,
        cap_add: Sequence[str] = (),
        tmpfs: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        max_file_size: int = _copy.DEFAULT_MAX_FILE_SIZE,
        max_total_size: int = _copy.DEFAULT_MAX_TOTAL_SIZE,
        docker_host: str | None = None,
        tls: bool | str | None = None,
        client: docker.DockerClient | None = None,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        if mount not in ("bind", "copy"):
            raise ConfigError(f"mount must be 'bind' or 'copy', not {mount!r}")
        # Described as given (sandbox descriptions keep paths as the user wrote them).
        self._workspace_given = os.fspath(workspace) if workspace is not None else None
        self.workspace = Path(workspace).expanduser().resolve() if workspace is not None else None
        if self.workspace is not None and not self.workspace.is_dir():
            raise ConfigError(f"workspace {str(workspace)!r} is not a directory")
        if mount == "copy" and self.workspace is None:
            raise ConfigError("mount='copy' needs a workspace to copy")
        check_options(runtime, network=network)
        provisioner = DockerProvisioner(
            image,
            workspace=self.workspace,
            mount=mount,
            network=network,
            runtime=runtime,
            user=user,
            memory=memory,
            cpus=cpus,
            pids=pids,
            cap_add=cap_add,
            tmpfs=tmpfs or {},
            env=env or {},
            labels=labels or {},
            engine=EngineAddress(docker_host, tls),
            client=client,
            limiter=limiter,
        )
        self.copy_limits = _copy.CopyLimits(max_file_size, max_total_size)
        super().__init__(
            provisioner,
            copy_from=self.workspace if mount == "copy" else None,
            copy_limits=self.copy_limits,
            start_timeout=start_timeout,
        )
        self._docker_provisioner = provisioner

    @property
    def image(self) -> str:
        """The image the container runs."""
        return self._docker_provisioner.image

    @property
    def mount(self) -> Literal["bind", "copy"]:
        """How the workspace reaches the container."""
        return self._docker_provisioner.mount

    @property
    def network(self) -> bool:
        """Whether the container has the default bridge network."""
        return self._docker_provisioner.network

    @property
    def runtime(self) -> str | None:
        """The OCI runtime (``None``: the engine's default)."""
        return self._docker_provisioner.runtime

    @property
    def user(self) -> str | None:
        """The user asked for (``None``: the default rule)."""
        return self._docker_provisioner.user

    @property
    def memory(self) -> int | str:
        """The memory limit."""
        return self._docker_provisioner.memory

    @property
    def cpus(self) -> float:
        """The CPU limit (cores)."""
        return self._docker_provisioner.cpus

    @property
    def pids(self) -> int:
        """The process limit."""
        return self._docker_provisioner.pids

    @property
    def cap_add(self) -> tuple[str, ...]:
        """Capabilities given back after dropping all."""
        return self._docker_provisioner.cap_add

    @property
    def tmpfs(self) -> dict[str, str]:
        """In-memory file systems, by path."""
        return self._docker_provisioner.tmpfs

    @property
    def env(self) -> dict[str, str]:
        """The container's environment."""
        return self._docker_provisioner.env

    @property
    def labels(self) -> dict[str, str]:
        """Extra labels."""
        return self._docker_provisioner.labels

    @property
    def engine(self) -> EngineAddress:
        """Where the engine is."""
        return self._docker_provisioner.engine

    @property
    def container_id(self) -> str | None:
        """The container's id once created, else ``None``."""
        return self._docker_provisioner.container_id

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "docker", ...}``: every option, the workspace as given.

        Raises:
            ConfigError: the sandbox was given a ``client=`` or ``limiter=``: live objects
                of this process, not data.
        """
        if not self._docker_provisioner.own_client or self._docker_provisioner.limiter is not None:
            given = "client=" if not self._docker_provisioner.own_client else "limiter="
            raise ConfigError(
                f"a DockerSandbox built with {given} cannot be described: it is a live object "
                "of this process; leave it out (the engine then comes from DOCKER_HOST where "
                "the sandbox is rebuilt)"
            )
        return {
            "kind": "docker",
            "image": self.image,
            "workspace": self._workspace_given,
            "mount": self.mount,
            "network": self.network,
            "runtime": self.runtime,
            "user": self.user,
            "memory": self.memory,
            "cpus": self.cpus,
            "pids": self.pids,
            "cap_add": list(self.cap_add),
            "tmpfs": dict(self.tmpfs),
            "env": dict(self.env),
            "labels": dict(self.labels),
            "start_timeout": self.start_timeout,
            "docker_host": self.engine.host,
            "tls": self.engine.tls,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """A new, unstarted ``DockerSandbox`` from :meth:`to_dict` output.

        Raises:
            ConfigError: the description is malformed, or names ``client`` or ``limiter``,
                or its workspace is not a directory here.
        """
        options = options_of(data, "docker", cls)
        live = sorted({"client", "limiter"} & set(options))
        if live:
            raise ConfigError(f"a 'docker' sandbox description cannot give {', '.join(live)}")
        return build_from(cls, options)

    def __repr__(self) -> str:
        where = (
            f", workspace={str(self.workspace)!r}, mount={self.mount!r}" if self.workspace else ""
        )
        return f"DockerSandbox({self.image!r}{where})"
