"""The Docker provisioner: one hardened container, booted with the runner's bootstrap.

Create the container (the bootstrap as its entrypoint, behind ``/bin/sh`` so an image without
python3 says so), attach to its stdio, start it, and remove it again; plus the copy-mode archive
transfers and the single ``docker exec`` calls of the exec fallback. The channel is
``_channel.AttachChannel`` over the attach socket. Blocking SDK calls run in worker threads
through a capacity limiter, inside ``_engine.engine_errors`` so every docker exception arrives as
one of ours.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any, Literal, TypeVar, cast

import anyio
import docker
from docker.models.containers import Container

from sandloop.errors import ConfigError, SandboxEngineError, SandboxError
from sandloop.sandboxes import _copy
from sandloop.sandboxes._channel import AttachChannel, MuxSocket
from sandloop.sandboxes._exec_fallback import ExecEngine
from sandloop.sandboxes._hostwalk import clear_setid_bits
from sandloop.sandboxes.docker._address import EngineAddress, is_remote
from sandloop.sandboxes.docker._engine import (
    LABEL,
    VERSION,
    engine_errors,
    own_socket,
    owner_labels,
)
from sandloop.sandboxes.docker._runtime import check_runtime, runtime_options
from sandloop.sandboxes.docker._socket_channel import CONTAINER_DIR, SocketOffer
from sandloop.sandboxes.provisioner import Ask, Boot, Capabilities, Channel, Provisioner

__all__ = ("DockerProvisioner",)

T = TypeVar("T")
#: Seconds aclose() waits for an engine-side removal already under way.
_REMOVAL_WAIT = 10.0
#: Times aclose() asks the engine to remove the container before it gives up.
_REMOVE_ATTEMPTS = 3


class DockerProvisioner(Provisioner):
    """One container of ``image`` with the given limits (see ``DockerSandbox`` for each option).

    The options are plain attributes, read when the container is created. One more than
    ``DockerSandbox`` offers: ``read_only`` makes the container's root filesystem read-only
    (the runner boots from memory, so it still starts; commands write only the workspace and
    ``tmpfs`` mounts).
    """

    def __init__(
        self,
        image: str,
        *,
        workspace: Path | None = None,
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
        read_only: bool = False,
        engine: EngineAddress | None = None,
        client: docker.DockerClient | None = None,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.image, self.workspace, self.mount, self.network = image, workspace, mount, network
        self.runtime, self.user = runtime, user
        self.memory, self.cpus, self.pids, self.cap_add = memory, cpus, pids, tuple(cap_add)
        self.tmpfs, self.env, self.labels = dict(tmpfs or {}), dict(env or {}), dict(labels or {})
        self.read_only = read_only
        self.engine = engine or EngineAddress()
        self.workdir = "/workspace"
        self.container_id: str | None = None
        self._docker = client
        self.own_client = client is None
        self.limiter = limiter
        self._container: Container | None = None
        self._channel: AttachChannel | None = None
        #: Try the Unix-socket channel past dockerd on a local engine (``_socket_channel``).
        self.try_fast_channel = True
        self._offer: SocketOffer | None = None

    @property
    def capabilities(self) -> Capabilities:
        bind = self.workspace is not None and self.mount == "bind"
        return Capabilities(
            copy_mode=True,
            host_restore=bind,
            bind_mount=bind,
            exec_fallback=True,
            run_as_user=True,
        )

    @property
    def host_workspace(self) -> Path | None:
        return self.workspace if self.mount == "bind" else None

    async def _call(self, action: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def work() -> T:
            with engine_errors(action):
                return fn(*args, **kwargs)

        return await anyio.to_thread.run_sync(work, limiter=self.limiter)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, boot: Boot) -> Channel:
        if self._docker is None:
            self._docker = await self._call("connecting to Docker", self.engine.client, 60)
        if self.workspace is not None and self.mount == "bind" and is_remote(self._docker):
            raise ConfigError(
                f"the Docker engine at {self._docker.api.base_url} is on another machine (TCP or "
                "SSH), where this workspace cannot be bind-mounted: use mount='copy'"
            )
        if self.runtime is not None:
            await self._call("checking the runtime", check_runtime, self._docker, self.runtime)
        if self.try_fast_channel and not is_remote(self._docker):
            self._offer = await SocketOffer.open(self.workspace)
        container = await self._call("creating the container", self._create, boot)
        self._container, self.container_id = container, container.id
        sock = await self._call("attaching to the container", self._attach)
        self._channel = AttachChannel(sock)
        await self._call("starting the container", container.start)
        return self._channel

    def _create(self, boot: Boot) -> Container:
        assert self._docker is not None
        with engine_errors("creating the container", image=self.image):
            image = self._docker.images.get(self.image)
        volumes = {}
        if self.workspace is not None and self.mount == "bind":
            volumes[str(self.workspace)] = {"bind": self.workdir, "mode": "rw"}
        if self._offer is not None:
            volumes[str(self._offer.host_dir)] = {"bind": CONTAINER_DIR, "mode": "ro"}
        labels = {LABEL: VERSION, **owner_labels(), **self.labels}
        return self._docker.containers.create(
            image.id or self.image,
            entrypoint=boot.shell_argv(),
            command=[],
            stdin_open=True,
            tty=False,
            user=self._user(image.attrs.get("Config") or {}),
            working_dir=self.workdir,
            environment=self.env,
            labels=labels,
            network_mode="bridge" if self.network else "none",
            cap_drop=["ALL"],
            cap_add=list(self.cap_add) or None,
            security_opt=["no-new-privileges"],
            **runtime_options(self.runtime, pids=self.pids),
            mem_limit=self.memory,
            memswap_limit=self.memory,
            nano_cpus=int(self.cpus * 1e9),
            init=True,
            # Every reply (file contents, command output) crosses the runner's stdout: an
            # engine log would copy all of it to the host's disk. The attach stream still works.
            log_config=docker.types.LogConfig(type="none"),
            tmpfs=self.tmpfs or None,
            read_only=self.read_only,
            volumes=volumes,
            # The engine removes the container once it stops, so nothing is left when this
            # process is killed (the runner exits when its channel closes) or when the engine
            # restarts under a run (it removes stopped auto-remove containers on start).
            auto_remove=True,
        )

    def _user(self, config: Mapping[str, Any]) -> str:
        if self.user is not None:
            return self.user
        if self.workspace is not None and self.mount == "bind":
            # Edits must stay the user's files. For a root host user that means uid 0, which
            # is still confined: no capabilities, no-new-privileges, no network.
            return f"{os.getuid()}:{os.getgid()}"
        image_user = str(config.get("User") or "")
        # "root:root" and "0:1000" are root too: only the user part decides.
        return image_user if image_user.partition(":")[0] not in ("", "root", "0") else "1000:1000"

    def _attach(self) -> socket.socket:
        assert self._docker is not None
        assert self.container_id is not None
        params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        # Nothing is buffered behind the HTTP headers yet: the container has not started.
        return own_socket(self._docker.api.attach_socket(self.container_id, params=params))

    # --- the exec fallback's engine (ExecEngine) ---------------------------------------------

    def exec_engine(self) -> ExecEngine:
        return self

    async def open_exec(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        workdir: str,
        stdin: bool,
        user: str | None = None,
    ) -> tuple[str, MuxSocket]:
        """Start ``argv`` with ``docker exec``; returns its id and its multiplexed socket."""
        docker_client, container_id = self._docker, self.container_id
        if docker_client is None or container_id is None:
            raise SandboxError("DockerSandbox is not started: use `async with sandbox:`")

        def start() -> tuple[str, socket.socket]:
            api = docker_client.api
            created = api.exec_create(
                container_id, argv, stdin=stdin, environment=env, workdir=workdir, user=user or ""
            )
            return created["Id"], own_socket(api.exec_start(created["Id"], socket=True))

        exec_id, sock = await self._call("running a command", start)
        return exec_id, MuxSocket(sock)

    async def exec_exit_code(self, exec_id: str) -> int | None:
        """The exit code of a finished exec (waiting a little for the engine to record it)."""
        assert self._docker is not None
        for _ in range(50):
            info = await self._call("reading an exit code", self._docker.api.exec_inspect, exec_id)
            if not info.get("Running"):
                code = info.get("ExitCode")
                return int(code) if code is not None else None
            await anyio.sleep(0.02)
        return None

    async def fast_channel(self, ask: Ask) -> Channel | None:
        """The Unix socket past dockerd, when the engine is local and the runtime passes it."""
        if self._offer is None:
            return None
        return await self._offer.accept(ask)

    def boot_channel_idle(self) -> None:
        if self._channel is not None:
            self._channel.drain()

    def diagnose(self) -> str:
        said = self._channel.stderr_tail.strip() if self._channel is not None else ""
        return f"container {(self.container_id or '?')[:12]} stopped" + (
            f"; the runner said: {said[-500:]}" if said else ""
        )

    async def aclose(self) -> None:
        """Remove the container: the removal is retried, then the container is killed (the
        engine auto-removes it) and checked gone; a bind-mounted workspace loses the setuid
        and setgid bits the container may have set.

        Raises:
            SandboxError: The container could not be removed (its id is in the message).
        """
        container, self._container = self._container, None
        self._channel = None  # closed by the sandbox
        try:
            with anyio.CancelScope(shield=True):
                if container is not None:
                    await self._remove(container)
                    if self.mount == "bind" and self.workspace is not None:
                        await anyio.to_thread.run_sync(clear_setid_bits, self.workspace)
        finally:
            # Also when the removal failed (the engine went away): no connection left open.
            if self._docker is not None and self.own_client:
                self._docker.close()
                self._docker = None
            offer, self._offer = self._offer, None
            if offer is not None:
                with anyio.CancelScope(shield=True):
                    await offer.aclose()

    async def _remove(self, container: Container) -> None:
        """Remove the container; on an engine error retry, kill it, and check that it is gone."""
        for attempt in range(_REMOVE_ATTEMPTS):
            try:
                await self._call("removing the container", container.remove, force=True)
                return
            except SandboxError as exc:
                status = exc.status if isinstance(exc, SandboxEngineError) else None
                if status == HTTPStatus.NOT_FOUND:
                    return
                if status == HTTPStatus.CONFLICT:
                    # A forced removal conflicts only with one already in progress (the
                    # engine's auto-removal of a stopped container): wait for it to finish.
                    await self._wait_removed(container)
                    return
                failure = exc
            # Stopped, an auto-remove container is removed by the engine itself.
            with suppress(SandboxError):
                await self._call("killing the container", container.kill)
            if await self._gone(container):
                return
            await anyio.sleep(0.2 * (attempt + 1))
        cid = (self.container_id or "?")[:12]
        msg = f"container {cid} could not be removed ({failure}): `sandloop sandboxes prune` it"
        raise SandboxError(msg) from failure

    async def _gone(self, container: Container) -> bool:
        try:
            await self._call("checking the container", container.reload)
        except SandboxError as exc:
            return isinstance(exc, SandboxEngineError) and exc.status == HTTPStatus.NOT_FOUND
        return False

    async def _wait_removed(self, container: Container) -> None:
        """Wait (a bounded time) until the engine has removed the container."""
        with anyio.move_on_after(_REMOVAL_WAIT):
            while True:
                if await self._gone(container):
                    return
                await anyio.sleep(0.05)

    # --- copy mode -----------------------------------------------------------------------

    async def put_tree(self, tar: IO[bytes]) -> None:
        container = self._container
        if container is None:
            raise SandboxError("DockerSandbox is not started: use `async with sandbox:`")
        await self._call("copying the workspace in", container.put_archive, self.workdir, tar)

    async def get_tree(self, limits: _copy.CopyLimits) -> IO[bytes]:
        container = self._container
        if container is None:
            raise SandboxError("DockerSandbox is not started: use `async with sandbox:`")

        def fetch() -> IO[bytes]:
            # docker-py's get_archive() hides the response, so a stream given up half way
            # could not be closed, and the engine holds the container until it is read out.
            api = cast(Any, container.client).api
            url = api._url("/containers/{0}/archive", container.id)
            response = api._get(url, params={"path": self.workdir}, stream=True)
            out = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
            try:  # header by header: a file over a cap stops it before its data is read
                api._raise_for_status(response)
                _copy.copy_capped(response.iter_content(1 << 20, False), out, limits)
            except BaseException:
                out.close()
                raise
            finally:
                response.close()  # also mid-stream: the engine stops sending
            out.seek(0)
            return out

        return await self._call("reading the workspace", fetch)

    def __repr__(self) -> str:
        return f"DockerProvisioner({self.image!r}, container={(self.container_id or '-')[:12]})"
