"""The Kubernetes provisioner: one hardened pod running the runner's bootstrap, reached through
the pods ``attach`` websocket.

Part of ``sandboxes.kubernetes``. Start: read the configuration, create the deny-all network
policy (first, so the pod never runs unprotected) and the pod (``_podspec``), wait for it with
its own create deadline (``_api``), and attach (``_attach``); the core then sends the runner down
that channel. Close: delete the pod and the policy (also after a failed or cancelled start).
Copy mode runs its two transfers through the runner (``_workspace``). Blocking client calls run
in worker threads through a capacity limiter.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio

from sandloop.errors import SandboxEngineError, SandboxError, SandboxUnavailableError
from sandloop.sandboxes import _copy
from sandloop.sandboxes.images import package_version
from sandloop.sandboxes.kubernetes import _podspec, _workspace
from sandloop.sandboxes.kubernetes._api import Cluster, context_namespace, load_configuration
from sandloop.sandboxes.kubernetes._attach import AttachChannel, connect_attach
from sandloop.sandboxes.provisioner import Boot, Capabilities, Channel, Provisioner

__all__ = ("KubernetesProvisioner",)

T = TypeVar("T")


class KubernetesProvisioner(Provisioner):
    """One pod of ``image`` (see ``KubernetesSandbox`` for each option).

    ``bind_exec`` gives it the sandbox's ``exec`` for the copy-mode transfers.
    """

    def __init__(
        self,
        image: str,
        *,
        copy: bool,
        namespace: str | None,
        network: bool,
        runtime_class: str | None,
        uid: int,
        gid: int,
        memory: str,
        cpus: float,
        ephemeral_storage: str,
        active_deadline: int,
        cap_add: Sequence[str],
        env: Mapping[str, str],
        labels: Mapping[str, str],
        image_pull_policy: str,
        create_timeout: float,
        attach_timeout: float,
        kubeconfig: str | None,
        context: str | None,
        limiter: anyio.CapacityLimiter | None,
    ) -> None:
        self.image, self.copy, self.namespace, self.network = image, copy, namespace, network
        self.runtime_class, self.uid, self.gid = runtime_class, uid, gid
        self.memory, self.cpus, self.ephemeral_storage = memory, cpus, ephemeral_storage
        self.active_deadline, self.cap_add = active_deadline, tuple(cap_add)
        self.env, self.labels = dict(env), dict(labels)
        self.image_pull_policy = image_pull_policy
        self.create_timeout, self.attach_timeout = create_timeout, attach_timeout
        self.kubeconfig, self.context = kubeconfig, context
        self.pod_name: str | None = None
        self._limiter = limiter
        self._cluster: Cluster | None = None
        self._channel: AttachChannel | None = None
        # What may exist: "maybe" from the moment its create is sent, "made" once answered.
        self._made: dict[str, str] = {}
        self._exec: _workspace.Exec | None = None

    def bind_exec(self, run: _workspace.Exec) -> None:
        """The sandbox's ``exec``, which carries the copy-mode transfers."""
        self._exec = run

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(copy_mode=self.copy)

    def pod_options(self, name: str, command: Sequence[str]) -> _podspec.PodOptions:
        """What the pod named ``name`` running ``command`` is made of."""
        return _podspec.PodOptions(
            name=name,
            image=self.image,
            command=command,
            uid=self.uid,
            gid=self.gid,
            version=package_version(),
            memory=self.memory,
            cpus=self.cpus,
            ephemeral_storage=self.ephemeral_storage,
            active_deadline=self.active_deadline,
            image_pull_policy=self.image_pull_policy,
            runtime_class=self.runtime_class,
            cap_add=self.cap_add,
            env=self.env,
            labels=self.labels,
            workdir=self.workdir,
        )

    async def start(self, boot: Boot) -> Channel:
        configuration = await self._call(load_configuration, self.kubeconfig, self.context)
        self._cluster = cluster = Cluster(configuration)
        if self.namespace is None:
            self.namespace = await self._call(context_namespace, self.kubeconfig, self.context)
        namespace = self.namespace
        name = self.pod_name = f"sandloop-{secrets.token_hex(6)}"
        options = self.pod_options(name, boot.argv())
        if not self.network:
            await self._create("policy", cluster.create_policy, _podspec.network_policy(options))
        await self._create("pod", cluster.create_pod, _podspec.pod(options))
        # Abandoned on cancellation: the watch ends by itself within seconds, and aclose()
        # deletes the pod meanwhile.
        await anyio.to_thread.run_sync(
            cluster.wait_running, namespace, name, self.create_timeout, abandon_on_cancel=True
        )
        self._channel = await connect_attach(
            configuration, namespace, name, _podspec.CONTAINER, timeout=self.attach_timeout
        )
        return self._channel

    async def _create(self, what: str, create: Callable[..., None], manifest: Any) -> None:
        self._made[what] = "maybe"  # first: a create cancelled half way is deleted too
        try:
            await self._call(create, self.namespace, manifest)
        except SandboxEngineError:
            del self._made[what]  # the server answered: it made nothing
            raise
        self._made[what] = "made"

    def diagnose(self) -> str:
        said = self._channel.stderr_tail.strip() if self._channel is not None else ""
        where = f"pod {self.namespace}/{self.pod_name}"
        return f"{where} stopped" + (f"; the runner said: {said[-500:]}" if said else "")

    async def aclose(self) -> None:
        """Delete the pod and its policy (the core has closed the channel).

        A create that got no answer is deleted too; when that delete cannot reach the API
        either, it is not raised (the start already failed saying so, and
        ``sandloop sandboxes prune --k8s`` finds the pod if one was made).

        Raises:
            SandboxError: A pod or policy that was made could not be deleted (named, with the
                prune command).
        """
        cluster, self._cluster = self._cluster, None
        self._channel = None
        name, namespace, made = self.pod_name, self.namespace, self._made
        self._made = {}
        if cluster is None:
            return
        failures: list[Exception] = []
        with anyio.CancelScope(shield=True):
            for what in ("pod", "policy"):
                if what not in made or name is None or namespace is None:
                    continue
                delete = cluster.delete_pod if what == "pod" else cluster.delete_policy
                try:
                    await self._call(delete, namespace, name)
                except SandboxUnavailableError as exc:
                    if made[what] == "made":
                        failures.append(exc)
                except SandboxError as exc:
                    failures.append(exc)
            await self._call(cluster.close)
        if failures:
            raise SandboxError(
                f"{failures[-1]} (pod {namespace}/{name}: `sandloop sandboxes prune --k8s` "
                "deletes what is left)"
            ) from failures[-1]

    async def put_tree(self, tar: IO[bytes]) -> None:
        await _workspace.put_tree(self._started_exec(), self.workdir, tar)

    async def get_tree(self, limits: _copy.CopyLimits) -> IO[bytes]:
        return await _workspace.get_tree(self._started_exec(), self.workdir, limits)

    def _started_exec(self) -> _workspace.Exec:
        if self._exec is None or self._cluster is None:
            raise SandboxError("KubernetesSandbox is not started: use `async with sandbox:`")
        return self._exec

    @property
    def host_workspace(self) -> Path | None:
        return None
