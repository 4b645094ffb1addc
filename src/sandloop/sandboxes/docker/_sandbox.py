"""DockerSandbox: one hardened container running the runner; the provisioner half.

Create, copy the runner in, attach, start, remove (plus copy-mode transfers). The channel is
``_channel.AttachChannel`` over the attach socket; the runner protocol and every Sandbox operation
come from ``_runner_backed``. Blocking SDK calls run in worker threads through a capacity limiter,
inside ``_engine.engine_errors`` so every docker exception arrives as one of ours.
"""

from __future__ import annotations

import io
import os
import socket
import tarfile
import tempfile
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import suppress
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any, Literal, Self, TypeVar, cast

import anyio
import docker
from docker.models.containers import Container

from sandloop.errors import (
    ConfigError,
    SandboxEngineError,
    SandboxError,
    SandboxFileError,
    SandboxStartError,
)
from sandloop.sandboxes import _copy
from sandloop.sandboxes._channel import AttachChannel, MuxSocket
from sandloop.sandboxes._exec_fallback import ExecFallbackClient
from sandloop.sandboxes._hostwalk import clear_setid_bits
from sandloop.sandboxes._protocol import RunnerClient, RunnerMissingError
from sandloop.sandboxes._runner_backed import RunnerSandbox, exec_result
from sandloop.sandboxes._runner_program import runner_zip
from sandloop.sandboxes.base import ExecResult, WorkspaceChanges
from sandloop.sandboxes.description import build_from, options_of
from sandloop.sandboxes.docker._address import EngineAddress, is_remote
from sandloop.sandboxes.docker._engine import (
    LABEL,
    VERSION,
    engine_errors,
    own_socket,
    owner_labels,
)
from sandloop.sandboxes.docker._runtime import check_options, check_runtime, runtime_options
from sandloop.sandboxes.images import image_tag
from sandloop.sandboxes.local import LocalSandbox

__all__ = ("DEFAULT_IMAGE", "DockerSandbox")

#: The image DockerSandbox uses by default; `sandloop images build` makes it.
DEFAULT_IMAGE = image_tag("base")
# Start the runner when the image has python3; otherwise say so on stdout and stay alive, so the
# sandbox can fall back to one `docker exec` per call.
_BOOT = (
    'if command -v python3 >/dev/null 2>&1; then exec python3 -u /.sandloop/runner.zip "$1"; fi; '
    "printf SANDLOOP-NO-PYTHON; exec sleep 2147483647"
)
T = TypeVar("T")


def _tar_of(files: Mapping[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


#: Seconds aclose() waits for an engine-side removal already under way.
_REMOVAL_WAIT = 10.0
#: Times aclose() asks the engine to remove the container before it gives up.
_REMOVE_ATTEMPTS = 3


async def _attempt(failures: list[Exception], step: Coroutine[Any, Any, None]) -> bool:
    """Run one teardown step; a failure is noted (the caller raises it after the last step)."""
    try:
        await step
    except Exception as exc:  # teardown goes on whatever broke; every failure is reported
        failures.append(exc)
        return False
    return True


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
        self.image, self.mount, self.network, self.user = image, mount, network, user
        self.runtime = runtime
        self.memory, self.cpus, self.pids, self.cap_add = memory, cpus, pids, tuple(cap_add)
        self.tmpfs = dict(tmpfs or {})
        self.env, self.labels = dict(env or {}), dict(labels or {})
        self.start_timeout = start_timeout
        self.copy_limits = _copy.CopyLimits(max_file_size, max_total_size)
        self.engine = EngineAddress(docker_host, tls)
        self.workdir = "/workspace"
        self.container_id: str | None = None
        self._docker = client
        self._own_client = client is None
        self._limiter = limiter
        self._container: Container | None = None
        self._channel: AttachChannel | None = None
        self._baseline: IO[bytes] | None = None
        self._baseline_strip = 0  # leading path components of the baseline tar's member names

    async def _call(self, action: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def work() -> T:
            with engine_errors(action):
                return fn(*args, **kwargs)

        return await anyio.to_thread.run_sync(work, limiter=self._limiter)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._client is not None:
            return
        self._bind_loop()
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise

    async def _start(self) -> None:
        if self._docker is None:
            self._docker = await self._call("connecting to Docker", self.engine.client, 60)
        if self.workspace is not None and self.mount == "bind" and is_remote(self._docker):
            raise ConfigError(
                f"the Docker engine at {self._docker.api.base_url} is on another machine (TCP or "
                "SSH), where this workspace cannot be bind-mounted: use mount='copy'"
            )
        if self.runtime is not None:
            await self._call("checking the runtime", check_runtime, self._docker, self.runtime)
        container = await self._call("creating the container", self._create)
        self._container, self.container_id = container, container.id
        tar = _tar_of({".sandloop/": (b"", 0o755), ".sandloop/runner.zip": (runner_zip(), 0o644)})
        await self._call("copying the runner in", container.put_archive, "/", tar)
        sock = await self._call("attaching to the container", self._attach)
        self._channel = AttachChannel(sock)
        await self._call("starting the container", container.start)
        client = RunnerClient(self._channel, diagnose=self._diagnose)
        try:
            await client.handshake(timeout=self.start_timeout)
            self._client = client
        except RunnerMissingError:  # no python3 in the image: one `docker exec` per call
            await self._channel.aclose()
            self._channel = None
            fallback = ExecFallbackClient(self, workdir=self.workdir)
            # It serves RunnerClient's interface (call, hello, aclose) over `docker exec`.
            self._client = cast(RunnerClient, fallback)
            ids = await self.exec(["sh", "-c", "id -u; id -g"])
            uid, gid = ids.stdout.split()
            fallback.hello.update(uid=int(uid), gid=int(gid))
        if self.mount == "copy":
            # The hello of whichever client serves (the fallback's after a missing python3).
            hello = self._runner().hello
            await self._copy_in(int(hello.get("uid", 1000)), int(hello.get("gid", 1000)))

    def _create(self) -> Container:
        assert self._docker is not None
        with engine_errors("creating the container", image=self.image):
            image = self._docker.images.get(self.image)
        volumes = {}
        if self.workspace is not None and self.mount == "bind":
            volumes[str(self.workspace)] = {"bind": self.workdir, "mode": "rw"}
        labels = {LABEL: VERSION, **owner_labels(), **self.labels}
        return self._docker.containers.create(
            image.id or self.image,
            entrypoint=["/bin/sh", "-c", _BOOT, "sh", self.workdir],
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

    async def _run_as_user(self, user: str, request: dict[str, Any]) -> ExecResult:
        """Another user needs its own process: one `docker exec -u USER` (the runner cannot
        switch users: every capability is dropped)."""
        client = ExecFallbackClient(self, workdir=self.workdir, user=user)
        return exec_result(await client.call("exec", request))

    # --- the exec fallback's engine (ExecEngine) ---------------------------------------------

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

    def _diagnose(self) -> str:
        said = self._channel.stderr_tail.strip() if self._channel is not None else ""
        return f"container {(self.container_id or '?')[:12]} stopped" + (
            f"; the runner said: {said[-500:]}" if said else ""
        )

    async def aclose(self) -> None:
        """Close the channel and remove the container, whatever fails first.

        Each step runs even when one before it failed (the runner was stopped or garbled its
        channel, closing the channel raised, the engine refused a removal): the removal is
        retried, then the container is killed (the engine auto-removes it) and checked gone.

        Raises:
            SandboxError: After every step has run, when one failed: the container could not
                be removed (its id is in the message), or closing the channel failed.
        """
        client, self._client = self._client, None
        container, self._container = self._container, None
        failures: list[Exception] = []
        try:
            with anyio.CancelScope(shield=True):
                await _attempt(failures, self._close_channel(client))
                removed = container is not None and await _attempt(
                    failures, self._remove(container)
                )
                if removed and self.mount == "bind" and self.workspace is not None:
                    await anyio.to_thread.run_sync(clear_setid_bits, self.workspace)
        finally:
            # Also when the removal failed (the engine went away): no connection left open.
            if self._docker is not None and self._own_client:
                self._docker.close()
                self._docker = None
            if self._baseline is not None:
                self._baseline.close()
                self._baseline, self._baseline_strip = None, 0
        if failures:
            # The last step's failure: a container left behind outranks a channel closed badly.
            last = failures[-1]
            if isinstance(last, SandboxError):
                raise last
            raise SandboxError(f"closing the sandbox failed: {last}") from last

    async def _close_channel(self, client: RunnerClient | None) -> None:
        try:
            if client is not None:
                await client.aclose(timeout=1.0)
        finally:
            channel, self._channel = self._channel, None
            if channel is not None:
                await channel.aclose()

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

    async def restore_on_host(self, files: Mapping[str, tuple[bytes | None, int | None]]) -> bool:
        """Put workspace files back from the host, when the container died in mid-change.

        Only a bind-mounted workspace is reachable without the container. Paths are confined
        to it exactly as the runner confines them (no ``..``, no symlink leading out).

        Args:
            files: Workspace-relative path to (the bytes it held, or ``None`` to delete it;
                its permission bits).

        Returns:
            ``False`` when the workspace is not on the host (nothing was done).
        """
        if self.mount != "bind" or self.workspace is None:
            return False
        # The runner's own file operations, run on the host over the bind-mounted directory:
        # the same confinement as inside the container.
        async with LocalSandbox(self.workspace) as host:
            for path, (data, mode) in files.items():
                try:
                    if data is None:
                        await host.delete_file(path)
                    else:
                        await host.write_file(path, data, mode=mode)
                except SandboxFileError:
                    continue  # already as it was (a new file that never landed), or refused
        return True

    # --- copy mode -----------------------------------------------------------------------

    async def _copy_in(self, uid: int, gid: int) -> None:
        assert self.workspace is not None
        assert self._container is not None
        workspace = self.workspace
        baseline = tempfile.TemporaryFile()  # noqa: SIM115 - kept until aclose()
        self._baseline = baseline
        try:
            await anyio.to_thread.run_sync(
                lambda: _copy.pack_tree(
                    workspace, baseline, uid=uid, gid=gid, limits=self.copy_limits
                )
            )
        except OSError as exc:
            raise SandboxStartError(f"could not copy the workspace {workspace}: {exc}") from exc
        baseline.seek(0)
        await self._call(
            "copying the workspace in", self._container.put_archive, self.workdir, baseline
        )

    async def _fetch_tree(self) -> IO[bytes]:
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
                _copy.copy_capped(response.iter_content(1 << 20, False), out, self.copy_limits)
            except BaseException:
                out.close()
                raise
            finally:
                response.close()  # also mid-stream: the engine stops sending
            out.seek(0)
            return out

        return await self._call("reading the workspace", fetch)

    async def diff(self, *, exclude: Sequence[str] = _copy.DEFAULT_DIFF_EXCLUDE) -> str:
        """The edits made in the container, as a git-style unified diff (copy mode only).

        For reading: bytes that are not UTF-8 show as U+FFFD. To save or ``git apply`` the
        patch, use :meth:`diff_bytes`.

        Args:
            exclude: Top-level paths left out (default ``.git``).
        """
        return (await self.diff_bytes(exclude=exclude)).decode("utf-8", "replace")

    async def diff_bytes(self, *, exclude: Sequence[str] = _copy.DEFAULT_DIFF_EXCLUDE) -> bytes:
        """The edits made in the container, as the exact bytes of a git-style patch.

        Odd file names (newlines, tabs, quotes, bytes that are not UTF-8) are quoted the way
        git quotes them, so ``git apply`` takes it. Files and the tree are capped by
        ``max_file_size`` / ``max_total_size`` (``WorkspaceTooLargeError``).

        Args:
            exclude: Top-level paths left out (default ``.git``).
        """
        if self.mount != "copy" or self._baseline is None:
            raise ConfigError("diff() needs a started sandbox with mount='copy'")
        baseline, strip = self._baseline, self._baseline_strip
        current = await self._fetch_tree()

        def compare() -> bytes:
            baseline.seek(0)
            with tarfile.open(fileobj=baseline) as old, tarfile.open(fileobj=current) as new:
                return _copy.diff_trees(
                    old,
                    _copy.index_tar(old, strip=strip),
                    new,
                    _copy.index_tar(new, strip=1),
                    exclude=exclude,
                )

        try:
            return await anyio.to_thread.run_sync(compare)
        finally:
            current.close()

    @property
    def host_workspace(self) -> Path | None:
        return self.workspace if self.mount == "bind" else None

    async def set_baseline(self) -> None:
        """From now on, :meth:`diff` and :meth:`changes` compare against the workspace as it is
        now, not as it was copied in (copy mode only).

        A batch task calls it after its setup commands, so its patch holds the agent's edits
        only, and a resumed task's journaled changes apply on top of the same setup again.
        """
        if self.mount != "copy" or self._baseline is None:
            raise ConfigError("set_baseline() needs a started sandbox with mount='copy'")
        current = await self._fetch_tree()
        self._baseline.close()
        self._baseline, self._baseline_strip = current, 1

    async def changes(self) -> WorkspaceChanges | None:
        """The copy's edits so far (``diff()`` and its paths); ``None`` in bind mode."""
        if self.mount != "copy" or self._baseline is None:
            return None
        return WorkspaceChanges.of(await self.diff())

    async def export(self, path: str | os.PathLike[str]) -> None:
        """Write the container's workspace into ``path`` (a new or empty directory)."""
        current = await self._fetch_tree()
        dest = Path(path)

        def extract() -> None:
            with tarfile.open(fileobj=current) as tar:
                _copy.extract_tree(tar, dest, strip=1)

        try:
            await anyio.to_thread.run_sync(extract)
        except FileExistsError as exc:
            raise ConfigError(str(exc)) from exc
        except (tarfile.TarError, OSError) as exc:  # e.g. a link pointing out of `path`
            raise SandboxError(f"could not export the workspace to {dest}: {exc}") from exc
        finally:
            current.close()

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "docker", ...}``: every option, the workspace as given.

        Raises:
            ConfigError: the sandbox was given a ``client=`` or ``limiter=``: live objects
                of this process, not data.
        """
        if not self._own_client or self._limiter is not None:
            given = "client=" if not self._own_client else "limiter="
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
