"""KubernetesSandbox: one hardened pod running the runner, reached through pods/attach.

Part of ``sandboxes.kubernetes``, the provisioner half: create the network policy and the pod
(``_podspec``), wait for it (``_api``, with its own create deadline), attach (``_attach``), boot
the runner over the channel, copy the workspace in (``_workspace``), and delete everything on
close, on error and on cancellation. The runner protocol and every Sandbox operation come from
``_runner_backed``. Blocking client calls run in worker threads through a capacity limiter.

The pod runs ``python3 -c _BOOT``, which reads the runner program from its stdin (a 4-byte length
and the source) and runs it: nothing is copied into the pod by another route, so any image with
``python3`` works, with no volume and no exec permission needed.
"""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

import anyio

from sandloop.errors import ConfigError, SandboxError
from sandloop.sandboxes import _copy
from sandloop.sandboxes._protocol import RunnerClient
from sandloop.sandboxes._runner_backed import RUNNER_PATH, RunnerSandbox
from sandloop.sandboxes.base import WorkspaceChanges
from sandloop.sandboxes.description import build_from, options_of
from sandloop.sandboxes.images import image_tag, package_version
from sandloop.sandboxes.kubernetes import _podspec
from sandloop.sandboxes.kubernetes._api import Cluster, context_namespace, load_configuration
from sandloop.sandboxes.kubernetes._attach import AttachChannel, connect_attach
from sandloop.sandboxes.kubernetes._workspace import CopiedWorkspace

__all__ = ("DEFAULT_IMAGE", "KubernetesSandbox")

DEFAULT_IMAGE = image_tag("base")
T = TypeVar("T")
# Reads exactly the runner's source from fd 0 (os.read: nothing after it is consumed), then runs
# it as the runner's main program with the workspace as its argument.
_BOOT = (
    "import os,struct,sys\n"
    "def r(n):\n"
    " b=b''\n"
    " while len(b)<n:\n"
    "  c=os.read(0,n-len(b))\n"
    "  if not c: sys.exit('sandloop: the runner never arrived')\n"
    "  b+=c\n"
    " return b\n"
    "s=r(struct.unpack('>I',r(4))[0])\n"
    "sys.argv=['/.sandloop/runner.py']+sys.argv[1:]\n"
    "exec(compile(s,'/.sandloop/runner.py','exec'),{'__name__':'__main__'})\n"
)


async def _attempt(failures: list[Exception], step: Coroutine[Any, Any, None]) -> None:
    try:
        await step
    except Exception as exc:  # teardown goes on whatever broke; every failure is reported
        failures.append(exc)


class KubernetesSandbox(RunnerSandbox):
    """A hardened Kubernetes pod with the runner inside; an async context manager.

    Hardened by default as ``DockerSandbox`` is: a non-root user, every capability dropped, no
    privilege escalation, seccomp ``RuntimeDefault``, no service-account token, CPU, memory and
    ephemeral-storage limits, an active deadline, sandloop's labels, and a deny-all network
    policy unless ``network=True`` (it takes effect only where the cluster's network plugin
    enforces policies). The workspace is copied in and out over the runner's channel.

    Args:
        image: Image to run (default ``sandloop/base:<version>``); it needs ``python3`` and
            ``tar``, and must be pullable by the cluster.
        workspace: Host directory copied into ``/workspace`` (see :meth:`diff`,
            :meth:`export`). ``None``: the image's own ``/workspace``.
        namespace: Namespace of the pod (default: the kubeconfig context's, else
            ``default``).
        network: Leave the pod's network open (no network policy is created).
        runtime_class: The pod's RuntimeClass, e.g. ``"gvisor"``.
        user: ``uid:gid`` to run as (never root: the pod has ``runAsNonRoot``).
        memory: Memory limit, a Kubernetes quantity (``"2Gi"``) or bytes.
        cpus: CPU limit (fractional cores).
        ephemeral_storage: Local disk limit (the container's writable layer and logs).
        active_deadline: Seconds after which Kubernetes stops the pod, whatever runs.
        cap_add: Capabilities to give back after dropping all.
        env: Environment variables for the pod.
        labels: Extra labels on the pod and its policy.
        image_pull_policy: ``IfNotPresent``, ``Always`` or ``Never``.
        create_timeout: Seconds the pod may take to be running (scheduling, image pull):
            separate from command timeouts.
        start_timeout: Seconds to attach and for the runner to say hello.
        max_file_size: Copy caps, as for ``DockerSandbox`` (and at most 256 MiB per transfer
            over the channel).
        max_total_size: See ``max_file_size``.
        kubeconfig: Path of a kubeconfig (default ``$KUBECONFIG``, ``~/.kube/config``, else the
            in-cluster service account).
        context: The kubeconfig context (default: its current one).
        limiter: Bounds concurrent blocking API calls (shared by a pool).
    """

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        *,
        workspace: str | os.PathLike[str] | None = None,
        namespace: str | None = None,
        network: bool = False,
        runtime_class: str | None = None,
        user: str = "1000:1000",
        memory: int | str = "2Gi",
        cpus: float = 2.0,
        ephemeral_storage: int | str = "4Gi",
        active_deadline: int = 24 * 3600,
        cap_add: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        image_pull_policy: str = "IfNotPresent",
        create_timeout: float = 300.0,
        start_timeout: float = 60.0,
        max_file_size: int = _copy.DEFAULT_MAX_FILE_SIZE,
        max_total_size: int = _copy.DEFAULT_MAX_TOTAL_SIZE,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        self._workspace_given = os.fspath(workspace) if workspace is not None else None
        self.workspace = Path(workspace).expanduser().resolve() if workspace is not None else None
        if self.workspace is not None and not self.workspace.is_dir():
            raise ConfigError(f"workspace {str(workspace)!r} is not a directory")
        self.uid, self.gid = _parse_user(user)
        self.image, self.namespace, self.network, self.user = image, namespace, network, user
        self._namespace_option = namespace  # described as given; `namespace` is resolved
        self.runtime_class, self.memory, self.cpus = runtime_class, memory, float(cpus)
        self.ephemeral_storage, self.active_deadline = ephemeral_storage, int(active_deadline)
        self.cap_add, self.env, self.labels = tuple(cap_add), dict(env or {}), dict(labels or {})
        self.image_pull_policy = image_pull_policy
        self.create_timeout, self.start_timeout = float(create_timeout), float(start_timeout)
        self.copy_limits = _copy.CopyLimits(max_file_size, max_total_size)
        self.kubeconfig = os.fspath(kubeconfig) if kubeconfig is not None else None
        self.context = context
        self.workdir = "/workspace"
        self.pod_name: str | None = None
        self._limiter = limiter
        self._cluster: Cluster | None = None
        self._channel: AttachChannel | None = None
        self._policy = False
        self._copy: CopiedWorkspace | None = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def _options(self, name: str) -> _podspec.PodOptions:
        return _podspec.PodOptions(
            name=name,
            image=self.image,
            command=["python3", "-u", "-c", _BOOT, self.workdir],
            uid=self.uid,
            gid=self.gid,
            version=package_version(),
            memory=str(self.memory),
            cpus=self.cpus,
            ephemeral_storage=str(self.ephemeral_storage),
            active_deadline=self.active_deadline,
            image_pull_policy=self.image_pull_policy,
            runtime_class=self.runtime_class,
            cap_add=self.cap_add,
            env=self.env,
            labels=self.labels,
            workdir=self.workdir,
        )

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
        configuration = await self._call(load_configuration, self.kubeconfig, self.context)
        self._cluster = cluster = Cluster(configuration)
        if self.namespace is None:
            self.namespace = await self._call(context_namespace, self.kubeconfig, self.context)
        namespace = self.namespace
        name = self.pod_name = f"sandloop-{secrets.token_hex(6)}"
        options = self._options(name)
        if not self.network:
            self._policy = True  # set first: a cancelled create is deleted too
            await self._call(cluster.create_policy, namespace, _podspec.network_policy(options))
        await self._call(cluster.create_pod, namespace, _podspec.pod(options))
        await anyio.to_thread.run_sync(
            cluster.wait_running, namespace, name, self.create_timeout, abandon_on_cancel=True
        )
        self._channel = await connect_attach(
            configuration, namespace, name, _podspec.CONTAINER, timeout=self.start_timeout
        )
        source = RUNNER_PATH.read_bytes()
        await self._channel.send(struct.pack(">I", len(source)) + source)
        client = RunnerClient(self._channel, diagnose=self._diagnose)
        await client.handshake(timeout=self.start_timeout)
        self._client = client
        if self.workspace is not None:
            self._copy = CopiedWorkspace(self, self.workspace, self.copy_limits)
            await self._copy.copy_in(self.uid, self.gid)

    def _diagnose(self) -> str:
        said = self._channel.stderr_tail.strip() if self._channel is not None else ""
        where = f"pod {self.namespace}/{self.pod_name}"
        return f"{where} stopped" + (f"; the runner said: {said[-500:]}" if said else "")

    async def aclose(self) -> None:
        """Close the channel and delete the pod and its policy, whatever fails first.

        Raises:
            SandboxError: After every step has run, when one failed (the pod's name is in the
                message: ``sandloop sandboxes prune --kubeconfig ...`` removes it).
        """
        client, self._client = self._client, None
        channel, self._channel = self._channel, None
        cluster, self._cluster = self._cluster, None
        name, namespace = self.pod_name, self.namespace
        failures: list[Exception] = []
        with anyio.CancelScope(shield=True):
            if client is not None:
                await _attempt(failures, client.aclose(timeout=1.0))
            if channel is not None:
                await _attempt(failures, channel.aclose())
            if cluster is not None and name is not None and namespace is not None:
                await _attempt(failures, self._call(cluster.delete_pod, namespace, name))
                if self._policy:
                    await _attempt(failures, self._call(cluster.delete_policy, namespace, name))
                await self._call(cluster.close)
        self._policy = False
        if self._copy is not None:
            self._copy.close()
            self._copy = None
        if failures:
            last = failures[-1]
            hint = f" (pod {namespace}/{name}: `sandloop sandboxes prune --kubeconfig ...`)"
            raise SandboxError(f"closing the sandbox failed: {last}{hint}") from last

    # --- copy mode -----------------------------------------------------------------------

    def _copied(self, what: str) -> CopiedWorkspace:
        if self._copy is None:
            raise ConfigError(f"{what} needs a started KubernetesSandbox with a workspace")
        return self._copy

    async def diff(self, *, exclude: Sequence[str] = _copy.DEFAULT_DIFF_EXCLUDE) -> str:
        """The edits made in the pod, as a git-style unified diff (see ``DockerSandbox``)."""
        return (await self.diff_bytes(exclude=exclude)).decode("utf-8", "replace")

    async def diff_bytes(self, *, exclude: Sequence[str] = _copy.DEFAULT_DIFF_EXCLUDE) -> bytes:
        """The edits made in the pod, as the exact bytes of a git-style patch."""
        return await self._copied("diff()").diff_bytes(exclude)

    async def set_baseline(self) -> None:
        """From now on, :meth:`diff` compares against the workspace as it is now."""
        await self._copied("set_baseline()").set_baseline()

    async def changes(self) -> WorkspaceChanges | None:
        """The copy's edits so far; ``None`` without a workspace."""
        if self._copy is None:
            return None
        return WorkspaceChanges.of(await self.diff())

    async def export(self, path: str | os.PathLike[str]) -> None:
        """Write the pod's workspace into ``path`` (a new or empty directory)."""
        await self._copied("export()").export(Path(path))

    # --- description ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "kubernetes", ...}``: every option, the workspace and kubeconfig as given.

        Raises:
            ConfigError: the sandbox was given a ``limiter=`` (a live object of this process).
        """
        if self._limiter is not None:
            raise ConfigError("a KubernetesSandbox built with limiter= cannot be described")
        return {
            "kind": "kubernetes",
            "image": self.image,
            "workspace": self._workspace_given,
            "namespace": self._namespace_option,
            "network": self.network,
            "runtime_class": self.runtime_class,
            "user": self.user,
            "memory": self.memory,
            "cpus": self.cpus,
            "ephemeral_storage": self.ephemeral_storage,
            "active_deadline": self.active_deadline,
            "cap_add": list(self.cap_add),
            "env": dict(self.env),
            "labels": dict(self.labels),
            "image_pull_policy": self.image_pull_policy,
            "create_timeout": self.create_timeout,
            "start_timeout": self.start_timeout,
            "max_file_size": self.copy_limits.max_file_size,
            "max_total_size": self.copy_limits.max_total_size,
            "kubeconfig": self.kubeconfig,
            "context": self.context,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """A new, unstarted ``KubernetesSandbox`` from :meth:`to_dict` output."""
        options = options_of(data, "kubernetes", cls)
        if "limiter" in options:
            raise ConfigError("a 'kubernetes' sandbox description cannot give limiter")
        return build_from(cls, options)

    def __repr__(self) -> str:
        where = f", workspace={str(self.workspace)!r}" if self.workspace else ""
        return f"KubernetesSandbox({self.image!r}{where})"


def _parse_user(user: str) -> tuple[int, int]:
    uid, _, gid = str(user).partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        raise ConfigError(f"user must be 'uid:gid' in numbers (a pod runs as ids), not {user!r}")
    if int(uid) == 0:
        raise ConfigError(
            "a KubernetesSandbox never runs as root (uid 0): the pod has runAsNonRoot"
        )
    return int(uid), int(gid or uid)
